import { describe, expect, test } from 'vitest';
import { costMicros, costsFor, countOps, estimateLatency } from '../../compiler/circuit/count';
import { operandsOf, type Circuit, type Op } from '../../compiler/circuit/ir';
import { MIN_GAIN, planParallel, RECEIVE_ADDS, receiversOf } from '../../compiler/circuit/parallel-time';
import { compiledFixture } from '../helpers/compiled-fixture';
import { loadFixture } from '../helpers/fixtures';

/**
 * The plan of one evaluation over threads: a valid schedule (every op once, operands first, the
 * outputs on the thread that holds the request), a time that one thread reproduces from the
 * serial estimate, independent rotations spread over the threads, and a chain left whole.
 */
const N = 16384;
const meta = (level: number) => ({ level, scale: 2 ** 40, size: 2 as const });

function circuitOf(ops: Op[]): Circuit {
  return {
    layout: 'vector',
    slots: N / 2,
    minSlots: 16,
    samplesPerCiphertext: 1,
    inputSize: 16,
    outputSize: 16,
    inputs: [{ kind: 'replicated', size: 16, period: 16 }],
    outputs: [{ kind: 'slots', slots: [0], elements: [0] }],
    ops,
    constants: [],
    rotationSteps: [...new Set(ops.flatMap((op) => (op.op === 'rotate' ? [op.k] : [])))].sort((a, b) => a - b),
    depth: 0,
    topLevel: 4,
    primes: null,
  };
}

/** x, its rotations by 1…k, summed pairwise, output: k independent rotations. */
function wide(k: number): Circuit {
  const ops: Op[] = [{ op: 'input', input: 0, ...meta(4) }];
  let values = Array.from({ length: k }, (_, j) => ops.push({ op: 'rotate', a: 0, k: j + 1, ...meta(4) }) - 1);
  while (values.length > 1) {
    const next: number[] = [];
    for (let j = 0; j + 1 < values.length; j += 2) next.push(ops.push({ op: 'add', a: values[j]!, b: values[j + 1]!, ...meta(4) }) - 1);
    if (values.length % 2) next.push(values.at(-1)!);
    values = next;
  }
  ops.push({ op: 'output', a: values[0]!, output: 0, ...meta(4) });
  return circuitOf(ops);
}

/** x rotated k times in a row: nothing to run side by side. */
function chain(k: number): Circuit {
  const ops: Op[] = [{ op: 'input', input: 0, ...meta(4) }];
  for (let j = 0; j < k; j++) ops.push({ op: 'rotate', a: j, k: 1, ...meta(4) });
  ops.push({ op: 'output', a: k, output: 0, ...meta(4) });
  return circuitOf(ops);
}

function expectValidPlan(circuit: Circuit, threads: number): void {
  const plan = planParallel(circuit, threads);
  const { order, threadOf } = plan;
  expect([...order].sort((a, b) => a - b)).toEqual([...circuit.ops.keys()]);
  const position = new Int32Array(order.length);
  order.forEach((i, k) => (position[i] = k));
  circuit.ops.forEach((op, i) => {
    for (const v of operandsOf(op)) expect(position[v], `op ${i} reads ${v}`).toBeLessThan(position[i]!);
    if (op.op === 'input') expect(threadOf[i]).toBe(-1);
    else if (op.op === 'output') expect(threadOf[i]).toBe(0);
    else {
      expect(threadOf[i]).toBeGreaterThanOrEqual(0);
      expect(threadOf[i]).toBeLessThan(threads);
    }
  });
  expect(new Set([...threadOf].filter((t) => t >= 0)).size).toBe(plan.threads);
  // Receivers: exactly the other threads with a reader, never an input (each thread loads its own).
  receiversOf(circuit, threadOf).forEach((to, v) => {
    const readers = new Set(circuit.ops.flatMap((op, i) => (operandsOf(op).includes(v) && threadOf[i] !== threadOf[v] ? [threadOf[i]!] : [])));
    expect(to, `value ${v}`).toEqual(threadOf[v] === -1 ? [] : [...readers].sort((a, b) => a - b));
  });
}

describe('planParallel', () => {
  test('one thread: the serial estimate (count.ts) plus loading the inputs', () => {
    const circuit = wide(8);
    const plan = planParallel(circuit, 1);
    const costs = costsFor(N);
    const load = RECEIVE_ADDS * costMicros('add', 4, costs);
    expect(plan.threads).toBe(1);
    expect(plan.parallelMs).toBe(plan.serialMs);
    expect(plan.serialMs).toBeCloseTo(estimateLatency(countOps(circuit), N, costs).serverMs + load / 1000, 9);
  });

  test('8 independent rotations: spread over the threads, about 1/threads of the time', () => {
    const rotation = costMicros('rotate', 4, costsFor(N)) / 1000;
    for (const threads of [2, 4, 8]) {
      const plan = planParallel(wide(8), threads);
      expect(plan.threads).toBe(threads);
      // The rotations alone take 8/threads rotation times on the busiest thread; the sum's adds
      // and the transfers between threads cost a little more, so the speed-up is a little under `threads`.
      expect(plan.parallelMs).toBeGreaterThanOrEqual((8 / threads) * rotation);
      expect(plan.serialMs / plan.parallelMs).toBeGreaterThan(0.7 * threads);
      expect(plan.serialMs / plan.parallelMs).toBeLessThan(threads);
      expectValidPlan(wide(8), threads);
    }
  });

  test('a chain of rotations stays on one thread', () => {
    const plan = planParallel(chain(8), 4);
    expect(plan.threads).toBe(1);
    expect([...plan.threadOf]).toEqual([-1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  test('a plan that would save less than MIN_GAIN runs on one thread', () => {
    // Two rotations, then a long chain: a second thread saves one rotation of ten.
    const c = chain(10);
    const ops = [...c.ops.slice(0, -1), { op: 'rotate', a: 0, k: 2, ...meta(4) } as Op];
    ops.push({ op: 'add', a: 10, b: 11, ...meta(4) }, { op: 'output', a: 12, output: 0, ...meta(4) });
    const plan = planParallel(circuitOf(ops), 2);
    expect(1 / 11).toBeLessThan(MIN_GAIN);
    expect(plan.threads).toBe(1);
  });

  test('real fixtures: valid plans, and the digits MLP is predicted ≥ 1.4× faster on 2 threads', () => {
    const mlp = compiledFixture(loadFixture('sk_mlp_digits_relu'), { layout: 'vector' }).circuit;
    for (const threads of [2, 3, 16]) expectValidPlan(mlp, threads);
    const plan = planParallel(mlp, 2);
    expect(plan.serialMs / plan.parallelMs).toBeGreaterThanOrEqual(1.4);
    expect(planParallel(mlp, 16).parallelMs).toBeLessThan(plan.parallelMs);
  });

  test('threads must be a positive integer', () => {
    expect(() => planParallel(wide(2), 0)).toThrow(/threads must be a positive integer/);
  });
});
