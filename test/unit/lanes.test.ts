import { describe, expect, test } from 'vitest';
import { inLanes } from '../../runtime/backends/lanes';

/** Tasks that end when the test says so, recording the order they started in. */
function gated() {
  const started: number[] = [];
  const finish = new Map<number, () => void>();
  const task = (i: number) =>
    new Promise<string>((resolve) => {
      started.push(i);
      finish.set(i, () => resolve(`r${i}`));
    });
  return { started, task, finish: (i: number) => finish.get(i)!() };
}
const turn = () => new Promise((r) => setImmediate(r));

/** `inLanes(count, width)` over gated tasks, once its lanes have started their first tasks; `all` is its result. */
async function gatedRun(count: number, width: number) {
  const g = gated();
  const all = inLanes(count, width, g.task);
  await turn();
  return { ...g, all };
}

describe('inLanes', () => {
  test('at most `width` tasks in flight, the next starting as one ends, results in index order', async () => {
    const g = await gatedRun(5, 2);
    expect(g.started).toEqual([0, 1]);
    g.finish(1);
    await turn();
    expect(g.started).toEqual([0, 1, 2]);
    g.finish(2);
    g.finish(0);
    await turn();
    expect(g.started).toEqual([0, 1, 2, 3, 4]);
    g.finish(4);
    g.finish(3);
    expect(await g.all).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
  });

  test('width 1 is the plain loop: each task starts after the one before has ended', async () => {
    const order: string[] = [];
    await inLanes(3, 1, async (i) => {
      order.push(`start ${i}`);
      await turn();
      order.push(`end ${i}`);
    });
    expect(order).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  test('the first failure rejects the run and no lane starts another task', async () => {
    const started: number[] = [];
    const run = inLanes(6, 2, async (i) => {
      started.push(i);
      await turn();
      if (i === 0) throw new Error('task 0 failed');
      await turn();
    });
    await expect(run).rejects.toThrow('task 0 failed');
    await turn();
    await turn();
    expect(started).toEqual([0, 1]);
  });

  test('a width above the task count starts only as many lanes as tasks; no tasks, no calls', async () => {
    const g = await gatedRun(2, 8);
    expect(g.started).toEqual([0, 1]);
    g.finish(0);
    g.finish(1);
    expect(await g.all).toEqual(['r0', 'r1']);
    expect(await inLanes(0, 4, () => Promise.reject(new Error('called')))).toEqual([]);
  });
});
