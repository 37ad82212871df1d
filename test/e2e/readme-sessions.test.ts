import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { README } from '../tools/readme-section';
import { parseSessions, usesBareDeeppowers } from '../tools/readme-sessions/parse';
import { describeFailure, sessionRunner } from '../tools/readme-sessions/run';

/**
 * Every README session (a fenced block of `$ ` commands and their output) run as written from
 * the repository root, its output compared by shape with the README's
 * (test/tools/readme-sessions/shape.ts): a changed message, a missing line or a changed table
 * fails; changed numbers and timings do not. `npx tsx test/tools/readme-sessions.ts --update`
 * rewrites the transcripts from real runs.
 */

const sessions = parseSessions(readFileSync(README, 'utf8'));
const run = sessionRunner(sessions, { timeoutMs: 240_000 });

test('the README has sessions, and every command runs deeppowers through npx', () => {
  expect(sessions.length).toBeGreaterThan(5);
  const bare = sessions.flatMap((s) => s.commands.filter((c) => usesBareDeeppowers(c.command)).map((c) => `README line ${c.line + 1}: ${c.command}`));
  expect(bare, 'a bare `deeppowers` is not on PATH after `npm ci`').toEqual([]);
});

describe('README sessions', () => {
  const seen = new Map<string, number>();
  for (const session of sessions) {
    const n = (seen.get(session.heading) ?? 0) + 1;
    seen.set(session.heading, n);
    const name = `${session.heading}${n > 1 ? ` (${n})` : ''}`;
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
