import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { StagedProgress } from '../../runtime/mcp/staged-progress';

/**
 * private_predict's progress: steps announced as they start, then evaluations after them, and
 * while nothing happens a heartbeat halfway to the next count. Fake timers: no waiting.
 */

beforeEach(() => void vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] }));
afterEach(() => void vi.useRealTimers());

test('steps count 1, 2, …; evaluations follow them; repeats are dropped; heartbeats stay below the next count', async () => {
  const sent: [number, number | undefined, string][] = [];
  const p = new StagedProgress(async (progress, total, message) => void sent.push([progress, total, message]), 1000);
  await p.stage('making the secret key');
  await vi.advanceTimersByTimeAsync(999);
  expect(sent).toEqual([[1, undefined, 'making the secret key']]);
  await vi.advanceTimersByTimeAsync(2001);
  // Quiet for 1 s, then again: halfway to 2, then halfway again.
  expect(sent.slice(1)).toEqual([
    [1.5, undefined, 'making the secret key (still working, 1 s since the last news)'],
    [1.75, undefined, 'making the secret key (still working, 2 s since the last news)'],
    [1.875, undefined, 'making the secret key (still working, 3 s since the last news)'],
  ]);
  await p.stage('encrypting 2 rows');
  p.evaluations(0, 2, '0 of 2');
  p.evaluations(1, 2, '1 of 2');
  await vi.advanceTimersByTimeAsync(1000);
  p.evaluations(2, 2, '2 of 2');
  p.stop();
  await vi.advanceTimersByTimeAsync(5000);
  expect(sent.slice(4)).toEqual([
    [2, undefined, 'encrypting 2 rows'],
    [3, 4, '1 of 2'],
    [3.5, 4, '1 of 2 (still working, 1 s since the last news)'],
    [4, 4, '2 of 2'],
  ]);
  const values = sent.map(([v]) => v);
  expect(values).toEqual([...values].sort((a, b) => a - b));
});
