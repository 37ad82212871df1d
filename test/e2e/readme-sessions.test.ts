import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { documentName, sessionDocuments } from '../tools/readme-section';
import { parseSessions, usesBareDeeppowers } from '../tools/readme-sessions/parse';
import { describeFailure, sessionRunner } from '../tools/readme-sessions/run';

/**
 * Every session (a fenced block of `$ ` commands and their output) of README.md and of every
 * docs/*.md guide, run as written from the repository root, its output compared by shape with
 * the document's (test/tools/readme-sessions/shape.ts): a changed message, a missing line or a
 * changed table fails; changed numbers and timings do not. Sessions are named per document; one
 * that continues the one above runs after it, within its document.
 * `npx tsx test/tools/readme-sessions.ts --update` rewrites the transcripts from real runs.
 */

const documents = sessionDocuments().map((file) => ({ name: documentName(file), sessions: parseSessions(readFileSync(file, 'utf8'), documentName(file)) }));

test('the README and the guides have sessions, and every command runs deeppowers through npx', () => {
  expect(documents.find((d) => d.name === 'README.md')!.sessions.length).toBeGreaterThan(0);
  expect(documents.reduce((n, d) => n + d.sessions.length, 0)).toBeGreaterThan(5);
  const bare = documents.flatMap((d) => d.sessions.flatMap((s) => s.commands.filter((c) => usesBareDeeppowers(c.command)).map((c) => `${d.name} line ${c.line + 1}: ${c.command}`)));
  expect(bare, 'a bare `deeppowers` is not on PATH after `npm ci`').toEqual([]);
});

for (const { name: document, sessions } of documents) {
  if (sessions.length === 0) continue;
  describe(`${document} sessions`, () => {
    const run = sessionRunner(sessions, { timeoutMs: 240_000 });
    const seen = new Map<string, number>();
    for (const session of sessions) {
      const n = (seen.get(session.heading) ?? 0) + 1;
      seen.set(session.heading, n);
      const name = `${document}: ${session.heading}${n > 1 ? ` (${n})` : ''}`;
      if (session.notRun !== null) {
        test.skip(`${name} [not run: ${session.notRun}]`, () => {});
        continue;
      }
      test(name, async () => {
        const result = await run(session);
        expect(result.ok, describeFailure(result)).toBe(true);
      }, 600_000);
    }
  });
}
