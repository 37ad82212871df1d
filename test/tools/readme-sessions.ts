/**
 * Runs the README's sessions (fenced blocks of `$ ` commands and their output) and checks each
 * real output against the README's by shape (test/tools/readme-sessions/shape.ts).
 *
 *   npx tsx test/tools/readme-sessions.ts [--update] [heading words…]
 *
 * Prints pass/fail per session (and the sessions opted out with `<!-- session: not run (…) -->`);
 * words limit it to sessions whose heading contains one of them. `--update` writes the real
 * transcripts into README.md in place of the old ones. Exit status 1 when a session failed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseSessions } from './readme-sessions/parse';
import { describeFailure, sessionRunner, updateTranscripts, type SessionRun } from './readme-sessions/run';
import { README } from './readme-section';

const args = process.argv.slice(2);
const update = args.includes('--update');
const words = args.filter((a) => a !== '--update');

const markdown = readFileSync(README, 'utf8');
const all = parseSessions(markdown);
const sessions = all.filter((s) => words.length === 0 || words.some((w) => s.heading.includes(w)));
const runSession = sessionRunner(all);
const runs: SessionRun[] = [];
for (const s of sessions) {
  const where = `README line ${s.open + 1}, ${s.heading}`;
  if (s.notRun !== null) {
    console.log(`not run  ${where}: ${s.notRun}`);
    continue;
  }
  const run = await runSession(s);
  runs.push(run);
  console.log(`${run.ok ? 'pass' : 'FAIL'}     ${where} (${s.commands.length} command${s.commands.length === 1 ? '' : 's'}, ${(run.ms / 1000).toFixed(1)} s)`);
  if (!run.ok) console.log(describeFailure(run).replace(/^/gm, '    '));
}
if (update) {
  const { markdown: next, leftAsIs } = updateTranscripts(markdown, runs);
  writeFileSync(README, next);
  console.log(`README.md: transcripts rewritten from these runs`);
  for (const c of leftAsIs) console.log(`left as it is (its output has a … cut; redo the cut by hand): $ ${c}`);
}
process.exitCode = runs.every((r) => r.ok) ? 0 : 1;
