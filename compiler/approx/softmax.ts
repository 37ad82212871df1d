/**
 * Softmax over one row of n values, evaluated by the server (no max, no comparison):
 *   e_i = exp(x_i − c)          c = the calibrated maximum score; a polynomial (exp-range.ts)
 *   S   = Σ e_i                 additions
 *   z   ≈ 1/S                   interpolant + Newton steps (newton.ts) on S's calibrated range
 *   y_i = e_i · z               one product
 * The map of S to [−1, 1] for the interpolant costs no level: the exps come out multiplied by
 * k = 2/(S_hi − S_lo) (folded into their coefficients), so kS − (S_hi + S_lo)/(S_hi − S_lo) is
 * an addition, Newton runs on kS (z ≈ 1/(kS)) and the k's cancel in e_i·z.
 *
 * API (what the graph passes call): `planSoftmax(n, ranges, target)` once per Softmax node from
 * its calibrated ranges, then `evaluateSoftmax(pb, row, plan)` per row through any PolyBuilder —
 * numberBuilder/vectorBuilder give the float64 semantics, `emitSoftmax` (circuit/transformer-
 * lowering.ts) the circuit. A row is n values of the same kind: one ciphertext per element, the
 * rows' other axes (tokens, heads, samples) in the slots, so the sum is additions only; or, with an
 * `AxisSum`, a row packed in the slots of one value and summed by rotations.
 *
 * The error bound (`maxError`, absolute on every y_i, for x inside the score range and S inside
 * the sum range): with |ê_i − e_i| ≤ ε (exp's fit), |Ŝ − S| ≤ nε and |z·Ŝ − 1| ≤ r (Newton),
 *   |ê_i z − e_i/S| ≤ ε(1 + n)/S_lo + (1 + (n − 1)ε/S_lo)·r.
 */
import { fail } from '../errors';
import { CountingBuilder } from './builders';
import type { Range } from './chebyshev';
import { evaluateExp, planExp, type ExpPlan } from './exp-range';
import { DEFAULT_MARGIN, widenRange } from './fit';
import { evaluateNewton, planNewton, type NewtonPlan } from './newton';
export { softmaxReference } from '../chain/normalize';
import type { PolyBuilder } from './poly-builder';
import type { SoftmaxPart } from '../chain/rowwise';

export interface SoftmaxRanges {
  /** Smallest and largest softmax input seen on the calibration rows. */
  readonly scores: Range;
  /**
   * Smallest and largest row sum Σ exp(x_i − max score) on the calibration rows. Absent: the
   * bound n·exp(lo − hi) … n that the score range alone implies (wide, so a costlier 1/S).
   */
  readonly sums?: Range;
}

export interface SoftmaxTarget {
  /** Largest |ŷ_i − y_i| allowed (every y_i is in [0, 1]). Default 2^−10. */
  readonly maxError?: number;
  /** Margin on the calibrated ranges: the score range is widened by it about its centre, the sum range divided and multiplied by it. Default DEFAULT_MARGIN. */
  readonly margin?: number;
}

export interface SoftmaxPlan {
  /** Row length. */
  readonly n: number;
  readonly exp: ExpPlan;
  /** The sum's range after its margin, S_lo > 0. */
  readonly sumRange: Range;
  /** 1/x on k·sumRange, k = 2/(S_hi − S_lo). */
  readonly inverse: NewtonPlan;
  /** Bound on |ŷ_i − y_i| (see the module comment). */
  readonly maxError: number;
  /** Levels from the inputs to the outputs. */
  readonly depth: number;
}

export const DEFAULT_SOFTMAX_ERROR = 2 ** -10;

/** A positive range widened multiplicatively: [lo/m, hi·m]. */
export function widenPositive([lo, hi]: Range, margin: number): Range {
  if (!(lo > 0 && lo <= hi && Number.isFinite(hi))) fail('BAD_ARGUMENT', `range [${lo}, ${hi}] must be finite and above 0`);
  return [lo / margin, hi * margin];
}

export function planSoftmax(n: number, ranges: SoftmaxRanges, target: SoftmaxTarget = {}): SoftmaxPlan {
  if (!Number.isInteger(n) || n < 1) fail('BAD_ARGUMENT', `a softmax row of ${n} values`);
  const maxError = target.maxError ?? DEFAULT_SOFTMAX_ERROR;
  const margin = target.margin ?? DEFAULT_MARGIN;
  const [lo, hi] = ranges.scores;
  const scores = widenRange(ranges.scores, margin);
  const offset = hi;
  const sums = ranges.sums ?? [n * Math.exp(lo - hi), n];
  const sumRange = widenPositive(sums, margin);
  // Half the budget to the exps, half to 1/S: ε(1 + n)/S_lo ≤ maxError/2 and r ≤ maxError/3.
  const exp = planExp(scores, offset, { maxError: (maxError / 2) * (sumRange[0] / (1 + n)) });
  const k = 2 / (sumRange[1] - sumRange[0]);
  const inverse = planNewton('inverse', [k * sumRange[0], k * sumRange[1]], { relativeError: maxError / 3 });
  const eps = exp.maxError;
  const bound = (eps * (1 + n)) / sumRange[0] + (1 + ((n - 1) * eps) / sumRange[0]) * inverse.relativeBound;
  const partial = { n, exp, sumRange, inverse, maxError: bound, depth: 0 };
  const counter = new CountingBuilder();
  evaluateSoftmax(counter, Array.from({ length: n }, () => counter.input()), partial);
  return { ...partial, depth: counter.maxDepth };
}

/**
 * How a construct sums along its axis: `sum` takes the construct's values (elementwise results so
 * far, one per input value) and returns their sum along the axis as one value that stands for it
 * at every element. The default (`valueSum`) holds one element per value and adds them; a packed
 * layout, the elements in slots of one value, sums by rotations (circuit/transformer-lowering.ts).
 */
export interface AxisSum<T> {
  /** Elements along the axis (the row length, the feature count). */
  readonly length: number;
  sum(values: readonly T[]): T;
}

/** One element per value: the sum is their additions, no level. */
export function valueSum<T>(pb: PolyBuilder<T>, length: number): AxisSum<T> {
  return { length, sum: (values) => values.slice(1).reduce((acc, v) => pb.add(acc, v), values[0]!) };
}

/**
 * `part` (see SoftmaxPart): `exps` returns the scaled exps k·ê_i; `normalize` reads them as `row`
 * and returns ê_i·z; `whole` both in one.
 */
export function evaluateSoftmax<T>(pb: PolyBuilder<T>, row: readonly T[], plan: SoftmaxPlan, axis: AxisSum<T> = valueSum(pb, row.length), part: SoftmaxPart = 'whole'): T[] {
  if (axis.length !== plan.n) fail('BAD_ARGUMENT', `a softmax row of ${axis.length} values, the plan has ${plan.n}`);
  const [sLo, sHi] = plan.sumRange;
  const k = 2 / (sHi - sLo);
  const scaled = part === 'normalize' ? [...row] : row.map((x) => evaluateExp(pb, x, plan.exp, k));
  if (part === 'exps') return scaled;
  const kS = axis.sum(scaled);
  // t = kS − (S_hi + S_lo)/(S_hi − S_lo): an integer coefficient, no level.
  const t = pb.linear([[kS, 1]], -(sHi + sLo) / (sHi - sLo));
  const z = evaluateNewton(pb, kS, plan.inverse, t);
  return scaled.map((e) => pb.mul(e, z));
}
