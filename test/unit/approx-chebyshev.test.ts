import { describe, expect, it } from 'vitest';
import {
  chebyshevInterpolate,
  chebyshevNodes,
  chebyshevToMonomial,
  clenshaw,
  effectiveDegree,
  evalOnRange,
  fromUnit,
  monomialToChebyshev,
  rebase,
  toUnit,
} from '../../compiler/approx/chebyshev';
import { erf, sigmoid } from '../../compiler/activations/functions';
import { activationFunction, ACTIVATION_FNS } from '../../compiler/activations/registry';
import { parkMiller, uniform } from '../helpers/random';

function signedRandom(seed: number): () => number {
  return uniform(parkMiller(seed), -1, 1);
}

describe('Chebyshev series', () => {
  it('Clenshaw agrees with Σ c_k cos(k·arccos t)', () => {
    const rnd = signedRandom(7);
    for (const d of [0, 1, 2, 5, 17, 63]) {
      const c = Float64Array.from({ length: d + 1 }, rnd);
      for (const t of [-1, -0.93, -0.5, 0, 0.11, 0.77, 1]) {
        let direct = 0;
        for (let k = 0; k <= d; k++) direct += c[k]! * Math.cos(k * Math.acos(t));
        expect(Math.abs(clenshaw(c, t) - direct)).toBeLessThan(1e-12);
      }
    }
  });

  it('interpolation at d+1 nodes reproduces a degree-d polynomial exactly', () => {
    const rnd = signedRandom(11);
    for (const d of [0, 1, 3, 8, 31]) {
      const c = Float64Array.from({ length: d + 1 }, rnd);
      const range = [-3, 5] as const;
      const back = chebyshevInterpolate((x) => evalOnRange(c, range, x), range, d);
      for (let k = 0; k <= d; k++) expect(Math.abs(back[k]! - c[k]!)).toBeLessThan(1e-13);
    }
  });

  it('nodes are the zeros of T_n', () => {
    const nodes = chebyshevNodes(9);
    const t9 = new Float64Array(10);
    t9[9] = 1;
    for (const t of nodes) expect(Math.abs(clenshaw(t9, t))).toBeLessThan(1e-14);
  });

  it('maps between [lo, hi] and [−1, 1]', () => {
    const range = [-2, 6] as const;
    expect(toUnit(-2, range)).toBe(-1);
    expect(toUnit(6, range)).toBe(1);
    expect(toUnit(2, range)).toBe(0);
    for (const t of [-1, -0.25, 0.6, 1]) expect(toUnit(fromUnit(t, range), range)).toBeCloseTo(t, 14);
  });

  it('converts to and from the monomial basis', () => {
    // T_3 = 4t³ − 3t
    expect(Array.from(chebyshevToMonomial([0, 0, 0, 1]))).toEqual([0, -3, 0, 4]);
    const rnd = signedRandom(3);
    const c = Float64Array.from({ length: 12 }, rnd);
    const round = monomialToChebyshev(chebyshevToMonomial(c));
    for (let k = 0; k < c.length; k++) expect(Math.abs(round[k]! - c[k]!)).toBeLessThan(1e-10);
    const m = chebyshevToMonomial(c);
    for (const t of [-0.9, 0.2, 0.7]) {
      let horner = 0;
      for (let k = m.length - 1; k >= 0; k--) horner = horner * t + m[k]!;
      expect(Math.abs(horner - clenshaw(c, t))).toBeLessThan(1e-11);
    }
  });

  it('rebases a series to another interval', () => {
    const c = Float64Array.from([0.3, -1, 0.25, 0.5]);
    const to = rebase(c, [-4, 4], [0, 2]);
    for (const x of [0, 0.5, 1.3, 2]) expect(evalOnRange(to, [0, 2], x)).toBeCloseTo(evalOnRange(c, [-4, 4], x), 13);
  });

  it('effective degree ignores exact zero leading coefficients', () => {
    expect(effectiveDegree([1, 2, 0, 0])).toBe(1);
    expect(effectiveDegree([0, 0])).toBe(-1);
    expect(effectiveDegree([])).toBe(-1);
  });
});

describe('activations', () => {
  it('erf matches reference values to a few ulp and is odd', () => {
    // Values from Abramowitz & Stegun / mpmath.
    expect(Math.abs(erf(0.5) - 0.5204998778130465)).toBeLessThan(1e-15);
    expect(Math.abs(erf(1) - 0.8427007929497149)).toBeLessThan(1e-15);
    expect(Math.abs(erf(2) - 0.9953222650189527)).toBeLessThan(1e-15);
    expect(Math.abs(erf(3.5) - 0.9999992569016276)).toBeLessThan(1e-15);
    expect(erf(-1.3)).toBe(-erf(1.3));
    expect(erf(7)).toBe(1);
  });

  it('sigmoid does not overflow at either end', () => {
    expect(sigmoid(-1000)).toBe(0);
    expect(sigmoid(1000)).toBe(1);
    expect(sigmoid(0)).toBe(0.5);
    expect(sigmoid(2) + sigmoid(-2)).toBeCloseTo(1, 15);
  });

  it('gelu and silu follow their definitions', () => {
    const gelu = activationFunction({ fn: 'gelu' });
    const silu = activationFunction({ fn: 'silu' });
    // x·Φ(x) with Φ(1) = 0.8413447460685429
    expect(gelu(1)).toBeCloseTo(0.8413447460685429, 15);
    expect(gelu(-1)).toBeCloseTo(-1 + 0.8413447460685429, 15);
    expect(silu(2)).toBeCloseTo(2 / (1 + Math.exp(-2)), 15);
    expect(ACTIVATION_FNS).toEqual(expect.arrayContaining(['relu', 'sigmoid', 'tanh', 'gelu', 'silu']));
  });
});
