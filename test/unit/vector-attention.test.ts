/**
 * A small attention block (LayerNorm, Q·Kᵀ, Softmax, A·V, a residual sum) lowered in the vector
 * layout: the whole sample — tokens × features — in the slots of one ciphertext, the products'
 * factors picked by matrix-vector products, each row-wise stage's sums one product by a block
 * matrix of ones. The simulated circuit equals the stages computed by hand (test/helpers/stages:
 * affine maps by definition, the row-wise plans in float64) and the exact Softmax/LayerNorm within
 * the plans' error; ranges come from the exact block on the same rows (calibration by hand).
 */
import { describe, expect, it } from 'vitest';
import { lowerChain } from '../../compiler/circuit/lower';
import { checkCircuit } from '../../compiler/circuit/passes-check';
import { assignScales } from '../../compiler/circuit/passes-scales';
import { countOps } from '../../compiler/circuit/count';
import { applyRows, rowStatistic, type RowFunction } from '../../compiler/chain/rowwise';
import type { AffineStage, ApproxStage, ProductStage, RowPolyStage, RowRanges } from '../../compiler/chain/stages';
import type { Layout } from '../../compiler/circuit/ir';
import { nttPrimes } from '../../compiler/params/primes';
import { simulateSamples } from '../../runtime/backends/simulate';
import { lcg } from '../helpers/random';
import { affineByHand, approxChainByHand } from '../helpers/stages';

const T = 3; // tokens
const D = 4; // features

function affine(rows: number, cols: number, seed: number, reads?: number[]): AffineStage {
  const r = lcg(seed);
  const weights = Float64Array.from({ length: rows * cols }, () => (2 * r() - 1) / Math.sqrt(cols));
  const bias = Float64Array.from({ length: rows }, () => 0.1 * (2 * r() - 1));
  return { kind: 'affine', sources: [`fc${seed}`], inSize: cols, outSize: rows, weights, bias, ...(reads ? { reads } : {}) };
}

/** One Linear applied to every token (T×D → T×D): the block-diagonal map I_T ⊗ W. */
function perToken(seed: number, reads?: number[]): AffineStage {
  const w = affine(D, D, seed);
  const weights = new Float64Array(T * D * T * D);
  const bias = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < D; i++) {
      bias[t * D + i] = w.bias[i]!;
      for (let j = 0; j < D; j++) weights[(t * D + i) * T * D + t * D + j] = w.weights[i * D + j]!;
    }
  }
  return { kind: 'affine', sources: [`tok${seed}`], inSize: T * D, outSize: T * D, weights, bias, ...(reads ? { reads } : {}) };
}

/** Sums of consecutive groups of `k` products, times `scale`. */
function groupSums(n: number, k: number, scale: number): AffineStage {
  const weights = new Float64Array((n / k) * n);
  for (let i = 0; i < n; i++) weights[Math.floor(i / k) * n + i] = scale;
  return { kind: 'affine', sources: ['sum'], inSize: n, outSize: n / k, weights, bias: new Float64Array(n / k) };
}

function product(reads: [number, number], factorSizes: [number, number], left: number[], right: number[]): ProductStage {
  return { kind: 'product', sources: ['matmul'], size: left.length, reads, factorSizes, left, right };
}

/**
 * Stages (index: what): 0 embed x → T×D, 1 LayerNorm rows of D, 2 q, 3 k, 4 v (all from 1),
 * 5 q[t,f]·k[s,f] at (t, s, f), 6 scores Σ_f /√D, 7 Softmax rows of T, 8 a[t,s]·v[s,f] at (t, f, s),
 * 9 Σ_s, 10 o-map of it plus the embedding (a residual), 11 a head of 2.
 */
function block(ranges: (fn: RowFunction, k: number) => RowRanges): ApproxStage[] {
  const qk: [number[], number[]] = [[], []];
  for (let t = 0; t < T; t++) for (let s = 0; s < T; s++) for (let f = 0; f < D; f++) qk[0].push(t * D + f), qk[1].push(s * D + f);
  const av: [number[], number[]] = [[], []];
  for (let t = 0; t < T; t++) for (let f = 0; f < D; f++) for (let s = 0; s < T; s++) av[0].push(t * T + s), av[1].push(s * D + f);
  const row = (fn: RowFunction, k: number, size: number, rowLength: number): RowPolyStage => ({ kind: 'rowpoly', sources: [`row${k}`], fn, size, rowLength, ranges: ranges(fn, k) });
  const o = perToken(10);
  // The residual: W_o·a + e, one map of the two concatenated.
  const residual: AffineStage = {
    ...o,
    inSize: 2 * T * D,
    weights: Float64Array.from({ length: T * D * 2 * T * D }, (_, k) => {
      const [i, j] = [Math.floor(k / (2 * T * D)), k % (2 * T * D)];
      return j < T * D ? o.weights[i * T * D + j]! : j - T * D === i ? 1 : 0;
    }),
    reads: [9, 0],
  };
  return [
    affine(T * D, 6, 1),
    row({ kind: 'layernorm', epsilon: 1e-5 }, 1, T * D, D),
    perToken(2, [1]),
    perToken(3, [1]),
    perToken(4, [1]),
    product([2, 3], [T * D, T * D], qk[0], qk[1]),
    groupSums(T * T * D, D, 1 / Math.sqrt(D)),
    row({ kind: 'softmax' }, 7, T * T, T),
    product([7, 4], [T * T, T * D], av[0], av[1]),
    groupSums(T * D * T, T, 1),
    residual,
    affine(2, T * D, 11, [10]),
  ];
}

/** The block with exact Softmax and LayerNorm, and each row-wise stage's inputs on the way. */
function exactBlock(stages: readonly ApproxStage[], x: Float64Array, seen: Map<number, Float64Array[]>): Float64Array {
  const outs: Float64Array[] = [];
  const out = (r: number): Float64Array => (r < 0 ? x : outs[r]!);
  stages.forEach((s, k) => {
    const reads = 'reads' in s && s.reads ? s.reads : [k - 1];
    const v = Float64Array.from(reads.flatMap((r) => Array.from(out(r))));
    if (s.kind === 'affine') outs.push(affineByHand(s, v));
    else if (s.kind === 'product') outs.push(Float64Array.from({ length: s.size }, (_u, i) => v[s.left[i]!]! * v[s.factorSizes[0] + s.right[i]!]!));
    else if (s.kind === 'rowpoly') {
      seen.set(k, [...(seen.get(k) ?? []), v]);
      outs.push(applyRows(s.fn, s.rowLength, v));
    } else throw new Error(`no ${s.kind} stage in this block`);
  });
  return outs[outs.length - 1]!;
}

/** The calibrated ranges of each row-wise stage, measured on `xs` (what calibration records). */
function calibrate(xs: readonly Float64Array[]): (fn: RowFunction, k: number) => RowRanges {
  const seen = new Map<number, Float64Array[]>();
  const draft = block((fn) => (fn.kind === 'softmax' ? { kind: 'softmax', scores: [0, 0], sums: [1, 1] } : { kind: 'layernorm', variance: [1, 1] }));
  for (const x of xs) exactBlock(draft, x, seen);
  return (fn, k) => {
    const rows: Float64Array[] = [];
    const len = fn.kind === 'softmax' ? T : D;
    for (const v of seen.get(k)!) for (let i = 0; i < v.length; i += len) rows.push(v.subarray(i, i + len));
    if (fn.kind === 'layernorm') {
      const vars = rows.map((r) => rowStatistic(fn, r));
      return { kind: 'layernorm', variance: [Math.min(...vars), Math.max(...vars)] };
    }
    const all = rows.flatMap((r) => Array.from(r));
    const hi = Math.max(...all);
    const sums = rows.map((r) => Math.exp(rowStatistic(fn, r) - hi));
    return { kind: 'softmax', scores: [Math.min(...all), hi], sums: [Math.min(...sums), Math.max(...sums)] };
  };
}

function simulate(stages: ApproxStage[], layout: Layout, xs: readonly Float64Array[]) {
  const lowered = lowerChain(stages, { layout, slots: 256 });
  const circuit = assignScales(lowered, nttPrimes(1 << 15, 50, lowered.depth).map(Number));
  checkCircuit(circuit);
  return { out: simulateSamples(circuit, xs), depth: lowered.depth, counts: countOps(circuit), inputs: circuit.inputs.length };
}

describe('attention in the vector layout', () => {
  const r = lcg(3);
  const xs = Array.from({ length: 6 }, () => Float64Array.from({ length: 6 }, () => 2 * r() - 1));
  const stages = block(calibrate(xs));

  it('one ciphertext in, one product per product stage; equal to the stages by hand and near the exact block', () => {
    const vector = simulate(stages, 'vector', xs);
    expect(vector.inputs).toBe(1);
    expect(vector.counts.ctCtMul).toBeGreaterThanOrEqual(2);
    expect(vector.counts.rotations).toBeGreaterThan(0);
    xs.forEach((x, k) => {
      const byHand = approxChainByHand(stages, x);
      const exact = exactBlock(stages, x, new Map());
      vector.out[k]!.forEach((v, i) => {
        expect(Math.abs(v - byHand[i]!), `row ${k}, output ${i} by hand`).toBeLessThan(1e-6);
        expect(Math.abs(v - exact[i]!), `row ${k}, output ${i} exact`).toBeLessThan(0.05);
      });
    });
  });

  it('the batch layout computes the same; the vector layout spends a level per row sum and per pick from a non-affine stage', () => {
    const batch = simulate(stages, 'batch', xs);
    const vector = simulate(stages, 'vector', xs);
    xs.forEach((_x, k) => batch.out[k]!.forEach((v, i) => expect(Math.abs(v - vector.out[k]![i]!)).toBeLessThan(1e-6)));
    // LayerNorm's two sums, Softmax's one, and A picked from the Softmax's values: 4 levels more at most.
    expect(vector.depth).toBeGreaterThan(batch.depth);
    expect(vector.depth).toBeLessThanOrEqual(batch.depth + 4);
  });
});
