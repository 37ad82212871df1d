/**
 * The precision a compiled model promises: a bound on the encrypted error of its body outputs,
 * relative to their calibrated range (largest minus smallest body output on the calibration rows,
 * all outputs together). The bound is split between the two things that make an encrypted output
 * differ from the exact model:
 *  - the approximation (polynomials in place of activations), measured exactly in float64 on the
 *    calibration rows — degree auto keeps the smallest degree whose error fits its share;
 *  - CKKS noise, which the parameter search bounds by asking for enough fractional bits above
 *    the noise (per unit of output magnitude, the parameter policy's unit) to cover the rest.
 * The promise is reached when both parts fit. Label agreement on the calibration rows is checked
 * separately (degree-choice): a model can keep every label and still be imprecise, or the reverse.
 */
import { fail } from '../errors';

export interface PrecisionPromise {
  /** The target: largest error as a share of the calibrated output range. */
  readonly relative: number;
  /** Smallest and largest exact body output on the calibration rows. */
  readonly outputRange: readonly [number, number];
  /** The promise in output units: relative × (hi − lo). */
  readonly bound: number;
  /** Largest |approximated − exact| body output on the calibration rows (float64, no CKKS noise). */
  readonly approximationError: number;
  /** CKKS noise the parameters allow for: 2^−expectedPrecisionBits per unit of output magnitude. */
  readonly noiseBound: number;
  /** approximationError + noiseBound ≤ bound. */
  readonly reached: boolean;
}

/** Default bound: 1% of the calibrated output range. */
export const DEFAULT_PRECISION = 0.01;

/**
 * Share of the bound the approximation may use; CKKS noise gets the rest (at least this
 * complement). Noise costs a few bits of scale, the approximation costs depth, so most of the
 * budget goes to the approximation.
 */
export const APPROXIMATION_SHARE = 0.95;


export function checkPrecision(relative: number): number {
  if (!(relative > 0 && relative < 1)) fail('BAD_ARGUMENT', `--precision ${relative} must be a share of the output range in (0, 1), e.g. 0.01 for 1%`);
  return relative;
}

/** [min, max] over every output of every row. */
export function calibratedOutputRange(outputs: readonly Float64Array[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of outputs) {
    for (const v of row) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (!(lo <= hi) || !Number.isFinite(lo) || !Number.isFinite(hi)) fail('BAD_DATA', 'the calibration rows give no finite body outputs');
  return [lo, hi];
}

/**
 * The absolute bound for a range. A constant output (hi = lo) has no range to be relative to; its
 * magnitude (at least 1) stands in, so the bound stays positive.
 */
export function absoluteBound(relative: number, range: readonly [number, number]): number {
  const width = range[1] - range[0];
  return relative * (width > 0 ? width : Math.max(Math.abs(range[0]), 1));
}

/** Largest |a − b| over all rows and outputs (NaN when any value is not finite). */
export function maxAbsError(exact: readonly Float64Array[], approx: readonly Float64Array[]): number {
  let worst = 0;
  exact.forEach((e, r) => {
    const a = approx[r]!;
    for (let i = 0; i < e.length; i++) {
      const d = Math.abs(a[i]! - e[i]!);
      if (!(d <= worst)) worst = d;
    }
  });
  return worst;
}

/** Largest |v| over the outputs, at least 1: the unit CKKS noise is counted in. */
export function outputMagnitude(outputs: readonly Float64Array[]): number {
  let m = 1;
  for (const row of outputs) for (const v of row) m = Math.max(m, Math.abs(v));
  return m;
}

/**
 * Fractional bits (per unit of output magnitude) the parameters must keep above CKKS noise so
 * that noise stays within what the approximation left of the bound (never less than the
 * complement of APPROXIMATION_SHARE).
 */
export function noisePrecisionBits(bound: number, approximationError: number, magnitude: number): number {
  const left = Math.max(bound - approximationError, (1 - APPROXIMATION_SHARE) * bound);
  return Math.max(0, Math.ceil(Math.log2(magnitude / left)));
}

export function precisionPromise(
  relative: number,
  outputRange: readonly [number, number],
  approximationError: number,
  magnitude: number,
  expectedPrecisionBits: number,
): PrecisionPromise {
  const bound = absoluteBound(relative, outputRange);
  const noiseBound = magnitude * 2 ** -expectedPrecisionBits;
  return { relative, outputRange, bound, approximationError, noiseBound, reached: approximationError + noiseBound <= bound };
}

/** e.g. "≤ 1% of the output range [−12.3, 25.8] (0.381)". */
export function describePromise(p: PrecisionPromise): string {
  const pct = (x: number): string => `${Number((x * 100).toPrecision(3))}%`;
  return `≤ ${pct(p.relative)} of the output range [${p.outputRange[0].toPrecision(4)}, ${p.outputRange[1].toPrecision(4)}] (${p.bound.toPrecision(3)})`;
}

/** Largest |got − exact| as a share of the promise's output range: the figure to print next to `relative`. */
export function measuredRelativeError(p: PrecisionPromise, exact: readonly Float64Array[], got: readonly Float64Array[]): number {
  return maxAbsError(exact, got) / (p.bound / p.relative);
}

/** "1.2% (promised ≤ 1%)": a measured error next to the promise. */
export function describeMeasured(p: PrecisionPromise, measured: number): string {
  const pct = (x: number): string => `${Number((x * 100).toPrecision(2))}%`;
  return `${pct(measured)} of the output range (promised ≤ ${pct(p.relative)}${p.reached ? '' : ', not met at compile time'})`;
}
