/**
 * The progress display on a fake stream and a fake clock: a bar redrawn in place on a terminal,
 * plain lines at most every interval otherwise, nothing under --quiet.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { setQuiet, startProgress, startSteps } from '../../runtime/cli/progress';

function fake(isTTY: boolean) {
  const writes: string[] = [];
  let t = 1000;
  return { writes, stream: { isTTY, write: (s: string) => writes.push(s) }, now: () => t, tick: (ms: number) => (t += ms) };
}

/** What a compile-step display writes going through `steps` (each a name and the ms since the one before) and ending. */
function stepWrites(isTTY: boolean, steps: readonly (readonly [name: string, afterMs: number])[], lineIntervalMs?: number): string[] {
  const f = fake(isTTY);
  const s = startSteps('compiling', { stream: f.stream, now: f.now, lineIntervalMs });
  for (const [name, afterMs] of steps) {
    f.tick(afterMs);
    s.step(name);
  }
  s.done();
  return f.writes;
}

afterEach(() => setQuiet(false));

describe('progress on a terminal', () => {
  it('redraws one line in place with a bar, count, percent and time, and ends with a newline', () => {
    const f = fake(true);
    const p = startProgress('keygen', 4, { stream: f.stream, now: f.now });
    f.tick(500);
    p.update(1);
    f.tick(500);
    p.update(2);
    p.finish();
    // 0 drawn at start, 1 and 2 half a second apart, the final 4/4, then the newline.
    expect(f.writes).toEqual([
      '\rkeygen [------------------------] 0/4 0% 0.0s\x1b[K',
      '\rkeygen [######------------------] 1/4 25% 0.5s\x1b[K',
      '\rkeygen [############------------] 2/4 50% 1.0s\x1b[K',
      '\rkeygen [########################] 4/4 100% 1.0s\x1b[K',
      '\n',
    ]);
    expect(f.writes.join('')).not.toMatch(/\n(?!$)/);
  });

  it('skips redraws closer than 100 ms, and finish is idempotent', () => {
    const f = fake(true);
    const p = startProgress('rows', 100, { stream: f.stream, now: f.now });
    p.update(1);
    for (let i = 2; i < 50; i++) {
      f.tick(1);
      p.update(i);
    }
    expect(f.writes).toHaveLength(2); // start, first update; 48 updates within 48 ms drew nothing
    p.finish();
    p.finish();
    p.update(99);
    expect(f.writes).toHaveLength(4);
  });

  it('shows compile steps on one line and clears it when done', () => {
    const writes = stepWrites(true, [['import', 0], ['parameters', 1500]]);
    expect(writes).toEqual(['\rcompiling: import (0.0s)\x1b[K', '\rcompiling: parameters (1.5s)\x1b[K', '\r\x1b[K']);
  });
});

describe('progress off a terminal', () => {
  it('writes plain lines: the start, at most one per interval, the end; no carriage returns', () => {
    const f = fake(false);
    const p = startProgress('encrypted evaluations', 10, { stream: f.stream, now: f.now, lineIntervalMs: 1000 });
    for (let i = 1; i < 10; i++) {
      f.tick(400);
      p.update(i);
    }
    p.finish();
    // 400 ms per step: lines at 1200 ms (3 done) and 2400 ms (6 done); step 9 at 3600 ms is due too.
    expect(f.writes).toEqual([
      'encrypted evaluations: 0/10 (0%) 0.0s\n',
      'encrypted evaluations: 3/10 (30%) 1.2s\n',
      'encrypted evaluations: 6/10 (60%) 2.4s\n',
      'encrypted evaluations: 9/10 (90%) 3.6s\n',
      'encrypted evaluations: 10/10 (100%) 3.6s\n',
    ]);
  });

  it('writes a compile step line only once the interval has passed, and then a closing line', () => {
    const quick = stepWrites(false, [['import', 0], ['passes', 300]], 1000);
    expect(quick).toEqual([]);
    const slow = stepWrites(false, [['import', 0], ['approximations', 1200], ['parameters', 300], ['artifact', 900]], 1000);
    expect(slow).toEqual(['compiling: approximations (1.2s)\n', 'compiling: artifact (2.4s)\n', 'compiling: done in 2.4s\n']);
  });
});

describe('--quiet', () => {
  it('writes nothing on either kind of stream', () => {
    setQuiet(true);
    for (const tty of [true, false]) {
      const f = fake(tty);
      const p = startProgress('keygen', 2, { stream: f.stream, now: f.now });
      p.update(1);
      p.finish();
      const s = startSteps('compiling', { stream: f.stream, now: f.now });
      s.step('import');
      s.done();
      expect(f.writes).toEqual([]);
    }
  });
});
