import { tmpdir } from 'node:os';
import { expect, test } from 'vitest';
import { parseSessions } from '../tools/readme-sessions/parse';
import { runSession, sessionRunner, updateTranscripts } from '../tools/readme-sessions/run';

// Sessions of plain shell commands, run the way README sessions are (bash, one stream).
const opts = { cwd: tmpdir(), timeoutMs: 10_000 };

const md = [
  '## A',
  '```',
  '$ echo "made 3 files in 12 ms"',
  'made 5 files in 7 ms',
  '$ echo out; echo err >&2',
  'out',
  'err',
  '```',
  '<!-- session: continues the one above -->',
  '```',
  "$ echo 'deeppowers: error: rows.json: row 3 has 29 values'; exit 2",
  'deeppowers: error: rows.json: row 7 has 2 values',
  '```',
  '## B',
  '```',
  '$ echo hello',
  'goodbye',
  '$ exit 1',
  '$ echo never',
  'never',
  '```',
  '<!-- session: continues the one above -->',
  '```',
  '$ echo after',
  'after',
  '```',
].join('\n');
const sessions = parseSessions(md);

test('a session passes when every output has its transcript\'s shape (stderr included, in order)', async () => {
  const r = await runSession(sessions[0]!, opts);
  expect(r.runs.map((c) => c.failure)).toEqual([null, null]);
  expect(r.ok).toBe(true);
});

test('a refusal the transcript shows (an error line, a non-zero status) passes', async () => {
  const r = await runSession(sessions[1]!, opts);
  expect(r.ok).toBe(true);
  expect(r.runs[0]!.code).toBe(2);
});

test('a changed message fails but the session goes on; a silent non-zero status stops it', async () => {
  const r = await runSession(sessions[2]!, opts);
  expect(r.ok).toBe(false);
  expect(r.completed).toBe(false);
  expect(r.runs.map((c) => c.failure)).toEqual(['transcript line "goodbye" does not match the real line "hello"', 'exited with status 1']);
});

test('a session that continues a failed one is not run, and says why', async () => {
  const run = sessionRunner(sessions, opts);
  const r = await run(sessions[3]!);
  expect(r.ok).toBe(false);
  expect(r.runs).toEqual([]);
  expect(r.blockedBy).toMatch(/the session it continues \(README\.md line 15\) failed/);
});

test('updateTranscripts writes the real outputs in place of the old ones', async () => {
  const runs = [await runSession(sessions[0]!, opts)];
  const { markdown } = updateTranscripts(md, runs);
  expect(markdown.split('\n').slice(0, 8)).toEqual(['## A', '```', '$ echo "made 3 files in 12 ms"', 'made 3 files in 12 ms', '$ echo out; echo err >&2', 'out', 'err', '```']);
  expect(markdown.split('\n').slice(8)).toEqual(md.split('\n').slice(8));
});

test('a command that runs past its limit is stopped and fails', async () => {
  const [s] = parseSessions('```\n$ sleep 5\n```');
  const r = await runSession(s!, { cwd: tmpdir(), timeoutMs: 300 });
  expect(r.runs[0]!.timedOut).toBe(true);
  expect(r.runs[0]!.failure).toBe('timed out after 0.3 s');
});
