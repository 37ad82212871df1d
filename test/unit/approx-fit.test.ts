import { describe, expect, it } from 'vitest';
import { activationFunction, activationKinks } from '../../compiler/activations/registry';
import { clenshaw, evalOnRange, toUnit } from '../../compiler/approx/chebyshev';
import {
  DEFAULT_DEGREE,
  DEFAULT_MARGIN,
  MAX_DEGREE,
  fitActivation,
  maxFitError,
  symmetricRange,
  widenRange,
} from '../../compiler/approx/fit';
import { polyCost } from '../../compiler/approx/evaluate';
import { remezFit } from '../../compiler/approx/remez';
import { refusalOf } from '../helpers/refusal';

/** Independent error measure: 100 001 points, no kinks added, direct evaluation. */
function denseError(fn: 'relu' | 'sigmoid' | 'tanh' | 'gelu' | 'silu', range: readonly [number, number], c: Float64Array): number {
  const f = activationFunction({ fn });
  let worst = 0;
  for (let i = 0; i <= 100_000; i++) {
    const x = range[0] + ((range[1] - range[0]) * i) / 100_000;
    worst = Math.max(worst, Math.abs(f(x) - evalOnRange(c, range, x)));
  }
  return worst;
}

/**
 * Max errors from an independent computation (Chebyshev interpolation, and minimax by linear
 * programming, done outside this code base when the fitter was designed), to two significant
 * digits. ReLU is positively homogeneous, so its error on [−1, 1] is its error on [−8, 8] divided
 * by 8; ReLU's degree-3 minimax error on [−1, 1] is the hand-worked 1/16. Null where the
 * independent table has no entry.
 */
const REFERENCE: ReadonlyArray<{
  fn: 'relu' | 'sigmoid' | 'tanh';
  range: [number, number];
  degree: number;
  chebyshev: number | null;
  remez: number;
}> = [
  { fn: 'sigmoid', range: [-8, 8], degree: 3, chebyshev: 1.2e-1, remez: 9.0e-2 },
  { fn: 'sigmoid', range: [-8, 8], degree: 7, chebyshev: 3.0e-2, remez: 1.9e-2 },
  { fn: 'sigmoid', range: [-8, 8], degree: 15, chebyshev: 1.4e-3, remez: 8.8e-4 },
  { fn: 'sigmoid', range: [-8, 8], degree: 31, chebyshev: 3.0e-6, remez: 2.0e-6 },
  { fn: 'tanh', range: [-4, 4], degree: 7, chebyshev: 5.9e-2, remez: 3.8e-2 },
  { fn: 'tanh', range: [-4, 4], degree: 15, chebyshev: 2.8e-3, remez: 1.8e-3 },
  { fn: 'tanh', range: [-4, 4], degree: 31, chebyshev: 6.0e-6, remez: 3.9e-6 },
  { fn: 'relu', range: [-1, 1], degree: 3, chebyshev: null, remez: 1 / 16 },
  { fn: 'relu', range: [-1, 1], degree: 7, chebyshev: 0.51 / 8, remez: 0.18 / 8 },
  { fn: 'relu', range: [-1, 1], degree: 15, chebyshev: 0.25 / 8, remez: 0.08 / 8 },
  { fn: 'relu', range: [-1, 1], degree: 31, chebyshev: 0.125 / 8, remez: 0.037 / 8 },
];

/** Two significant digits, and minimax by LP against Remez: agreement within 6%. */
function nearReference(measured: number, reference: number): void {
  expect(measured / reference).toBeGreaterThan(0.94);
  expect(measured / reference).toBeLessThan(1.06);
}

describe('fitActivation: measured max error', () => {
  for (const p of REFERENCE) {
    it(`${p.fn} on [${p.range}] degree ${p.degree}`, () => {
      const cheb = fitActivation({ fn: p.fn, range: p.range, degree: p.degree });
      const remez = fitActivation({ fn: p.fn, range: p.range, degree: p.degree, method: 'remez' });
      expect(cheb.method).toBe('chebyshev');
      expect(remez.method).toBe('remez');
      expect(remez.note).toBeUndefined();
      expect(cheb.degree).toBe(p.degree);
      expect(cheb.chebyshev.length).toBe(p.degree + 1);
      if (p.chebyshev !== null) nearReference(cheb.maxError, p.chebyshev);
      nearReference(remez.maxError, p.remez);
      expect(remez.maxError).toBeLessThan(cheb.maxError);
      // The reported error is what a 5× denser grid sees.
      expect(denseError(p.fn, p.range, cheb.chebyshev)).toBeLessThanOrEqual(cheb.maxError * 1.001);
      expect(denseError(p.fn, p.range, remez.chebyshev)).toBeLessThanOrEqual(remez.maxError * 1.001);
    });
  }

  it('ReLU minimax of degree 2 and 3 on [−B, B] is the known x²/(2B) + x/2 + B/16, error B/16', () => {
    for (const b of [1, 3]) {
      for (const degree of [2, 3]) {
        const fit = fitActivation({ fn: 'relu', range: [-b, b], degree, method: 'remez' });
        expect(fit.maxError).toBeCloseTo(b / 16, 10);
        for (const x of [-b, -0.3 * b, 0, 0.7 * b, b]) {
          expect(evalOnRange(fit.chebyshev, [-b, b], x)).toBeCloseTo((x * x) / (2 * b) + x / 2 + b / 16, 10);
        }
      }
    }
  });

  it('Chebyshev ReLU error sits at the kink and follows B/(2(d+1)) closely', () => {
    for (const degree of [7, 15, 31]) {
      const fit = fitActivation({ fn: 'relu', range: [-1, 1], degree });
      const atKink = Math.abs(clenshaw(fit.chebyshev, 0));
      expect(atKink).toBe(fit.maxError);
      expect(fit.maxError * 2 * (degree + 1)).toBeGreaterThan(1);
      expect(fit.maxError * 2 * (degree + 1)).toBeLessThan(1.1);
    }
  });

  it('smooth extras: GELU and SiLU on [−8, 8]', () => {
    const gelu = fitActivation({ fn: 'gelu', range: [-8, 8], degree: 31 });
    const silu = fitActivation({ fn: 'silu', range: [-8, 8], degree: 15, method: 'remez' });
    expect(gelu.maxError).toBeGreaterThan(9.0e-5);
    expect(gelu.maxError).toBeLessThan(9.5e-5);
    expect(silu.maxError).toBeGreaterThan(4.0e-3);
    expect(silu.maxError).toBeLessThan(4.1e-3);
  });

  it('fits on an asymmetric range put the kink in the error grid', () => {
    const range = [-0.37, 2.1] as const;
    const fit = fitActivation({ fn: 'relu', range, degree: 15, method: 'remez' });
    expect(fit.maxError).toBeGreaterThanOrEqual(Math.abs(evalOnRange(fit.chebyshev, range, 0)));
    expect(fit.maxError).toBeLessThan(fitActivation({ fn: 'relu', range, degree: 15 }).maxError);
  });
});

describe('symmetry', () => {
  it('odd functions on symmetric ranges have exactly zero even terms', () => {
    for (const method of ['chebyshev', 'remez'] as const) {
      const tanh = fitActivation({ fn: 'tanh', range: [-4, 4], degree: 15, method });
      const sig = fitActivation({ fn: 'sigmoid', range: [-8, 8], degree: 15, method });
      for (let k = 0; k <= 15; k += 2) expect(tanh.chebyshev[k]).toBe(0);
      expect(sig.chebyshev[0]).toBe(0.5);
      for (let k = 2; k <= 15; k += 2) expect(sig.chebyshev[k]).toBe(0);
      for (let k = 1; k <= 15; k += 2) expect(tanh.chebyshev[k]).not.toBe(0);
    }
  });

  it('ReLU on a symmetric range is even plus x/2: odd terms above T_1 vanish', () => {
    for (const method of ['chebyshev', 'remez'] as const) {
      const fit = fitActivation({ fn: 'relu', range: [-2, 2], degree: 15, method });
      expect(fit.chebyshev[1]).toBe(1);
      for (let k = 3; k <= 15; k += 2) expect(fit.chebyshev[k]).toBe(0);
    }
  });

  it('float noise is zeroed: ReLU where it is linear or zero, sigmoid where it is flat', () => {
    for (const method of ['chebyshev', 'remez'] as const) {
      const linear = fitActivation({ fn: 'relu', range: [1, 3], degree: 15, method });
      expect(Array.from(linear.chebyshev.subarray(2))).toEqual(new Array(14).fill(0));
      expect(linear.chebyshev[1]).toBeCloseTo(1, 14);
      expect(polyCost(linear.chebyshev).ctMuls).toBe(0);
      const dead = fitActivation({ fn: 'relu', range: [-3, -1], degree: 7, method });
      expect(Array.from(dead.chebyshev)).toEqual(new Array(8).fill(0));
      const flat = fitActivation({ fn: 'sigmoid', range: [50, 60], degree: 15, method });
      expect(polyCost(flat.chebyshev).depth).toBe(0);
      expect(flat.maxError).toBeLessThan(1e-15);
    }
  });

  it('an off-centre range keeps every term', () => {
    const fit = fitActivation({ fn: 'tanh', range: [-3, 5], degree: 7 });
    for (let k = 0; k <= 7; k++) expect(fit.chebyshev[k]).not.toBe(0);
  });
});

describe('Remez', () => {
  it('the error equioscillates on the final reference', () => {
    for (const [fn, range, degree] of [
      ['sigmoid', [-8, 8], 15],
      ['relu', [-1, 1], 15],
      ['tanh', [-2, 3], 7],
    ] as const) {
      const f = activationFunction({ fn });
      const result = remezFit(f, range, degree, { kinks: activationKinks({ fn }) });
      expect(result.converged).toBe(true);
      expect(result.reference.length).toBe(degree + 2);
      const errors = Array.from(result.reference, (t) => {
        const x = 0.5 * (range[0] + range[1]) + 0.5 * (range[1] - range[0]) * t;
        return f(x) - clenshaw(result.chebyshev!, t);
      });
      for (let i = 1; i < errors.length; i++) {
        expect(Math.sign(errors[i]!)).toBe(-Math.sign(errors[i - 1]!));
        expect(result.reference[i]!).toBeGreaterThan(result.reference[i - 1]!);
      }
      for (const e of errors) expect(Math.abs(e) / result.maxError).toBeGreaterThan(0.99);
      expect(result.levelledError).toBeLessThanOrEqual(result.maxError);
      expect(result.levelledError / result.maxError).toBeGreaterThan(0.999);
    }
  });

  it('always stops: an iteration cap gives its best polynomial and says why', () => {
    const f = activationFunction({ fn: 'sigmoid' });
    const result = remezFit(f, [-8, 8], 15, { maxIterations: 1 });
    expect(result.converged).toBe(false);
    expect(result.iterations).toBe(1);
    expect(result.reason).toMatch(/no convergence in 1 iterations/);
    expect(result.chebyshev).not.toBeNull();
    expect(Number.isFinite(result.maxError)).toBe(true);
  });

  it('a polynomial target is reproduced exactly', () => {
    const cubic = (x: number): number => 0.5 * x * x * x - x + 0.25;
    const result = remezFit(cubic, [-2, 2], 5);
    expect(result.converged).toBe(true);
    expect(result.maxError).toBeLessThan(1e-13);
  });
});

describe('square', () => {
  it('is the minimax quadratic of ReLU on [−B, B]: x²/(2B) + x/2 + B/16', () => {
    const b = 4;
    const fit = fitActivation({ fn: 'relu', range: [-b, b], method: 'square' });
    expect(fit.method).toBe('square');
    expect(fit.degree).toBe(2);
    expect(fit.chebyshev.length).toBe(3);
    expect(fit.maxError).toBeCloseTo(b / 16, 10);
    // Hand-worked: the error x²/(2B) + x/2 + B/16 − ReLU(x) equioscillates at −B, 0 and B.
    for (const x of [-4, -2.5, -1, 0, 0.5, 3, 4]) {
      expect(evalOnRange(fit.chebyshev, [-b, b], x)).toBeCloseTo((x * x) / (2 * b) + x / 2 + b / 16, 12);
    }
  });

  it('rejects other degrees and an error budget it cannot meet', () => {
    expect(refusalOf(() => fitActivation({ fn: 'relu', range: [-1, 1], method: 'square', degree: 3 })).code).toBe('BAD_ARGUMENT');
    expect(refusalOf(() => fitActivation({ fn: 'relu', range: [-1, 1], method: 'square', maxError: 0.01 })).code).toBe('PARAMS');
    expect(fitActivation({ fn: 'relu', range: [-1, 1], method: 'square', maxError: 0.07 }).maxError).toBeLessThan(0.07);
  });
});

describe('degree selection', () => {
  it('--max-error picks the smallest 2^k − 1 degree that meets it', () => {
    for (const [fn, range, method, budget] of [
      ['sigmoid', [-8, 8], 'chebyshev', 1e-3],
      ['sigmoid', [-8, 8], 'remez', 1e-3],
      ['tanh', [-4, 4], 'chebyshev', 1e-4],
      ['relu', [-1, 1], 'remez', 0.03],
      ['sigmoid', [-1, 1], 'chebyshev', 0.05],
    ] as const) {
      const fit = fitActivation({ fn, range, method, maxError: budget });
      expect(Number.isInteger(Math.log2(fit.degree + 1))).toBe(true);
      expect(fit.maxError).toBeLessThanOrEqual(budget);
      if (fit.degree > 1) {
        const smaller = fitActivation({ fn, range, method, degree: (fit.degree - 1) / 2 });
        expect(smaller.maxError).toBeGreaterThan(budget);
      }
    }
    // Chebyshev needs 31 where minimax makes do with 15 (1.38e-3 vs 8.8e-4).
    expect(fitActivation({ fn: 'sigmoid', range: [-8, 8], maxError: 1e-3 }).degree).toBe(31);
    expect(fitActivation({ fn: 'sigmoid', range: [-8, 8], maxError: 1e-3, method: 'remez' }).degree).toBe(15);
  });

  it('says clearly when no degree up to the cap is enough', () => {
    const e = refusalOf(() => fitActivation({ fn: 'relu', range: [-8, 8], maxError: 1e-3 }));
    expect(e.code).toBe('PARAMS');
    expect(e.message).toMatch(/relu on \[-8, 8\]: no degree ≤ 255 reaches max error 1\.00e-3/);
    expect(MAX_DEGREE).toBe(255);
  });

  it('defaults and argument checks', () => {
    expect(fitActivation({ fn: 'tanh', range: [-1, 1] }).degree).toBe(DEFAULT_DEGREE);
    expect(fitActivation({ fn: 'tanh', range: [-1, 1], degree: 0 }).chebyshev.length).toBe(1);
    for (const bad of [
      { degree: 256 },
      { degree: 2.5 },
      { degree: -1 },
      { degree: 7, maxError: 0.1 },
      { maxError: 0 },
      { maxError: Number.NaN },
    ]) {
      expect(refusalOf(() => fitActivation({ fn: 'tanh', range: [-1, 1], ...bad })).code).toBe('BAD_ARGUMENT');
    }
    for (const range of [[1, 1], [2, 1], [0, Infinity]] as const) {
      expect(refusalOf(() => fitActivation({ fn: 'tanh', range })).code).toBe('BAD_ARGUMENT');
    }
  });

  it('maxFitError counts the kink even when the uniform grid misses it', () => {
    // lo + (hi − lo)·i/20000 is never 0 here, and on a near-symmetric range the worst error is at the kink.
    const range = [-1, 1 + Math.PI * 1e-5] as const;
    const fit = fitActivation({ fn: 'relu', range, degree: 7 });
    const atKink = Math.abs(clenshaw(fit.chebyshev, toUnit(0, range)));
    expect(maxFitError({ fn: 'relu' }, range, fit.chebyshev)).toBe(atKink);
    expect(fit.maxError).toBe(atKink);
    let uniformOnly = 0;
    for (let i = 0; i <= 20000; i++) {
      const x = range[0] + ((range[1] - range[0]) * i) / 20000;
      uniformOnly = Math.max(uniformOnly, Math.abs(Math.max(x, 0) - evalOnRange(fit.chebyshev, range, x)));
    }
    expect(uniformOnly).toBeLessThan(atKink);
  });
});

describe('widenRange', () => {
  it('multiplies the half-width around the centre', () => {
    expect(widenRange([-2, 4], 2)).toEqual([-5, 7]);
    expect(widenRange([-2, 4])).toEqual([1 - 3 * DEFAULT_MARGIN, 1 + 3 * DEFAULT_MARGIN]);
    expect(widenRange([-2, 4], 1)).toEqual([-2, 4]);
    expect(DEFAULT_MARGIN).toBe(1.5);
  });

  it('gives a degenerate range a width', () => {
    expect(widenRange([0, 0], 1)).toEqual([-1, 1]);
    expect(widenRange([3, 3], 2)).toEqual([-3, 9]);
    expect(widenRange([-10, -10], 1)).toEqual([-20, 0]);
    const [lo, hi] = widenRange([1e6, 1e6 + 1e-12], 1);
    expect(hi - lo).toBeGreaterThan(1);
    // A widened degenerate range is fittable.
    expect(fitActivation({ fn: 'sigmoid', range: widenRange([0.2, 0.2]), degree: 7 }).maxError).toBeLessThan(1e-4);
  });

  it('rejects nonsense', () => {
    expect(refusalOf(() => widenRange([2, 1])).code).toBe('BAD_ARGUMENT');
    expect(refusalOf(() => widenRange([0, Number.NaN])).code).toBe('BAD_ARGUMENT');
    expect(refusalOf(() => widenRange([0, 1], 0.5)).code).toBe('BAD_ARGUMENT');
    expect(refusalOf(() => widenRange([0, 1], Infinity)).code).toBe('BAD_ARGUMENT');
  });

  it('symmetricRange covers both ends', () => {
    expect(symmetricRange([-2, 5])).toEqual([-5, 5]);
    expect(symmetricRange([-7, 1])).toEqual([-7, 7]);
  });
});
