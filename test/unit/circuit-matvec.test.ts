import { describe, expect, it } from 'vitest';
import { planMatVec } from '../../compiler/circuit/bsgs-plan';
import { countOps } from '../../compiler/circuit/count';
import { lowerChain } from '../../compiler/circuit/lower';
import { assignScales } from '../../compiler/circuit/passes-scales';
import type { Layout } from '../../compiler/circuit/ir';
import type { AffineStage } from '../../compiler/chain/stages';
import { nttPrimes } from '../../compiler/params/primes';
import { simulateSamples } from '../../runtime/backends/simulate';
import { lcg } from '../helpers/random';
import { affineStage } from '../helpers/stages';

function affine(rows: number, cols: number, seed: number, density = 1): AffineStage {
  const r = lcg(seed);
  return affineStage(rows, cols, () => (r() < density ? 2 * r() - 1 : 0), () => 2 * r() - 1, [`fc${rows}x${cols}`]);
}

function apply(stage: AffineStage, x: Float64Array): Float64Array {
  const y = Float64Array.from(stage.bias);
  for (let i = 0; i < stage.outSize; i++) for (let j = 0; j < stage.inSize; j++) y[i]! += stage.weights[i * stage.inSize + j]! * x[j]!;
  return y;
}

/** Primes near 2^bits that SEAL could pick at N = 2·slots (descending, as CoeffModulus scans them). */
function primesNear(bits: number, count: number, slots: number): number[] {
  return nttPrimes(2 * slots, bits, count).map(Number);
}

function samples(n: number, count: number, seed: number): Float64Array[] {
  const r = lcg(seed);
  return Array.from({ length: count }, () => Float64Array.from({ length: n }, () => 2 * r() - 1));
}

const shapes: [number, number][] = [
  [4, 16], // squat, folds
  [10, 30], // squat, neither a power of two
  [16, 16], // square
  [7, 7], // square, padded
  [24, 5], // tall
  [1, 9], // a single logit
];

describe('matrix–vector products in both layouts', () => {
  for (const layout of ['vector', 'batch'] as Layout[]) {
    for (const [m, n] of shapes) {
      it(`${layout}: ${m}×${n} equals W·x + b`, () => {
        const stage = affine(m, n, 17 * m + n);
        const slots = 64;
        const lowered = lowerChain([stage], { layout, slots });
        expect(lowered.depth).toBe(1);
        const circuit = assignScales(lowered, primesNear(40, lowered.depth, slots));
        const xs = samples(n, 3, m * n);
        const got = simulateSamples(circuit, xs);
        xs.forEach((x, k) => {
          const want = apply(stage, x);
          for (let i = 0; i < m; i++) expect(Math.abs(got[k]![i]! - want[i]!)).toBeLessThan(1e-9);
        });
      });
    }
  }
});

describe('rotation counts', () => {
  it('a 64×64 layer uses the BSGS plan: at most 2√64 rotations, batch none', () => {
    const stage = affine(64, 64, 5);
    const vector = lowerChain([stage], { layout: 'vector', slots: 4096 });
    const plan = planMatVec(stage.weights, 64, 64);
    const counts = countOps(vector);
    expect(counts.rotations).toBe(plan.rotations);
    expect(plan.rotations).toBe(plan.babyRotations.length + plan.giantRotations.length + plan.foldSteps.length);
    expect(counts.rotations).toBeLessThanOrEqual(2 * Math.sqrt(64));
    expect(counts.rotations).toBe(14);
    expect(counts.ctPtMul).toBe(64);
    expect(counts.rescales).toBe(1);
    const batch = lowerChain([stage], { layout: 'batch', slots: 4096 });
    expect(countOps(batch).rotations).toBe(0);
    expect(batch.rotationSteps).toEqual([]);
  });

  it('a squat 16×256 layer folds log2(256/16) times after ≤ 2√16 BSGS rotations', () => {
    const stage = affine(16, 256, 9);
    const circuit = lowerChain([stage], { layout: 'vector', slots: 1024 });
    const plan = planMatVec(stage.weights, 16, 256);
    expect(plan.foldSteps).toEqual([16, 32, 64, 128]);
    expect(countOps(circuit).rotations).toBe(plan.rotations);
    expect(plan.rotations).toBeLessThanOrEqual(2 * Math.sqrt(16) + 4);
    expect(countOps(circuit).ctPtMul).toBe(16);
  });

  it('skips zero diagonals and the rotations only they need', () => {
    // Tridiagonal 32×32: diagonals 0, 1 and 31 only.
    const stage = affine(32, 32, 3);
    const w = stage.weights;
    for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) if (Math.abs(i - j) > 1) w[i * 32 + j] = 0;
    const plan = planMatVec(w, 32, 32);
    expect(plan.used.filter(Boolean).length).toBe(3);
    const circuit = assignScales(lowerChain([stage], { layout: 'vector', slots: 64 }), primesNear(40, 1, 64));
    const counts = countOps(circuit);
    expect(counts.ctPtMul).toBe(3);
    expect(counts.rotations).toBe(plan.rotations);
    expect(counts.rotations).toBeLessThanOrEqual(3);
    const x = samples(32, 1, 1)[0]!;
    const got = simulateSamples(circuit, [x])[0]!;
    const want = apply(stage, x);
    for (let i = 0; i < 32; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-9);
  });
});
