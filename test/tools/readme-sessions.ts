/**
 * Runs the sessions (fenced blocks of `$ ` commands and their output) of README.md and of every
 * docs/*.md guide, and checks each real output against the document's by shape
 * (test/tools/readme-sessions/shape.ts).
 *
 *   npx tsx test/tools/readme-sessions.ts [--update] [words…]
 *
 * Prints pass/fail per session (and the sessions opted out with `<!-- session: not run (…) -->`);
 * words limit it to sessions whose heading, or whose document's path (README.md,
 * docs/compiling.md), contains one of them. A session that continues the one above it runs
 * after that one, within its document. `--update` writes the real transcripts into each document
 * that had a session run, in place of the old ones. Exit status 1 when a session failed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseSessions } from './readme-sessions/parse';
import { describeFailure, sessionRunner, updateTranscripts, type SessionRun } from './readme-sessions/run';
import { documentName, sessionDocuments } from './readme-section';

const args = process.argv.slice(2);
const update = args.includes('--update');
const words = args.filter((a) => a !== '--update');

const runs: SessionRun[] = [];
for (const file of sessionDocuments()) {
  const name = documentName(file);
  const markdown = readFileSync(file, 'utf8');
  const all = parseSessions(markdown, name);
  const sessions = all.filter((s) => words.length === 0 || words.some((w) => s.heading.includes(w) || name.includes(w)));
  const runSession = sessionRunner(all);
  const here: SessionRun[] = [];
  for (const s of sessions) {
    const where = `${name} line ${s.open + 1}, ${s.heading}`;
    if (s.notRun !== null) {
      console.log(`not run  ${where}: ${s.notRun}`);
      continue;
    }
    const run = await runSession(s);
    here.push(run);
    console.log(`${run.ok ? 'pass' : 'FAIL'}     ${where} (${s.commands.length} command${s.commands.length === 1 ? '' : 's'}, ${(run.ms / 1000).toFixed(1)} s)`);
    if (!run.ok) console.log(describeFailure(run).replace(/^/gm, '    '));
  }
  runs.push(...here);
  if (update && here.length > 0) {
    const { markdown: next, leftAsIs } = updateTranscripts(markdown, here);
    writeFileSync(file, next);
    console.log(`${name}: transcripts rewritten from these runs`);
    for (const c of leftAsIs) console.log(`left as it is (its output has a … cut; redo the cut by hand): $ ${c}`);
  }
}
process.exitCode = runs.every((r) => r.ok) ? 0 : 1;
