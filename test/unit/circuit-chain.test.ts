import { describe, expect, it } from 'vitest';
import { chebyshevDepth } from '../../compiler/approx/evaluate';
import { countOps } from '../../compiler/circuit/count';
import type { Layout } from '../../compiler/circuit/ir';
import { lowerChain } from '../../compiler/circuit/lower';
import { assignScales } from '../../compiler/circuit/passes-scales';
import type { AffineStage, ApproxStage, PolyStage } from '../../compiler/chain/stages';
import { nttPrimes } from '../../compiler/params/primes';
import { simulateSamples } from '../../runtime/backends/simulate';
import { lcg } from '../helpers/random';
import { approxChainByHand } from '../helpers/stages';

/** An affine map whose outputs stay in [-1, 1] for inputs in [-1, 1] (rows scaled by their L1 norm). */
function affine(rows: number, cols: number, seed: number): AffineStage {
  const r = lcg(seed);
  const weights = Float64Array.from({ length: rows * cols }, () => 2 * r() - 1);
  const bias = Float64Array.from({ length: rows }, () => 0.2 * (2 * r() - 1));
  for (let i = 0; i < rows; i++) {
    let norm = Math.abs(bias[i]!);
    for (let j = 0; j < cols; j++) norm += Math.abs(weights[i * cols + j]!);
    for (let j = 0; j < cols; j++) weights[i * cols + j]! /= norm;
    bias[i]! /= norm;
  }
  return { kind: 'affine', sources: ['fc'], inSize: cols, outSize: rows, weights, bias };
}

function poly(size: number, coeffs: number[]): PolyStage {
  return {
    kind: 'poly',
    sources: ['act'],
    fn: 'tanh',
    size,
    range: [-1, 1],
    method: 'chebyshev',
    chebyshev: Float64Array.from(coeffs),
    degree: coeffs.length - 1,
    maxError: 0,
  };
}

function samples(n: number, count: number, seed: number): Float64Array[] {
  const r = lcg(seed);
  return Array.from({ length: count }, () => Float64Array.from({ length: n }, () => 2 * r() - 1));
}

function check(stages: ApproxStage[], layout: Layout, slots: number, bits: number, tolerance: number): number {
  const lowered = lowerChain(stages, { layout, slots });
  const primes = nttPrimes(2 * slots, bits, lowered.depth).map(Number);
  const circuit = assignScales(lowered, primes);
  const first = stages[0]!;
  if (first.kind !== 'affine' && first.kind !== 'poly') throw new Error('no client-step stage in these chains');
  const inSize = first.kind === 'affine' ? first.inSize : first.size;
  const xs = samples(inSize, 3, 11);
  const got = simulateSamples(circuit, xs);
  xs.forEach((x, k) => {
    const want = approxChainByHand(stages, x);
    want.forEach((w, i) => expect(Math.abs(got[k]![i]! - w)).toBeLessThan(tolerance));
  });
  return lowered.depth;
}

const tanh7 = [0, 0.8, 0, -0.12, 0, 0.03, 0, -0.007];
const mixed5 = [0.1, 0.5, 0.25, -0.125, 0.05, 0.02];

describe('chains with polynomial stages', () => {
  for (const layout of ['vector', 'batch'] as Layout[]) {
    it(`${layout}: affine → degree-7 poly → affine equals the float64 chain, depth 1 + 3 + 1`, () => {
      const stages: ApproxStage[] = [affine(12, 20, 1), poly(12, tanh7), affine(3, 12, 2)];
      const depth = check(stages, layout, 64, 40, 1e-9);
      expect(depth).toBe(2 + chebyshevDepth(7));
    });

    it(`${layout}: two hidden layers with mixed-parity polynomials at 30-bit primes`, () => {
      const stages: ApproxStage[] = [affine(8, 5, 3), poly(8, mixed5), affine(16, 8, 4), poly(16, [0.5, 0.5, 0.25]), affine(2, 16, 5)];
      const depth = check(stages, layout, 32, 30, 1e-5);
      expect(depth).toBe(3 + chebyshevDepth(5) + chebyshevDepth(2));
    });
  }

  it('every polynomial degree up to 15 lowers at depth ⌈log2(d+1)⌉ and evaluates exactly', () => {
    const r = lcg(99);
    for (let d = 1; d <= 15; d++) {
      const coeffs = Array.from({ length: d + 1 }, () => (2 * r() - 1) / (d + 1));
      const stages: ApproxStage[] = [affine(4, 4, d), poly(4, coeffs)];
      const depth = check(stages, 'vector', 16, 40, 1e-9);
      expect(depth).toBe(1 + chebyshevDepth(d));
    }
  });

  it('a constant polynomial still yields a ciphertext', () => {
    check([affine(3, 3, 8), poly(3, [0.25, 0, 0])], 'batch', 8, 40, 1e-5);
  });

  it('one relinearisation per ct×ct product sum, and only the levels the plan needs', () => {
    const stages: ApproxStage[] = [affine(4, 4, 1), poly(4, tanh7)];
    const counts = countOps(lowerChain(stages, { layout: 'vector', slots: 16 }));
    expect(counts.relins).toBeLessThanOrEqual(counts.ctCtMul);
    expect(counts.depth).toBe(4);
  });
});
