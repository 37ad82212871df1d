/**
 * Per-unit ReLU ranges: rescaling units into the neighbouring affine maps leaves the chain's
 * function unchanged, puts every unit's calibration inputs inside [−1/margin, 1/margin] (units
 * below the floor share of their layer's bound further inside), is refused where no affine map
 * sits on both sides, and bounds each unit's polynomial error by B_i·ε rather than by the layer's ε.
 */
import { describe, expect, it } from 'vitest';
import { calibrateStages } from '../../compiler/approx/calibrate';
import { clenshaw } from '../../compiler/approx/chebyshev';
import { DeepPowersError } from '../../compiler/errors';
import type { AffineStage, Stage } from '../../compiler/chain/stages';
import { applyStages } from '../../compiler/chain/run';
import { approximateChain } from '../../compiler/approx/approximate-chain';
import { boundSummary, canScaleUnits, reluUnitBounds, scaleUnits, UNIT_BOUND_FLOOR, UNIT_RANGE } from '../../compiler/approx/unit-scaling';

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

/** An affine map whose output rows have very different scales (row i scaled by 10^(i mod 4 − 2)). */
function affine(outSize: number, inSize: number, rand: () => number, rowScales = false): AffineStage {
  const scale = (i: number): number => (rowScales ? 10 ** ((i % 4) - 2) : 1);
  return {
    kind: 'affine',
    sources: ['fc'],
    inSize,
    outSize,
    weights: Float64Array.from({ length: outSize * inSize }, (_v, i) => rand() * scale(Math.floor(i / inSize))),
    bias: Float64Array.from({ length: outSize }, (_v, i) => 0.3 * rand() * scale(i)),
  };
}

const rand = seeded(11);
const chain: Stage[] = [
  affine(8, 5, rand, true),
  { kind: 'activation', sources: ['relu1'], fn: 'relu', size: 8 },
  affine(6, 8, rand, true),
  { kind: 'activation', sources: ['relu2'], fn: 'relu', size: 6 },
  affine(3, 6, rand),
];
const rows = Array.from({ length: 200 }, () => Float64Array.from({ length: 5 }, () => 2 * rand()));

describe('per-unit ReLU scaling', () => {
  const calibration = calibrateStages(chain, rows);
  const margin = 1.5;
  const bounds = reluUnitBounds(chain, calibration, margin);

  it('bounds every ReLU between two affine maps, B_i = max(margin·max(|lo_i|, |hi_i|), floor·layer)', () => {
    expect([...bounds.keys()]).toEqual([1, 3]);
    const a = calibration.activations[0]!;
    const own = Array.from(a.unitMin, (lo, i) => margin * Math.max(Math.abs(lo), Math.abs(a.unitMax[i]!)));
    const layer = Math.max(...own);
    bounds.get(1)!.forEach((b, i) => expect(b).toBe(Math.max(own[i]!, UNIT_BOUND_FLOOR * layer)));
    const s = boundSummary(bounds.get(1)!);
    // Rows were scaled over four orders of magnitude; the bounds follow down to the floor.
    expect(s.max / s.min).toBeCloseTo(1 / UNIT_BOUND_FLOOR, 12);
    expect(own.filter((b) => b > UNIT_BOUND_FLOOR * layer).length).toBeGreaterThan(1);
    expect(s.min).toBeLessThanOrEqual(s.median);
    expect(s.median).toBeLessThanOrEqual(s.max);
  });

  it('leaves the chain function unchanged and puts every unit inside [−1/margin, 1/margin]', () => {
    const scaled = scaleUnits(chain, bounds);
    expect(scaled.map((s) => s.kind)).toEqual(chain.map((s) => s.kind));
    for (const x of rows.slice(0, 50)) {
      const want = applyStages(chain, x);
      const got = applyStages(scaled, x);
      want.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThan(1e-12 * Math.max(1, Math.abs(v))));
    }
    const after = calibrateStages(scaled, rows);
    const before = calibration.activations;
    after.activations.forEach((a, k) => {
      const b = bounds.get(a.stage)!;
      for (let i = 0; i < a.size; i++) {
        const own = margin * Math.max(Math.abs(before[k]!.unitMin[i]!), Math.abs(before[k]!.unitMax[i]!));
        // own/B_i: 1 for a unit at its own bound, less for one raised to the floor.
        expect(Math.max(Math.abs(a.unitMin[i]!), Math.abs(a.unitMax[i]!))).toBeCloseTo(own / b[i]! / margin, 12);
        expect(own / b[i]!).toBeLessThanOrEqual(1);
      }
    });
  });

  it('gives a unit that was always 0 the floor share of the layer bound, not a zero divisor', () => {
    const dead: Stage[] = [{ ...(chain[0] as AffineStage), weights: (chain[0] as AffineStage).weights.map((w, i) => (i < 5 ? 0 : w)), bias: (chain[0] as AffineStage).bias.map((b, i) => (i === 0 ? 0 : b)) }, ...chain.slice(1)];
    const b = reluUnitBounds(dead, calibrateStages(dead, rows), margin).get(1)!;
    expect(b[0]).toBe(UNIT_BOUND_FLOOR * Math.max(...b));
    expect(b[0]).toBeGreaterThan(0);
  });

  it('keeps per-layer ranges where no affine map follows or precedes, and for sigmoid/tanh', () => {
    const tail: Stage[] = [chain[0]!, chain[1]!];
    expect(canScaleUnits(tail, 1)).toBe(false);
    expect(reluUnitBounds(tail, calibrateStages(tail, rows), margin).size).toBe(0);
    const head: Stage[] = [chain[1]!, chain[2]!];
    expect(canScaleUnits(head.map((s) => (s.kind === 'activation' ? { ...s, size: 5 } : s)), 0)).toBe(false);
    const tanh: Stage[] = [chain[0]!, { kind: 'activation', sources: ['t'], fn: 'tanh', size: 8 }, chain[2]!];
    expect(canScaleUnits(tanh, 1)).toBe(false);
    let error: unknown;
    try {
      scaleUnits(tail, new Map([[1, new Float64Array(8).fill(1)]]));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DeepPowersError);
    expect(() => scaleUnits(chain, new Map([[1, new Float64Array(7).fill(1)]]))).toThrow(/7 unit bounds for 8 units/);
    expect(() => scaleUnits(chain, new Map([[1, new Float64Array(8).fill(0)]]))).toThrow(/not a positive number/);
  });

  it('fits unit-scaled ReLUs on [−1, 1]; unit i then errs by at most B_i·ε, not the layer bound times ε', () => {
    const scaled = scaleUnits(chain, bounds);
    const cal = calibrateStages(scaled, rows);
    for (const degree of [7, 15]) {
      const perUnit = approximateChain(scaled, cal, { degree, margin, unitBounds: bounds });
      const perLayer = approximateChain(chain, calibration, { degree, margin });
      for (const a of perUnit.approximations) {
        expect(a.range).toEqual(UNIT_RANGE);
        expect(a.unitBounds).toBe(bounds.get(a.stage));
      }
      // First ReLU: what each unit's polynomial output means in the original units, on the calibration rows.
      const poly = perUnit.stages[1]!;
      const layerError = perLayer.approximations[0]!.maxError;
      const b = bounds.get(1)!;
      if (poly.kind !== 'poly') throw new Error('stage 1 should be the polynomial');
      for (const x of rows) {
        const pre = applyStages([scaled[0]!], x);
        const exact = applyStages([chain[0]!], x);
        pre.forEach((t, i) => {
          const err = Math.abs(b[i]! * clenshaw(poly.chebyshev, t) - Math.max(0, exact[i]!));
          expect(err).toBeLessThanOrEqual(b[i]! * poly.maxError * (1 + 1e-9) + 1e-12);
        });
      }
      // Units narrower than the layer get a proportionally smaller error bound (down to the floor).
      const smaller = [...b].filter((v) => v * poly.maxError < layerError / 2).length;
      expect(smaller, `degree ${degree}`).toBeGreaterThanOrEqual(b.length / 2);
    }
  });
});
