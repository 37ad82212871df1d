/**
 * Product stages (a slot-wise product of two encrypted vectors, attention's Q·Kᵀ and A·V after
 * their gathers) lowered in both layouts: the simulated circuit equals the body computed value by
 * value in float64 (test/helpers/stages), each product costs one level (ct×ct, relinearise,
 * rescale), exact scales pass the checker, and the counts price one ct×ct multiply and one
 * relinearisation per product value in the batch layout, one per product stage in the vector
 * layout (the factors picked by matrix-vector products first).
 */
import { describe, expect, it } from 'vitest';
import { chebyshevDepth } from '../../compiler/approx/evaluate';
import { countOps } from '../../compiler/circuit/count';
import type { Layout } from '../../compiler/circuit/ir';
import { lowerChain } from '../../compiler/circuit/lower';
import { checkCircuit } from '../../compiler/circuit/passes-check';
import { assignScales } from '../../compiler/circuit/passes-scales';
import type { AffineStage, ApproxStage, PolyStage, ProductStage } from '../../compiler/chain/stages';
import { nttPrimes } from '../../compiler/params/primes';
import { simulateSamples } from '../../runtime/backends/simulate';
import { lcg } from '../helpers/random';
import { approxChainByHand } from '../helpers/stages';

function affine(rows: number, cols: number, seed: number, reads?: number[]): AffineStage {
  const r = lcg(seed);
  const weights = Float64Array.from({ length: rows * cols }, () => (2 * r() - 1) / cols);
  const bias = Float64Array.from({ length: rows }, () => 0.1 * (2 * r() - 1));
  return { kind: 'affine', sources: [`fc${seed}`], inSize: cols, outSize: rows, weights, bias, ...(reads ? { reads } : {}) };
}

function slotWise(size: number, reads: [number, number]): ProductStage {
  const at = Array.from({ length: size }, (_v, i) => i);
  return { kind: 'product', sources: ['mul'], size, reads, factorSizes: [size, size], left: at, right: at };
}

const square: PolyStage = { kind: 'poly', sources: ['sq'], fn: 'tanh', size: 3, range: [-1, 1], method: 'chebyshev', chebyshev: Float64Array.from([0.5, 0, 0.5]), degree: 2, maxError: 0 };

function run(stages: ApproxStage[], layout: Layout, inSize: number) {
  const lowered = lowerChain(stages, { layout, slots: 64 });
  const circuit = assignScales(lowered, nttPrimes(128, 40, lowered.depth).map(Number));
  checkCircuit(circuit);
  const r = lcg(5);
  const xs = Array.from({ length: 3 }, () => Float64Array.from({ length: inSize }, () => 2 * r() - 1));
  const got = simulateSamples(circuit, xs);
  xs.forEach((x, k) => {
    const want = approxChainByHand(stages, x);
    expect(got[k]!.length).toBe(want.length);
    want.forEach((w, i) => expect(Math.abs(got[k]![i]! - w)).toBeLessThan(1e-8));
  });
  return { depth: lowered.depth, counts: countOps(circuit) };
}

describe('product stages', () => {
  for (const layout of ['batch', 'vector'] as Layout[]) {
    it(`${layout}: two maps of the input, their product, a sum: depth 3, equal to the values multiplied by hand`, () => {
      // Stages: 0 = A·x, 1 = B·x (both read the input), 2 = (A·x) ⊙ (B·x), 3 = a map of the product.
      const stages: ApproxStage[] = [affine(4, 6, 1, [-1]), affine(4, 6, 2, [-1]), slotWise(4, [0, 1]), affine(2, 4, 3)];
      const { depth, counts } = run(stages, layout, 6);
      expect(depth).toBe(3);
      if (layout === 'batch') {
        expect(counts.ctCtMul).toBe(4);
        expect(counts.relins).toBe(4);
      } else expect(counts.ctCtMul).toBe(1);
    });

    it(`${layout}: a product that picks its factors (a 2×3 by 3×2 matrix product: 12 products, summed in threes)`, () => {
      // 0 = A·x (a 2×3 matrix), 1 = B·x (3×2), 2 = the products a[i,c]·b[c,j] at (i, j, c), 3 = a map of their sums.
      const left: number[] = [];
      const right: number[] = [];
      for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let c = 0; c < 3; c++) left.push(i * 3 + c), right.push(c * 2 + j);
      const picked: ProductStage = { kind: 'product', sources: ['matmul'], size: 12, reads: [0, 1], factorSizes: [6, 6], left, right };
      const stages: ApproxStage[] = [affine(6, 5, 8, [-1]), affine(6, 5, 9, [-1]), picked, affine(3, 12, 10)];
      const { depth, counts } = run(stages, layout, 5);
      // Vector: each factor is its affine map with the rows picked (no level of its own), one slot-wise product.
      expect(depth).toBe(3);
      expect(counts.ctCtMul).toBe(layout === 'batch' ? 12 : 1);
    });

    it(`${layout}: a product that picks its factors from a polynomial's values and from the input`, () => {
      // 0 = A·x (2×3), 1 = p(A·x), 2 = products p(a)[i,c]·x[c, j] for x the input as 3×2, 3 = a map of them.
      const left: number[] = [];
      const right: number[] = [];
      for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let c = 0; c < 3; c++) left.push(i * 3 + c), right.push(c * 2 + j);
      const picked: ProductStage = { kind: 'product', sources: ['matmul'], size: 12, reads: [1, -1], factorSizes: [6, 6], left, right };
      const stages: ApproxStage[] = [affine(6, 6, 11, [-1]), { ...square, size: 6 }, picked, affine(3, 12, 12)];
      const { depth } = run(stages, layout, 6);
      // affine 1 + polynomial + product 1 + affine 1; the vector layout picks from a polynomial's
      // values by a selection map (one level), from the input by one too, in parallel.
      expect(depth).toBe(3 + chebyshevDepth(2) + (layout === 'vector' ? 1 : 0));
    });

    it(`${layout}: factors at different levels (one after a polynomial) meet at the lower one; a square reads one stage twice`, () => {
      // 0 = A·x, 1 = p(A·x) (one level more), 2 = B·x, 3 = p(A·x) ⊙ B·x, 4 = (stage 3)², 5 = C·(stage 4).
      const stages: ApproxStage[] = [
        affine(3, 5, 4, [-1]),
        square,
        affine(3, 5, 6, [-1]),
        slotWise(3, [1, 2]),
        slotWise(3, [3, 3]),
        affine(2, 3, 7),
      ];
      const { depth } = run(stages, layout, 5);
      // affine 1 + the degree-2 polynomial + product 1 + square product 1 + affine 1.
      expect(depth).toBe(4 + chebyshevDepth(2));
    });
  }
});
