/**
 * Running the sessions of README.md and the docs/ guides as written: each command in bash from the repository root, one after
 * the other, stdout and stderr as one stream (what a user sees), with a per-command time limit;
 * each output compared by shape with the document's (shape.ts).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { ReadmeCommand, ReadmeSession } from './parse';
import { compareShape, GAP, isProgressLine, type ShapeComparison } from './shape';

export const ROOT = join(import.meta.dirname, '..', '..', '..');
/** How an updated transcript shows the clone's own path (absolute paths compare as any path). */
const CLONE = '/path/to/deeppowers';

export interface CommandRun {
  readonly command: ReadmeCommand;
  /** Exit status; null when the command was killed (time limit). */
  readonly code: number | null;
  readonly timedOut: boolean;
  readonly output: string;
  readonly ms: number;
  readonly comparison: ShapeComparison;
  /** Why the command failed (status, time limit or shape), or null. */
  readonly failure: string | null;
}

export interface SessionRun {
  readonly session: ReadmeSession;
  /** The commands run, up to and including the first that failed to run (a wrong transcript does not stop it). */
  readonly runs: readonly CommandRun[];
  readonly ok: boolean;
  /** Every command ran to a result: output, or a one-line refusal (the transcripts may still differ). */
  readonly completed: boolean;
  readonly ms: number;
  /** Set when the session was not run because the session it continues failed. */
  readonly blockedBy?: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly timeoutMs?: number;
}

export function runBash(command: string, cwd: string, timeoutMs: number): Promise<{ code: number | null; timedOut: boolean; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    // `exec 2>&1`: one stream in the order the command wrote it. A group of its own, so a
    // time limit (or a background job the command left) ends everything it started.
    const child = spawn('bash', ['-c', `exec 2>&1\n${command}`], { cwd, detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    let output = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    const endGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group has already exited
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      endGroup();
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      endGroup();
      resolve({ code, timedOut, output, ms: Date.now() - started });
    });
  });
}

/** A documented output that shows an error or a warning documents a command that exits non-zero. */
function expectsFailure(expected: readonly string[]): boolean {
  return expected.some((l) => /(^|: )(error|warning):/.test(l));
}

export async function runSession(session: ReadmeSession, opts: RunOptions = {}): Promise<SessionRun> {
  const cwd = opts.cwd ?? ROOT;
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const started = Date.now();
  const runs: CommandRun[] = [];
  for (const command of session.commands) {
    const r = await runBash(command.command, cwd, timeoutMs);
    const actual = r.output.replace(/\n$/, '').split('\n');
    const comparison = compareShape(command.expected, actual);
    // A refusal (exit status 2 or 3 with an error or warning line) is a result to compare like
    // any other output; a crash, a time limit or a silent non-zero status is not.
    const ran = !r.timedOut && (r.code === 0 || expectsFailure(command.expected) || expectsFailure(actual));
    const failure =
      r.timedOut ? `timed out after ${timeoutMs / 1000} s`
      : !ran ? `exited with status ${r.code}`
      : !comparison.ok ? comparison.message
      : null;
    runs.push({ command, ...r, comparison, failure });
    // A wrong transcript does not stop the session (--update rewrites them all); a failed command does.
    if (!ran) break;
  }
  const completed = runs.length === session.commands.length && runs.every((r) => r.failure === null || r.failure === (r.comparison.ok ? null : r.comparison.message));
  return { session, runs, ok: runs.every((r) => r.failure === null), completed, ms: Date.now() - started };
}

/**
 * Runs the sessions of one document, each at most once; a session that continues the one above it
 * has that one run first (so one session can be run alone).
 */
export function sessionRunner(sessions: readonly ReadmeSession[], opts: RunOptions = {}): (session: ReadmeSession) => Promise<SessionRun> {
  const done = new Map<ReadmeSession, SessionRun>();
  const run = async (session: ReadmeSession): Promise<SessionRun> => {
    const known = done.get(session);
    if (known) return known;
    const index = sessions.indexOf(session);
    if (index < 0) throw new Error(`not a session of this document: ${session.document}, ${session.heading}`);
    let result: SessionRun;
    const above = session.continues ? sessions[index - 1]! : null;
    const aboveRun = above ? await run(above) : null;
    if (aboveRun && !aboveRun.completed) {
      result = { session, runs: [], ok: false, completed: false, ms: 0, blockedBy: `the session it continues (${above!.document} line ${above!.open + 1}) failed` };
    } else {
      result = await runSession(session, opts);
    }
    done.set(session, result);
    return result;
  };
  return run;
}

/** A failed session in a few lines: the command, why, and the real output. */
export function describeFailure(run: SessionRun): string {
  if (run.blockedBy) return run.blockedBy;
  const failed = run.runs.find((r) => r.failure !== null);
  if (!failed) return 'passed';
  const took = run.runs.map((r) => `${(r.ms / 1000).toFixed(1)} s`).join(', ');
  return `$ ${failed.command.command}\n${failed.failure} (${run.session.document} line ${failed.command.line + 1}; commands took ${took}; exit status ${failed.code})\n--- real output ---\n${failed.output}`;
}

/**
 * The document with the transcripts of these runs written in place of the old ones: each command's
 * output becomes the real output without progress lines (they depend on timing). A documented output
 * with a `…` line was cut by hand and is left as it is; its commands are returned so a person
 * can redo the cut.
 */
export function updateTranscripts(markdown: string, runs: readonly SessionRun[]): { markdown: string; leftAsIs: string[] } {
  const lines = markdown.split('\n');
  const leftAsIs: string[] = [];
  const replacements: { from: number; to: number; lines: string[] }[] = [];
  for (const run of runs) {
    const cmds = run.session.commands;
    run.runs.forEach((r, k) => {
      // Only a real transcript replaces one: not a command that timed out or failed unexpectedly.
      if (r.timedOut || (r.code !== 0 && !expectsFailure(r.output.split('\n')))) return;
      const from = r.command.line + r.command.command.split('\n').length;
      const to = k + 1 < cmds.length ? cmds[k + 1]!.line : run.session.close;
      if (r.command.expected.some((l) => l.trim() === GAP)) {
        leftAsIs.push(r.command.command);
        return;
      }
      const trailingBlank = r.command.expected.length - r.command.expected.findLastIndex((l) => l.trim() !== '') - 1;
      const real = r.output.replaceAll(ROOT, CLONE).replace(/\s+$/, '').split('\n').filter((l) => !isProgressLine(l)).map((l) => l.trimEnd());
      replacements.push({ from, to, lines: [...(real.length === 1 && real[0] === '' ? [] : real), ...Array<string>(trailingBlank).fill('')] });
    });
  }
  for (const { from, to, lines: repl } of replacements.sort((x, y) => y.from - x.from)) lines.splice(from, to - from, ...repl);
  return { markdown: lines.join('\n'), leftAsIs };
}
