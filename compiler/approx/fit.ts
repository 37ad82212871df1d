import { fail } from '../errors';
import { activationFunction, activationKinks, activationLabel, type ActivationFn, type ActivationParams, type ActivationUse } from '../activations/registry';
import { chebyshevInterpolate, clenshaw, toUnit, type Range } from './chebyshev';
import { remezFit } from './remez';

export type FitMethod = 'chebyshev' | 'remez' | 'square';

/** Margin applied to calibrated ranges unless the caller says otherwise (Orion uses 2, the notes suggest 1.5–2). */
export const DEFAULT_MARGIN = 1.5;
/** Degree used when neither a degree nor an error budget is given: depth 4. */
export const DEFAULT_DEGREE = 15;
/** Highest degree the fitter produces: depth 8, for a one-layer model whose per-row error needs it. */
export const MAX_DEGREE = 255;
/** Points of the uniform grid the reported max error is measured on (kinks are added). */
export const ERROR_GRID_POINTS = 20001;

export interface FitRequest {
  readonly fn: ActivationFn;
  readonly params?: ActivationParams;
  /** [lo, hi] with lo < hi, usually from widenRange. */
  readonly range: Range;
  readonly method?: FitMethod;
  /** Exact degree. Exclusive with maxError. */
  readonly degree?: number;
  /** Pick the smallest degree 2^k − 1 whose measured max error is ≤ this. Exclusive with degree. */
  readonly maxError?: number;
}

export interface Fit {
  readonly fn: ActivationFn;
  readonly params?: ActivationParams;
  readonly range: Range;
  /** The method that produced the coefficients (remez falls back to chebyshev; see note). */
  readonly method: FitMethod;
  /** Coefficients of T_0..T_d in t = (2x − lo − hi)/(hi − lo). */
  readonly chebyshev: Float64Array;
  /**
   * The degree fitted (chebyshev has degree + 1 entries). Coefficients that are float noise are
   * exactly zero, so the series' effective degree, and the depth polyCost reports, can be lower.
   */
  readonly degree: number;
  /** Max |f(x) − p(x)| on ERROR_GRID_POINTS uniform points of the range plus f's kinks. */
  readonly maxError: number;
  /** Set when the result is not what was asked for in the obvious way (Remez fallback or partial convergence). */
  readonly note?: string;
}

/**
 * [lo, hi] → centre ± margin·half-width. A zero-width range (every calibration value equal)
 * gets a half-width of max(1, |centre|) before the margin, so the polynomial still has room.
 */
export function widenRange(range: Range, margin: number = DEFAULT_MARGIN): Range {
  const [lo, hi] = range;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) {
    fail('BAD_ARGUMENT', `range [${lo}, ${hi}] is not a finite interval with lo ≤ hi`);
  }
  if (!Number.isFinite(margin) || margin < 1) {
    fail('BAD_ARGUMENT', `range margin ${margin} must be a finite number ≥ 1`);
  }
  const centre = 0.5 * (lo + hi);
  let half = 0.5 * (hi - lo);
  // Relative test: a width lost in the rounding of the centre is no width.
  if (!(half > 4 * Number.EPSILON * Math.max(1, Math.abs(centre)))) half = Math.max(1, Math.abs(centre));
  return [centre - margin * half, centre + margin * half];
}

/** [−B, B] with B = max(|lo|, |hi|): odd activations fitted on it get only odd terms. */
export function symmetricRange([lo, hi]: Range): Range {
  const b = Math.max(Math.abs(lo), Math.abs(hi));
  return [-b, b];
}

export function fitActivation(request: FitRequest): Fit {
  const { range } = request;
  const use: ActivationUse = request.params === undefined ? { fn: request.fn } : { fn: request.fn, params: request.params };
  const method = request.method ?? 'chebyshev';
  const [lo, hi] = range;
  const where = `${activationLabel(use)} on [${lo}, ${hi}]`;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi)) {
    fail('BAD_ARGUMENT', `${where}: a fit needs a finite range with lo < hi (widenRange handles degenerate ones)`);
  }
  if (request.degree !== undefined && request.maxError !== undefined) {
    fail('BAD_ARGUMENT', `${where}: give a degree or a max error, not both`);
  }
  if (request.maxError !== undefined && !(request.maxError > 0 && Number.isFinite(request.maxError))) {
    fail('BAD_ARGUMENT', `${where}: max error ${request.maxError} must be a positive number`);
  }
  if (method === 'square') {
    if (request.degree !== undefined && request.degree !== 2) {
      fail('BAD_ARGUMENT', `${where}: the square method has degree 2, not ${request.degree}`);
    }
    const fit = fitAtDegree(use, range, 'square', 2);
    if (request.maxError !== undefined && fit.maxError > request.maxError) {
      fail('PARAMS', `${where}: the square activation's max error ${fmt(fit.maxError)} exceeds ${fmt(request.maxError)}; use a polynomial method or a narrower range`);
    }
    return fit;
  }
  if (request.maxError !== undefined) {
    let last: Fit | undefined;
    for (let degree = 1; degree <= MAX_DEGREE; degree = 2 * degree + 1) {
      last = fitAtDegree(use, range, method, degree);
      if (last.maxError <= request.maxError) return last;
    }
    fail('PARAMS', `${where}: no degree ≤ ${MAX_DEGREE} reaches max error ${fmt(request.maxError)} (degree ${MAX_DEGREE} gives ${fmt(last!.maxError)}); allow a larger error or narrow the range`);
  }
  const degree = request.degree ?? DEFAULT_DEGREE;
  if (!Number.isInteger(degree) || degree < 0 || degree > MAX_DEGREE) {
    fail('BAD_ARGUMENT', `${where}: degree ${degree} must be an integer from 0 to ${MAX_DEGREE}`);
  }
  return fitAtDegree(use, range, method, degree);
}

function fitAtDegree(use: ActivationUse, range: Range, method: FitMethod, degree: number): Fit {
  const f = activationFunction(use);
  const interpolant = dropNoise(symmetrize(chebyshevInterpolate(f, range, degree), f, range));
  const interpolantError = maxFitError(use, range, interpolant);
  if (method === 'chebyshev') {
    return { ...use, range, method, chebyshev: interpolant, degree, maxError: interpolantError };
  }
  const remez = remezFit(f, range, degree, { kinks: activationKinks(use) });
  const fallback = (why: string): Fit => ({
    ...use,
    range,
    method: 'chebyshev',
    chebyshev: interpolant,
    degree,
    maxError: interpolantError,
    note: `${method === 'square' ? 'square (minimax quadratic)' : 'Remez'} fit ${why}; using Chebyshev interpolation`,
  });
  if (remez.chebyshev === null) return fallback(`failed (${remez.reason ?? 'no solution'})`);
  const coeffs = dropNoise(symmetrize(remez.chebyshev, f, range));
  const error = maxFitError(use, range, coeffs);
  if (!(error <= interpolantError)) {
    return fallback(`was no better than interpolation (${fmt(error)} ≥ ${fmt(interpolantError)}${remez.converged ? '' : `; ${remez.reason}`})`);
  }
  return {
    ...use,
    range,
    method,
    chebyshev: coeffs,
    degree,
    maxError: error,
    ...(remez.converged ? {} : { note: `Remez stopped early (${remez.reason}); using its best polynomial` }),
  };
}

/** Max |f − p| on the error grid: ERROR_GRID_POINTS uniform points plus f's kinks inside the range. */
export function maxFitError(use: ActivationUse, range: Range, chebyshev: ArrayLike<number>): number {
  const f = activationFunction(use);
  const [lo, hi] = range;
  let worst = 0;
  const check = (x: number): void => {
    const e = Math.abs(f(x) - clenshaw(chebyshev, toUnit(x, range)));
    if (!(e <= worst)) worst = e; // NaN propagates as the worst error
  };
  for (let i = 0; i < ERROR_GRID_POINTS; i++) check(lo + ((hi - lo) * i) / (ERROR_GRID_POINTS - 1));
  for (const k of activationKinks(use)) if (k > lo && k < hi) check(k);
  return worst;
}

/**
 * Makes exact the symmetry f has on this range, in the normalised variable g(t) = f(x(t)):
 * g odd about g(0) (sigmoid, tanh on a symmetric range) zeroes the even terms; g even plus a
 * linear term (ReLU on a symmetric range) zeroes the odd terms above T_1. The best approximation
 * shares the function's symmetry, and averaging p with its mirror image never raises the max
 * error; the exact zeros are what let the evaluator skip half the baby steps.
 */
function symmetrize(coeffs: Float64Array, f: (x: number) => number, range: Range): Float64Array {
  const g = (t: number): number => f(0.5 * (range[0] + range[1]) + 0.5 * (range[1] - range[0]) * t);
  const g0 = g(0);
  const slope = 0.5 * (g(1) - g(-1));
  let scale = 0;
  let oddDefect = 0;
  let evenDefect = 0;
  for (let i = 1; i <= 1000; i++) {
    const t = i / 1000;
    const gp = g(t);
    const gm = g(-t);
    scale = Math.max(scale, Math.abs(gp), Math.abs(gm));
    oddDefect = Math.max(oddDefect, Math.abs(gp + gm - 2 * g0));
    evenDefect = Math.max(evenDefect, Math.abs(gp - gm - 2 * slope * t));
  }
  const tolerance = 1e-13 * Math.max(scale, 1e-300);
  const out = Float64Array.from(coeffs);
  if (oddDefect <= tolerance) {
    out[0] = g0;
    for (let k = 2; k < out.length; k += 2) out[k] = 0;
  } else if (evenDefect <= tolerance) {
    if (out.length > 1) out[1] = slope;
    for (let k = 3; k < out.length; k += 2) out[k] = 0;
  }
  return out;
}

/**
 * Zeroes coefficients below float64 resolution of the largest one (4ε·max|c|). They are rounding
 * noise, not shape: ReLU on an all-positive range is x plus noise in T_2..T_d, and without this
 * the evaluator would spend d's full depth on it.
 */
function dropNoise(coeffs: Float64Array): Float64Array {
  const largest = coeffs.reduce((m, c) => Math.max(m, Math.abs(c)), 0);
  const floor = 4 * Number.EPSILON * largest;
  return coeffs.map((c) => (Math.abs(c) <= floor ? 0 : c));
}

function fmt(x: number): string {
  return x.toExponential(2);
}
