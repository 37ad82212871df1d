/**
 * The precision promise's arithmetic on hand-worked values: the calibrated output range, the
 * absolute bound, the fractional bits left for CKKS noise, and when the promise is met.
 */
import { describe, expect, it } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import {
  absoluteBound,
  calibratedOutputRange,
  checkPrecision,
  maxAbsError,
  noisePrecisionBits,
  outputMagnitude,
  precisionPromise,
} from '../../compiler/approx/precision-target';

const v = (...xs: number[]): Float64Array => Float64Array.from(xs);

describe('precision target', () => {
  it('range over every output of every row; 1% of [−3, 5] is 0.08; a constant output falls back to its magnitude', () => {
    expect(calibratedOutputRange([v(1, -3), v(5, 0)])).toEqual([-3, 5]);
    expect(absoluteBound(0.01, [-3, 5])).toBeCloseTo(0.08, 15);
    expect(absoluteBound(0.01, [4, 4])).toBeCloseTo(0.04, 15);
    expect(absoluteBound(0.01, [0.5, 0.5])).toBeCloseTo(0.01, 15);
    expect(() => calibratedOutputRange([v(NaN)])).toThrow(DeepPowersError);
  });

  it('largest absolute error and output magnitude (at least 1)', () => {
    expect(maxAbsError([v(1, 2), v(3, 4)], [v(1.5, 2), v(3, 3.25)])).toBe(0.75);
    expect(Number.isNaN(maxAbsError([v(1)], [v(NaN)]))).toBe(true);
    expect(outputMagnitude([v(0.2, -0.5)])).toBe(1);
    expect(outputMagnitude([v(0.2, -20)])).toBe(20);
  });

  it('noise bits: what the approximation left of the bound, at least 5% of it, per unit of magnitude', () => {
    // bound 0.4, approximation 0.3: 0.1 left; magnitude 20 → 20/0.1 = 200 → 8 bits (2^8 = 256 ≥ 200).
    expect(noisePrecisionBits(0.4, 0.3, 20)).toBe(8);
    // approximation already over the bound: 5% of 0.4 = 0.02 → 20/0.02 = 1000 → 10 bits.
    expect(noisePrecisionBits(0.4, 0.5, 20)).toBe(10);
    expect(noisePrecisionBits(100, 0, 1)).toBe(0);
  });

  it('met when approximation + noise ≤ bound', () => {
    // bound 0.08; noise 20·2^-10 ≈ 0.0195.
    const met = precisionPromise(0.01, [-3, 5], 0.05, 20, 10);
    expect(met.bound).toBeCloseTo(0.08, 15);
    expect(met.noiseBound).toBeCloseTo(20 / 1024, 15);
    expect(met.reached).toBe(true);
    expect(precisionPromise(0.01, [-3, 5], 0.07, 20, 10).reached).toBe(false);
  });

  it('refuses a target outside (0, 1)', () => {
    for (const bad of [0, 1, -0.1, NaN]) expect(() => checkPrecision(bad)).toThrow(/--precision/);
    expect(checkPrecision(0.05)).toBe(0.05);
  });
});
