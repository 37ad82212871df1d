import { describe, expect, it } from 'vitest';
import type { Circuit, Op } from '../../compiler/circuit/ir';
import { lowerChain } from '../../compiler/circuit/lower';
import { packSamples, unpackOutputs } from '../../compiler/circuit/packing';
import { assignScales } from '../../compiler/circuit/passes-scales';
import type { ApproxStage } from '../../compiler/chain/stages';
import { nttPrimes } from '../../compiler/params/primes';
import { simulateCircuit, simulateSamples } from '../../runtime/backends/simulate';

/** input → rotate(k) → output, at one level with no scales: the smallest circuit that rotates. */
function rotation(slots: number, k: number): Circuit {
  const meta = { level: 0, scale: 0, size: 2 as const };
  const ops: Op[] = [
    { op: 'input', input: 0, ...meta },
    { op: 'rotate', a: 0, k, ...meta },
    { op: 'output', a: 1, output: 0, ...meta },
  ];
  return {
    layout: 'vector',
    slots,
    minSlots: slots,
    samplesPerCiphertext: 1,
    inputSize: slots,
    outputSize: slots,
    inputs: [{ kind: 'replicated', size: slots, period: slots }],
    outputs: [{ kind: 'slots', slots: [...Array(slots).keys()], elements: [...Array(slots).keys()] }],
    ops,
    constants: [],
    rotationSteps: [k],
    depth: 0,
    topLevel: 0,
    primes: null,
  };
}

const mlp: ApproxStage[] = [
  { kind: 'affine', sources: ['fc1'], inSize: 6, outSize: 8, weights: Float64Array.from({ length: 48 }, (_, k) => Math.sin(k) / 6), bias: new Float64Array(8).fill(0.05) },
  { kind: 'poly', sources: ['act'], fn: 'sigmoid', size: 8, range: [-1, 1], method: 'chebyshev', chebyshev: Float64Array.from([0.5, 0.6, 0, -0.1]), degree: 3, maxError: 0 },
  { kind: 'affine', sources: ['fc2'], inSize: 8, outSize: 3, weights: Float64Array.from({ length: 24 }, (_, k) => Math.cos(k) / 8), bias: new Float64Array(3) },
];

describe('simulation backend', () => {
  it('rotates left and cyclically over all N/2 slots, as SEAL rotate_vector does', () => {
    const slots = 8;
    const x = Float64Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...simulateCircuit(rotation(slots, 3), [x])[0]!]).toEqual([3, 4, 5, 6, 7, 0, 1, 2]);
    expect([...simulateCircuit(rotation(slots, 7), [x])[0]!]).toEqual([7, 0, 1, 2, 3, 4, 5, 6]);
  });

  it('packs the vector layout replicated and the batch layout feature-major', () => {
    const vector = lowerChain(mlp, { layout: 'vector', slots: 32 });
    const [group] = packSamples(vector, [Float64Array.from([1, 2, 3, 4, 5, 6])]);
    expect([...group!.inputs[0]!.subarray(0, 16)]).toEqual([1, 2, 3, 4, 5, 6, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0]);
    const batch = lowerChain(mlp, { layout: 'batch', slots: 4 });
    const rows = Array.from({ length: 6 }, (_, r) => Float64Array.from({ length: 6 }, (_, j) => 10 * r + j));
    const groups = packSamples(batch, rows);
    expect(groups.map((g) => g.samples)).toEqual([4, 2]);
    expect(groups[0]!.inputs).toHaveLength(6);
    expect([...groups[0]!.inputs[2]!]).toEqual([2, 12, 22, 32]);
    expect([...groups[1]!.inputs[5]!]).toEqual([45, 55, 0, 0]);
    const outs = batch.outputs.map((_, i) => Float64Array.from([i, 100 + i, 200 + i, 300 + i]));
    expect(unpackOutputs(batch, outs, 2).map((r) => [...r])).toEqual([[0, 1, 2], [100, 101, 102]]);
  });

  it('gives the same predictions in both layouts, over more samples than one batch holds', () => {
    const rows = Array.from({ length: 5 }, (_, r) => Float64Array.from({ length: 6 }, (_, j) => Math.sin(r * 6 + j) / 2));
    const results = (['vector', 'batch'] as const).map((layout) => {
      const lowered = lowerChain(mlp, { layout, slots: 4 * (layout === 'vector' ? 4 : 1) });
      return simulateSamples(assignScales(lowered, nttPrimes(64, 40, lowered.depth).map(Number)), rows);
    });
    expect(results[0]).toHaveLength(5);
    results[0]!.forEach((row, r) => row.forEach((v, i) => expect(Math.abs(v - results[1]![r]![i]!)).toBeLessThan(1e-9)));
  });

  it('adds seeded noise of the expected size when asked', () => {
    const lowered = lowerChain(mlp, { layout: 'vector', slots: 16 });
    const circuit = assignScales(lowered, nttPrimes(8192, 30, lowered.depth).map(Number));
    const rows = [Float64Array.from([0.1, -0.2, 0.3, -0.4, 0.5, -0.6])];
    const clean = simulateSamples(circuit, rows)[0]!;
    const noisy = simulateSamples(circuit, rows, { noise: { ringDegree: 8192, seed: 7 } })[0]!;
    const again = simulateSamples(circuit, rows, { noise: { ringDegree: 8192, seed: 7 } })[0]!;
    expect([...noisy]).toEqual([...again]);
    const err = Math.max(...clean.map((v, i) => Math.abs(v - noisy[i]!)));
    // 30-bit scale at N = 8192: errors around 1e-6, far from both zero and the values themselves.
    expect(err).toBeGreaterThan(1e-9);
    expect(err).toBeLessThan(1e-3);
  });
});
