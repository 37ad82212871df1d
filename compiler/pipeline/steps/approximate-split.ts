/**
 * Compile step 4: the calibrated chain → polynomials for its activations, either at one degree
 * (--degree, --max-error, the square method) or at the smallest 2^k − 1 degree whose approximated
 * chain keeps the calibration rows' predictions (degree auto), with the mean polynomial error
 * folded into the next bias and the range normalisation into the preceding affine map; and the
 * largest value the approximated chain reaches on the calibration rows, which sizes the first prime.
 */
import { approximateBody, chooseDegree, outputComparison, type ApproximationTrial, type BodyApproximationOptions, type DegreeChoice } from '../../approx/degree-choice';
import { absoluteBound, APPROXIMATION_SHARE, calibratedOutputRange, checkPrecision, DEFAULT_PRECISION, maxAbsError, outputMagnitude } from '../../approx/precision-target';
import { applyStages } from '../../chain/run';
import { fail } from '../../errors';
import { outputBitsForMagnitude } from '../../params/select';
import type { CompileOptions } from './options';
import type { CalibratedSplit } from './calibrate-split';

export interface ApproximatedSplit {
  readonly trial: ApproximationTrial;
  /** How degree auto chose; null when the degree was given or nothing is approximated. */
  readonly degreeChoice: DegreeChoice | null;
  /** Bits above the scale the largest calibration value needs. */
  readonly outputBits: number;
  /** The precision target and what the approximation spends of it on the calibration rows. */
  readonly target: PrecisionTarget;
}

export interface PrecisionTarget {
  readonly relative: number;
  readonly outputRange: readonly [number, number];
  readonly bound: number;
  readonly approximationError: number;
  /** Largest |exact body output|, at least 1: the unit CKKS noise is counted in. */
  readonly magnitude: number;
}

export type ApproximationRequest = Pick<CompileOptions, 'degree' | 'minAgreement' | 'maxError' | 'method' | 'margin' | 'biasCorrection' | 'precision'> & {
  /** Degree auto tries degrees up to this one only (the driver's second, shallower attempt). */
  readonly maxAutoDegree?: number;
};

export function approximateSplit(calibrated: CalibratedSplit, options: ApproximationRequest): ApproximatedSplit {
  const { degree, minAgreement } = options;
  const { split, rows, unitBounds, calibration } = calibrated;
  const body = split.body;
  if (degree !== undefined && options.maxError !== undefined) fail('BAD_ARGUMENT', 'give --degree or --max-error, not both');
  if (minAgreement !== undefined && !(minAgreement > 0 && minAgreement <= 1)) fail('BAD_ARGUMENT', `--min-agreement ${minAgreement} must be in (0, 1]`);
  const approxOptions: BodyApproximationOptions = {
    unitBounds,
    ...(options.maxError !== undefined ? { maxError: options.maxError } : {}),
    ...(options.method !== undefined ? { method: options.method } : {}),
    ...(options.margin !== undefined ? { margin: options.margin } : {}),
    ...(options.biasCorrection !== undefined ? { biasCorrection: options.biasCorrection } : {}),
  };
  const auto =
    (degree ?? (options.maxError === undefined ? 'auto' : undefined)) === 'auto' && options.method !== 'square' && body.some((s) => s.kind === 'activation');
  const relative = checkPrecision(options.precision ?? DEFAULT_PRECISION);
  const exact = rows.map((r) => applyStages(body, r));
  const outputRange = calibratedOutputRange(exact);
  const bound = absoluteBound(relative, outputRange);
  let degreeChoice: DegreeChoice | null = null;
  let trial: ApproximationTrial;
  if (auto) {
    const comparison = outputComparison(split);
    // Minimax fits (Remez) unless asked otherwise: about half the error of Chebyshev
    // interpolation at the same degree, so the precision target is met a degree (a level) lower.
    const fitOptions = { ...approxOptions, method: approxOptions.method ?? ('remez' as const) };
    const search = { body, calibration, rows, comparison, maxError: APPROXIMATION_SHARE * bound, options: fitOptions, ...(options.maxAutoDegree !== undefined ? { maxDegree: options.maxAutoDegree } : {}) };
    ({ choice: degreeChoice, trial } = chooseDegree({ ...search, ...(minAgreement !== undefined ? { minAgreement } : {}) }));
  } else {
    trial = approximateBody(body, calibration, rows, { ...approxOptions, ...(typeof degree === 'number' ? { degree } : {}) });
  }
  if (!Number.isFinite(trial.stats.maxAbs)) fail('BAD_DATA', 'the calibration rows drive the approximated chain to a non-finite value');
  const target = { relative, outputRange, bound, approximationError: maxAbsError(exact, trial.stats.outputs), magnitude: outputMagnitude(exact) };
  return { trial, degreeChoice, outputBits: outputBitsForMagnitude(trial.stats.maxAbs), target };
}
