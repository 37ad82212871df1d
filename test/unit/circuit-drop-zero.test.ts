import { describe, expect, it } from 'vitest';
import type { Circuit, Layout } from '../../compiler/circuit/ir';
import { lowerChain } from '../../compiler/circuit/lower';
import { zeroEncodedConstants } from '../../compiler/circuit/passes-drop-zero';
import { assignScales } from '../../compiler/circuit/passes-scales';
import type { AffineStage, ApproxStage, PolyStage } from '../../compiler/chain/stages';
import { nttPrimes } from '../../compiler/params/primes';
import { simulateSamples } from '../../runtime/backends/simulate';
import { approxChainByHand } from '../helpers/stages';

/** Far below 0.5/P for any encode scale P ≤ 2^40: rounds to zero when encoded. */
const TINY = 1e-13;

function affine(outSize: number, inSize: number, rows: number[][], bias: number[]): AffineStage {
  return { kind: 'affine', sources: ['fc'], inSize, outSize, weights: Float64Array.from(rows.flat()), bias: Float64Array.from(bias) };
}

const square: PolyStage = {
  kind: 'poly',
  sources: ['act'],
  fn: 'tanh',
  size: 3,
  range: [-1, 1],
  method: 'chebyshev',
  chebyshev: Float64Array.from([0.5, 0.25, 0.125]),
  degree: 2,
  maxError: 0,
};

/** Row 0 has one tiny weight among normal ones, row 1 only tiny weights, row 2 none. */
function stagesWithTiny(tiny: number): ApproxStage[] {
  return [
    affine(3, 4, [[0.3, tiny, -0.2, 0.1], [tiny, -tiny, 0, tiny], [0.25, 0.25, -0.25, 0.25]], [0.1, 0.2, tiny]),
    square,
    affine(2, 3, [[0.5, -0.4, 0.3], [tiny, 0.6, -0.2]], [0, 0.05]),
  ];
}

function compile(stages: ApproxStage[], layout: Layout): Circuit {
  const lowered = lowerChain(stages, { layout, slots: 16 });
  return assignScales(lowered, nttPrimes(32, 30, lowered.depth).map(Number));
}

function kinds(c: Circuit): Record<string, number> {
  const out: Record<string, number> = {};
  for (const op of c.ops) out[op.op] = (out[op.op] ?? 0) + 1;
  return out;
}

const xs = [Float64Array.from([0.5, -0.25, 0.75, -1]), Float64Array.from([-0.3, 0.9, 0.1, 0.4])];

describe('constants that encode to zero are dropped', () => {
  for (const layout of ['batch', 'vector'] as Layout[]) {
    it(`${layout}: no plaintext rounds to all zeros, depth unchanged, values within the dropped weights`, () => {
      const withTiny = compile(stagesWithTiny(TINY), layout);
      const without = compile(stagesWithTiny(0), layout);
      expect(zeroEncodedConstants(withTiny).size).toBe(0);
      expect(withTiny.depth).toBe(without.depth);
      // Dropping leaves the circuit that exact zeros give (zero weights are never emitted).
      expect(kinds(withTiny)).toEqual(kinds(without));
      const got = simulateSamples(withTiny, xs);
      xs.forEach((x, k) => approxChainByHand(stagesWithTiny(TINY), x).forEach((want, i) => expect(Math.abs(got[k]![i]! - want)).toBeLessThan(1e-6)));
    });
  }

  it('batch: the tiny multiplies and the tiny bias are gone, an all-tiny row rides on a near-zero product', () => {
    const lowered = lowerChain(stagesWithTiny(TINY), { layout: 'batch', slots: 16 });
    const tinyOps = (c: Circuit): number => c.ops.filter((op) => (op.op === 'mulScalar' || op.op === 'addScalar') && Math.abs(op.value) === TINY).length;
    expect(tinyOps(lowered)).toBe(6);
    const scaled = assignScales(lowered, nttPrimes(32, 30, lowered.depth).map(Number));
    expect(tinyOps(scaled)).toBe(0);
    // Row 1 lost every term: its rescale now reads one stand-in product x·w that encodes to ≥ 1.
    const standIns = scaled.ops.filter((op) => op.op === 'mulScalar' && Math.abs(op.value) < 1e-5);
    expect(standIns.length).toBe(1);
    for (const op of standIns) if (op.op === 'mulScalar') expect(op.value * op.encodeScale).toBeGreaterThanOrEqual(1);
  });
});
