import { expect, test } from 'vitest';
import type { Circuit, Op } from '../../compiler/circuit/ir';
import { sealOnThreads } from '../../runtime/backends/workers/seal-on-threads';

/**
 * How many threads `predict --threads N` starts: no more than it has evaluations, unless one
 * evaluation's plan spreads over more (then the plan's count), never more than N.
 */
const meta = { level: 4, scale: 2 ** 40, size: 2 as const };
function circuitOf(ops: Op[]): Circuit {
  return { layout: 'vector', slots: 8192, minSlots: 16, samplesPerCiphertext: 1, inputSize: 16, outputSize: 16, inputs: [{ kind: 'replicated', size: 16, period: 16 }], outputs: [{ kind: 'slots', slots: [0], elements: [0] }], ops, constants: [], rotationSteps: [1, 2, 3, 4], depth: 0, topLevel: 4, primes: null };
}
// Four independent rotations of the input, summed: worth 2 threads. A chain of four: worth 1.
const wide = circuitOf([
  { op: 'input', input: 0, ...meta },
  ...[1, 2, 3, 4].map((k): Op => ({ op: 'rotate', a: 0, k, ...meta })),
  { op: 'add', a: 1, b: 2, ...meta },
  { op: 'add', a: 3, b: 4, ...meta },
  { op: 'add', a: 5, b: 6, ...meta },
  { op: 'output', a: 7, output: 0, ...meta },
]);
const chain = circuitOf([{ op: 'input', input: 0, ...meta }, ...[0, 1, 2, 3].map((a): Op => ({ op: 'rotate', a, k: 1, ...meta })), { op: 'output', a: 4, output: 0, ...meta }]);

test('one evaluation whose plan splits gets the threads; one that does not, or no circuit, gets one', () => {
  expect(sealOnThreads(2, 1, [wide]).concurrency).toBe(2);
  expect(sealOnThreads(4, 1, [wide]).concurrency).toBe(4);
  expect(sealOnThreads(2, 1, [chain]).concurrency).toBe(1);
  expect(sealOnThreads(2, 1).concurrency).toBe(1);
  expect(sealOnThreads(2, 5, [chain]).concurrency).toBe(2);
  expect(sealOnThreads(1, 1, [wide]).concurrency).toBe(1);
});
