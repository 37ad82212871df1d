/**
 * The quantization grid on one weight tensor: per-channel and per-tensor steps, the error bound,
 * idempotence, symmetry, sparsity and refusals. Matrices here are [channels × weights per channel]
 * (the layout of a Gemm with transB = 1); quantize-weights.test.ts covers the other layouts.
 */
import { describe, expect, it } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import type { AffineStage } from '../../compiler/chain/stages';
import { quantizeValues, type QuantizeOptions } from '../../compiler/quantize/grid';
import { lcg } from '../helpers/random';
import { affineOf } from '../helpers/stages';

function affine(outSize: number, inSize: number, seed: number, spread = 1): AffineStage {
  const rand = lcg(seed);
  const weights = Float64Array.from({ length: outSize * inSize }, (_, i) => (rand() * 2 - 1) * spread * (1 + Math.floor(i / inSize)));
  const bias = Float64Array.from({ length: outSize }, () => rand() - 0.5);
  return { kind: 'affine', sources: [`fc${seed}`], inSize, outSize, weights, bias };
}

/** A matrix quantized with its rows as channels, in the shape the old chain-level tests used. */
function quantizeRows(stages: readonly AffineStage[], options: QuantizeOptions) {
  const results = stages.map((s) => quantizeValues(s.weights, { channels: s.outSize, inner: s.inSize }, options, s.sources.join(', ')));
  return {
    stages: stages.map((s, k) => ({ ...s, weights: results[k]!.values })),
    summary: { stages: results.map((r, k) => ({ ...r, bits: options.bits, zeroFraction: r.zeros / stages[k]!.weights.length })) },
  };
}

function rowMax(stage: AffineStage, row: number): number {
  let m = 0;
  for (let j = 0; j < stage.inSize; j++) m = Math.max(m, Math.abs(stage.weights[row * stage.inSize + j]!));
  return m;
}

describe('quantizeValues', () => {
  it('keeps every weight within half a step of its row grid, on that grid', () => {
    for (const bits of [2, 3, 4, 8, 12, 16]) {
      const stage = affine(6, 10, bits);
      const { stages, summary } = quantizeRows([stage], { bits, perChannel: true });
      const q = stages[0]!;
      const levels = 2 ** (bits - 1) - 1;
      let worst = 0;
      for (let r = 0; r < stage.outSize; r++) {
        const step = rowMax(stage, r) / levels;
        for (let j = 0; j < stage.inSize; j++) {
          const i = r * stage.inSize + j;
          const err = Math.abs(stage.weights[i]! - q.weights[i]!);
          expect(err).toBeLessThanOrEqual((step / 2) * (1 + 1e-12));
          const k = q.weights[i]! / step;
          expect(Math.abs(k - Math.round(k))).toBeLessThan(1e-9);
          expect(Math.abs(Math.round(k))).toBeLessThanOrEqual(levels);
          worst = Math.max(worst, err);
        }
      }
      expect(summary.stages[0]!.maxAbsError).toBe(worst);
      expect(summary.stages[0]!.bits).toBe(bits);
    }
  });

  it('uses 2^(bits-1) - 1 levels per row: a 2-bit row has only -s, 0, s', () => {
    const stage: AffineStage = { kind: 'affine', sources: ['w'], inSize: 4, outSize: 1, weights: Float64Array.of(1, 0.4, -0.6, -1), bias: Float64Array.of(0) };
    const q = quantizeRows([stage], { bits: 2, perChannel: true }).stages[0]!;
    expect([...q.weights]).toEqual([1, 0, -1, -1]);
    const q3 = quantizeRows([stage], { bits: 3, perChannel: true }).stages[0]!;
    // 3 bits: step 1/3, so 0.4 → 1/3 and -0.6 → -2/3
    expect(q3.weights[1]).toBeCloseTo(1 / 3, 15);
    expect(q3.weights[2]).toBeCloseTo(-2 / 3, 15);
  });

  it('is exactly idempotent', () => {
    for (const bits of [2, 5, 8, 11, 16]) {
      for (const perChannel of [true, false]) {
        for (let seed = 0; seed < 20; seed++) {
          const stage = affine(7, 9, 100 * bits + seed, 10 ** (seed / 2 - 5));
          const once = quantizeRows([stage], { bits, perChannel });
          const twice = quantizeRows(once.stages, { bits, perChannel });
          expect(twice.stages[0]!.weights).toEqual(once.stages[0]!.weights);
          expect(twice.summary.stages[0]!.maxAbsError).toBe(0);
        }
      }
    }
  });

  it('per-tensor uses one step for the whole matrix, so small rows lose more and zero out', () => {
    // Row 0 is tiny next to row 1: one matrix-wide 4-bit step (2/7) rounds row 0 to zero.
    const stage = affineOf([0.01, -0.02, 0.03, 2, -1, 0.5], [1, 2]);
    const tensor = quantizeRows([stage], { bits: 4, perChannel: false });
    const channel = quantizeRows([stage], { bits: 4, perChannel: true });
    const qt = tensor.stages[0]!.weights;
    expect([...qt.subarray(0, 3)]).toEqual([0, 0, 0]);
    expect(tensor.summary.stages[0]!.zeroFraction).toBe(3 / 6);
    expect(tensor.summary.stages[0]!.maxScale).toBeCloseTo(2 / 7, 15);
    for (const w of qt) expect(Math.abs(Math.round(w / (2 / 7)) - w / (2 / 7))).toBeLessThan(1e-9);
    expect(channel.stages[0]!.weights[2]).toBeCloseTo(0.03, 15);
    expect(channel.summary.stages[0]!.zeroFraction).toBe(0);
    const qc = channel.stages[0]!.weights;
    const rowError = (w: Float64Array): number => Math.max(...[0, 1, 2].map((j) => Math.abs(w[j]! - stage.weights[j]!)));
    expect(rowError(qc)).toBeLessThan(rowError(qt) / 10);
  });

  it('is symmetric: negated weights quantize to the negated grid values, ties away from zero', () => {
    const stage = affineOf([2, -1, 1], [0]);
    const negated = { ...stage, weights: stage.weights.map((w) => -w) };
    const q = quantizeRows([stage], { bits: 4, perChannel: true }).stages[0]!.weights;
    const qn = quantizeRows([negated], { bits: 4, perChannel: true }).stages[0]!.weights;
    expect([...qn]).toEqual([...q].map((w) => -w));
    // step 2/7: ±1 is ±3.5 steps, rounded away from zero to ±4 steps
    expect(q[1]).toBe(-4 * (2 / 7));
    expect(q[2]).toBe(4 * (2 / 7));
  });

  it('reports sparsity and keeps all-zero rows zero', () => {
    const stage = affineOf([0, 0, 0, 0, 1, 0.01, -0.01, 0.5], [0, 0]);
    const { stages, summary } = quantizeRows([stage], { bits: 4, perChannel: true });
    const q = stages[0]!;
    expect([...q.weights]).toEqual([0, 0, 0, 0, 1, 0, 0, 4 / 7]);
    expect(Object.is(q.weights[5], -0) || Object.is(q.weights[6], -0)).toBe(false);
    expect(summary.stages[0]!.zeroFraction).toBe(6 / 8);
    expect(stage.weights[5]).toBe(0.01); // input not mutated
  });

  it('refuses bit widths outside 2..16 and non-integers with BAD_ARGUMENT', () => {
    for (const bits of [0, 1, 17, 32, 2.5, Number.NaN]) {
      let caught: unknown;
      try {
        quantizeRows([affine(2, 2, 1)], { bits, perChannel: true });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(DeepPowersError);
      expect((caught as DeepPowersError).code).toBe('BAD_ARGUMENT');
      expect((caught as DeepPowersError).message).toMatch(/n-bits must be an integer in \[2, 16\]/);
    }
  });

  it('refuses non-finite weights naming the stage and position', () => {
    const stage = affine(2, 3, 9);
    const weights = Float64Array.from(stage.weights);
    weights[4] = Number.NaN;
    expect(() => quantizeRows([{ ...stage, weights }], { bits: 8, perChannel: true })).toThrow(/fc9: weight 4 is NaN/);
  });
});
