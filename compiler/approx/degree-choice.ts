/**
 * The default polynomial degree, chosen from the calibration rows (`degree: 'auto'`).
 *
 * Rule: try the degrees 2^k − 1 for k = 2..8 (3, 7, 15, 31, 63, 127, 255), the same degree for every
 * activation of the model, smallest first, and keep the first whose float64 approximated chain —
 * exactly what the circuit computes: the polynomials on their (per-unit scaled) ranges with bias
 * correction — meets two targets on the calibration rows:
 *  - precision (first): every body output within `maxError` of the exact chain — the share of the
 *    model's precision promise the approximation may use (see precision-target);
 *  - labels (second check: for a body output of several scores, or one score the client epilogue
 *    turns into a class, e.g. by a Sigmoid, the share of rows with the same argmax (one score: the
 *    same sign, the logit's decision boundary); for a regression, the share of rows within
 *    REGRESSION_TOLERANCE of max(1, |exact|)) is ≥ minAgreement (default DEFAULT_MIN_AGREEMENT).
 *    The precision target is relative to the output range; a regression's small values need the
 *    per-row check, since 1% of the range can be many times 1% of a row's |y|.
 * The smallest passing degree is also the shallowest (depth ⌈log2(d + 1)⌉ per activation), so the
 * one that keeps N smallest. When no degree passes, the best wins — labels kept (else the best
 * agreement) first, then the smallest error, ties to the smaller degree — and the choice carries
 * a warning.
 *
 * Only the calibration rows are looked at: test rows are for evaluation. Each trial is one fit per
 * activation and two float64 passes over the rows (bias correction, then the outputs); no circuit
 * is lowered.
 */
import type { Calibration } from './calibrate';
import type { SplitModel, Stage } from '../chain/stages';
import { applyStages } from '../chain/run';
import { approxChainStats, type ChainStats } from './chain-stats';
import { approximateChain, type ApproximatedChain, type ChainApproximationOptions } from './approximate-chain';
import { correctPolynomialBias } from './bias-correction';
import { maxAbsError } from './precision-target';

/**
 * The degrees auto tries, in order: 2^k − 1 for k = 2..8 (depth 2..8 per activation). 127 and
 * 255 are tried only when the degree before misses: a ReLU's kink error halves (or better) with
 * each doubling, which is what wide-ranged regressions and residual sums need to keep the 1%
 * promise and each row's 1%.
 */
export const AUTO_DEGREES: readonly number[] = [3, 7, 15, 31, 63, 127, 255];

/**
 * When no degree meets the targets, the best effort is chosen among degrees up to this one: 127
 * costs every activation a level, and on a model that misses anyway the smaller scale that level
 * forces adds more CKKS noise than the better fit removes.
 */
export const FALLBACK_MAX_DEGREE = 63;

/**
 * Share of calibration rows whose class must survive the approximation. On 200 calibration rows
 * this asks for all of them: measured on the fixtures (calibration agreement → simulated test-row
 * agreement with the framework, 100 rows), a degree at 99.5% on calibration kept only 97% of the
 * test rows twice (pt_mlp_bn_digits at 3 and 7, pt_mlp_digits_relu at 15), while every degree at
 * 100% kept ≥ 99%. 0.999 rather than 1 lets a large calibration set have a near-tie row or two.
 */
export const DEFAULT_MIN_AGREEMENT = 0.999;

/** Largest error a regression output may have, relative to max(|exact|, 1) (outputAgreement's count). */
export const REGRESSION_TOLERANCE = 0.01;

/** How approximated and exact body outputs are compared. */
export type OutputComparison = 'argmax' | 'sign' | 'relative-error';

export interface DegreeTrial {
  readonly degree: number;
  /** Share of calibration rows that agree (regression: rows within the tolerance). */
  readonly agreement: number;
  /** Regression only: largest error relative to max(|exact|, 1). */
  readonly maxRelativeError?: number;
  /** Largest |approximated − exact| body output on the calibration rows. */
  readonly maxError: number;
}

export interface DegreeChoice {
  readonly mode: 'auto';
  readonly comparison: OutputComparison;
  /**
   * What a degree had to reach on the calibration rows: at most maxError on every body output,
   * and minAgreement of the rows (labels kept; regressions: within REGRESSION_TOLERANCE).
   */
  readonly target: { readonly maxError: number; readonly minAgreement: number };
  readonly rows: number;
  /** Degrees in the order tried; trying stops at the first that reaches the target. */
  readonly tried: readonly DegreeTrial[];
  readonly degree: number;
  readonly reached: boolean;
  /** Set when no degree reached the target. */
  readonly warning?: string;
}

/** One fully approximated chain: polynomials fitted, bias corrected, evaluated on the rows. */
export interface ApproximationTrial extends ApproximatedChain {
  readonly stats: ChainStats;
}

export interface BodyApproximationOptions extends ChainApproximationOptions {
  /** Fold each activation's mean polynomial error out of the next bias (default true). */
  readonly biasCorrection?: boolean;
}

/** The approximated chain the circuit will compute, and its float64 run on `rows`. */
export function approximateBody(body: readonly Stage[], calibration: Calibration, rows: readonly Float64Array[], options: BodyApproximationOptions): ApproximationTrial {
  const approximated = approximateChain(body, calibration, options);
  const stages = options.biasCorrection === false ? approximated.stages : correctPolynomialBias(approximated.stages, rows);
  return { stages, approximations: approximated.approximations, stats: approxChainStats(stages, rows) };
}

/**
 * How the body's outputs decide the prediction. Several outputs are scores (logits, class
 * scores): argmax. One output followed by client steps is a binary classifier's score: its sign
 * (the Sigmoid or linear decision threshold in score space). One output with no epilogue is a
 * regression value.
 */
export function outputComparison(split: Pick<SplitModel, 'bodyOutputShape' | 'epilogue'>): OutputComparison {
  const width = split.bodyOutputShape.reduce((a, b) => a * b, 1);
  if (width > 1) return 'argmax';
  return split.epilogue.length > 0 ? 'sign' : 'relative-error';
}

export interface Agreement {
  readonly agreement: number;
  readonly maxRelativeError?: number;
}

/** How often `approx` makes the same prediction as `exact`, row by row. */
export function outputAgreement(comparison: OutputComparison, exact: readonly Float64Array[], approx: readonly Float64Array[]): Agreement {
  const rows = exact.length;
  if (rows === 0) return { agreement: 1 };
  let agree = 0;
  let worst = 0;
  for (let r = 0; r < rows; r++) {
    const e = exact[r]!;
    const a = approx[r]!;
    if (comparison === 'argmax') {
      if (argmax(e) === argmax(a)) agree++;
    } else if (comparison === 'sign') {
      if (e[0]! > 0 === a[0]! > 0) agree++;
    } else {
      let rowWorst = 0;
      for (let i = 0; i < e.length; i++) rowWorst = Math.max(rowWorst, Math.abs(a[i]! - e[i]!) / Math.max(Math.abs(e[i]!), 1));
      if (!(rowWorst <= worst)) worst = rowWorst; // NaN stays
      if (rowWorst <= REGRESSION_TOLERANCE) agree++;
    }
  }
  return comparison === 'relative-error' ? { agreement: agree / rows, maxRelativeError: worst } : { agreement: agree / rows };
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

export interface DegreeSearch {
  readonly body: readonly Stage[];
  readonly calibration: Calibration;
  /** The calibration rows at the body's input (prologue applied). */
  readonly rows: readonly Float64Array[];
  readonly comparison: OutputComparison;
  readonly minAgreement?: number;
  /** Largest |approximated − exact| body output allowed on the calibration rows. */
  readonly maxError: number;
  /** Everything else the approximation takes (method, margin, unit bounds, bias correction). */
  readonly options: Omit<BodyApproximationOptions, 'degree' | 'maxError'>;
  /** Try only AUTO_DEGREES up to this one (default: all). */
  readonly maxDegree?: number;
}

/** The smallest AUTO_DEGREES degree meeting the target, with its approximated chain. */
export function chooseDegree(search: DegreeSearch): { readonly choice: DegreeChoice; readonly trial: ApproximationTrial } {
  const minAgreement = search.minAgreement ?? DEFAULT_MIN_AGREEMENT;
  const exact = search.rows.map((r) => applyStages(search.body, r));
  const keepsLabels = (t: DegreeTrial): boolean => t.agreement >= minAgreement;
  const passes = (t: DegreeTrial): boolean => t.maxError <= search.maxError && keepsLabels(t);
  const tried: DegreeTrial[] = [];
  const trials: ApproximationTrial[] = [];
  const degrees = AUTO_DEGREES.filter((d) => d <= (search.maxDegree ?? Infinity));
  for (const degree of degrees) {
    const trial = approximateBody(search.body, search.calibration, search.rows, { ...search.options, degree });
    const t = { degree, ...outputAgreement(search.comparison, exact, trial.stats.outputs), maxError: maxAbsError(exact, trial.stats.outputs) };
    tried.push(t);
    trials.push(trial);
    if (passes(t)) break;
  }
  const last = tried.length - 1;
  const reached = passes(tried[last]!);
  // Strictly better only, so a tie keeps the smaller (shallower) degree.
  const better = (a: DegreeTrial, b: DegreeTrial): boolean => {
    if (keepsLabels(a) !== keepsLabels(b)) return keepsLabels(a);
    if (!keepsLabels(a) && a.agreement !== b.agreement) return a.agreement > b.agreement;
    return errorRank(a.maxError) < errorRank(b.maxError);
  };
  const best = reached ? last : tried.reduce((b, t, i) => (t.degree <= FALLBACK_MAX_DEGREE && better(t, tried[b]!) ? i : b), 0);
  const target = { maxError: search.maxError, minAgreement };
  const chosen = tried[best]!;
  const choice: DegreeChoice = {
    mode: 'auto',
    comparison: search.comparison,
    target,
    rows: search.rows.length,
    tried,
    degree: chosen.degree,
    reached,
    ...(reached
      ? {}
      : {
          warning:
            `no degree in ${degrees.join(', ')} reaches ${describeTarget(search.comparison, search.maxError, minAgreement)} on the ${search.rows.length} calibration rows; ` +
            `using degree ${chosen.degree} (${describeTrial(chosen)}${degrees.some((d) => d > FALLBACK_MAX_DEGREE) ? `; above ${FALLBACK_MAX_DEGREE} a degree is kept only when it reaches the target` : ''}); give a larger --precision, --degree D, or more calibration rows`,
        }),
  };
  return { choice, trial: trials[best]! };
}

/** A NaN error ranks last. */
function errorRank(e: number): number {
  return Number.isNaN(e) ? Infinity : e;
}

function describeTarget(comparison: OutputComparison, maxError: number, minAgreement: number): string {
  const precision = `every body output within ${maxError.toPrecision(3)} of the exact chain`;
  const rows = comparison === 'relative-error' ? `rows within ${REGRESSION_TOLERANCE * 100}% of max(1, |y|)` : `${comparison} agreement`;
  return `${precision} with ${rows} ≥ ${minAgreement * 100}%`;
}

/** One trial in words, e.g. "agreement 99.5%" or "max relative error 0.4%". */
export function describeTrial(t: DegreeTrial): string {
  const error = `max error ${t.maxError.toPrecision(3)}`;
  if (t.maxRelativeError !== undefined) return `${error}, ${(t.agreement * 100).toFixed(1)}% of rows within ${REGRESSION_TOLERANCE * 100}%`;
  return `${error}, agreement ${(t.agreement * 100).toFixed(1)}%`;
}
