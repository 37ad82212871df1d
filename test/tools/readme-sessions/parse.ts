/**
 * The sessions of a document (README.md, a docs/ guide): fenced blocks whose command lines start with `$ `, each followed by the
 * output it prints. A session is run as written by test/tools/readme-sessions/run.ts. A visible
 * marker right before its fence changes that: `<!-- session: not run (reason) -->` opts it out,
 * `<!-- session: continues the one above -->` runs it after the session above it, whose files
 * it uses (prose between two halves of one session).
 */

export interface ReadmeCommand {
  /** The command as bash runs it (a `$ ` line, with any ` \` continuation lines). */
  readonly command: string;
  /** The document's output lines for it, up to the next `$ ` line or the end of the block. */
  readonly expected: readonly string[];
  /** 0-based line of the `$ ` line in its document. */
  readonly line: number;
}

export interface ReadmeSession {
  /** The document it is in, as people write it (README.md, docs/compiling.md). */
  readonly document: string;
  /** The heading the block sits under, backticks dropped. */
  readonly heading: string;
  /** 0-based lines of the opening and closing fence. */
  readonly open: number;
  readonly close: number;
  /** The marker's reason when the session is opted out, else null. */
  readonly notRun: string | null;
  /** Whether it continues the session above it (and needs that one run first). */
  readonly continues: boolean;
  readonly commands: readonly ReadmeCommand[];
}

const FENCE = /^```/;
const PROMPT = '$ ';
const NOT_RUN = /^<!-- session: not run \((.+)\) -->$/;
const CONTINUES = '<!-- session: continues the one above -->';

export function parseSessions(markdown: string, document = 'README.md'): ReadmeSession[] {
  const lines = markdown.split('\n');
  const sessions: ReadmeSession[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const h = /^#{1,6} (.+)$/.exec(line);
    if (h) heading = h[1]!.replaceAll('`', '').trim();
    if (!FENCE.test(line)) continue;
    const open = i;
    let close = i + 1;
    while (close < lines.length && !/^```\s*$/.test(lines[close]!)) close++;
    if (close >= lines.length) throw new Error(`${document} line ${open + 1}: a fenced block is never closed`);
    const body = lines.slice(open + 1, close);
    i = close;
    if (!body.some((l) => l.startsWith(PROMPT))) continue;
    const marker = markerBefore(lines, open, document);
    const notRun = marker === null ? null : (NOT_RUN.exec(marker)?.[1] ?? null);
    const continues = marker === CONTINUES;
    if (continues && sessions.length === 0) throw new Error(`${document} line ${open + 1}: a session continues the one above, but there is none in this document`);
    sessions.push({ document, heading, open, close, notRun, continues, commands: commandsOf(body, open + 1, document) });
  }
  return sessions;
}

/** The `<!-- session: … -->` comment on the last non-blank line before a fence, or null. */
function markerBefore(lines: readonly string[], open: number, document: string): string | null {
  let j = open - 1;
  while (j >= 0 && lines[j]!.trim() === '') j--;
  const line = j >= 0 ? lines[j]!.trim() : '';
  if (!line.startsWith('<!-- session:')) return null;
  if (line !== CONTINUES && !NOT_RUN.test(line)) throw new Error(`${document} line ${j + 1}: unknown session marker ${line}`);
  return line;
}

function commandsOf(body: readonly string[], first: number, document: string): ReadmeCommand[] {
  if (!body[0]!.startsWith(PROMPT)) throw new Error(`${document} line ${first + 1}: a session block must start with a \`$ \` command line`);
  const commands: ReadmeCommand[] = [];
  let k = 0;
  while (k < body.length) {
    const line = first + k;
    const parts = [body[k]!.slice(PROMPT.length)];
    while (parts.at(-1)!.endsWith('\\') && k + 1 < body.length) parts.push(body[++k]!);
    k++;
    const expected: string[] = [];
    while (k < body.length && !body[k]!.startsWith(PROMPT)) expected.push(body[k++]!);
    commands.push({ command: parts.join('\n'), expected, line });
  }
  return commands;
}

/** Whether a command runs `deeppowers` without `npx` (it is not on PATH after `npm ci`). */
export function usesBareDeeppowers(command: string): boolean {
  const m = /(^|[\s;&|(])deeppowers\s/.exec(command);
  if (!m) return false;
  if (!/npx\s+$/.test(command.slice(0, m.index + m[1]!.length))) return true;
  return usesBareDeeppowers(command.slice(m.index + m[0].length));
}
