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
  /** 1/x on k·sumRange, k = 2/(S_hi − S_lo); on k'·prescale.sumRange after a prescale round. */
  readonly inverse: NewtonPlan;
  /**
   * A coarse round first, when 1/x on the whole sum range is deep (over PRESCALE_DEPTH levels,
   * a wide range): the exps times z₁ ≈ 1/(kS), a polynomial with no Newton step, so their row
   * sums land in `sumRange` (near 1, the interpolant's relative error either side), where the
   * final 1/x is shallow. Exact in real arithmetic (e·z₁/Σ(e·z₁) = e/S for any z₁ > 0 per row)
   * and a stage of its own, so a refresh may cut between the two rounds.
   */
  readonly prescale: { readonly inverse: NewtonPlan; readonly sumRange: Range } | null;
  /** Bound on |ŷ_i − y_i| (see the module comment). */
  readonly maxError: number;
  /** Levels from the inputs to the outputs. */
  readonly depth: number;
}

export const DEFAULT_SOFTMAX_ERROR = 2 ** -10;
/** A direct 1/S deeper than this many levels gets a prescale round (SoftmaxPlan.prescale). */
export const PRESCALE_DEPTH = 6;
/** The prescale round's relative error: its row sums land within this of 1. */
const PRESCALE_ERROR = 0.75;

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
  const direct = planNewton('inverse', [k * sumRange[0], k * sumRange[1]], { relativeError: maxError / 3 });
  const prescale = direct.depth > PRESCALE_DEPTH ? planPrescale([k * sumRange[0], k * sumRange[1]], margin) : null;
  const inverse = prescale ? planNewton('inverse', scaledRange(prescale.sumRange), { relativeError: maxError / 3 }) : direct;
  // z₁ cancels exactly, so the bound is the direct one with the final round's relative error.
  const eps = exp.maxError;
  const bound = (eps * (1 + n)) / sumRange[0] + (1 + ((n - 1) * eps) / sumRange[0]) * inverse.relativeBound;
  const partial = { n, exp, sumRange, inverse, prescale, maxError: bound, depth: 0 };
  const counter = new CountingBuilder();
  evaluateSoftmax(counter, Array.from({ length: n }, () => counter.input()), partial);
  return { ...partial, depth: counter.maxDepth };
}

/** k·[lo, hi] for k = 2/(hi − lo): the range a round's 1/x works on (its t is then free). */
function scaledRange([lo, hi]: Range): Range {
  const k = 2 / (hi - lo);
  return [k * lo, k * hi];
}

/**
 * The coarse round: 1/x on the scaled sum range `range` by an interpolant alone (no Newton step,
 * so the next round's scale folds into its coefficients), or null when none reaches PRESCALE_ERROR.
 */
function planPrescale(range: Range, margin: number): SoftmaxPlan['prescale'] {
  let inverse: NewtonPlan;
  try {
    inverse = planNewton('inverse', range, { relativeError: PRESCALE_ERROR, steps: 0 });
  } catch {
    return null;
  }
  const r = inverse.relativeBound;
  return { inverse, sumRange: widenPositive([1 - r, 1 + r], margin) };
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
 * `part` (see SoftmaxPart): `exps` returns the scaled exps k·ê_i; `prescale` reads them and
 * returns them times the coarse z₁ (and the final round's k'); `normalize` reads the values of
 * the part before it and returns them times the final z; `whole` all in one.
 */
export function evaluateSoftmax<T>(pb: PolyBuilder<T>, row: readonly T[], plan: SoftmaxPlan, axis: AxisSum<T> = valueSum(pb, row.length), part: SoftmaxPart = 'whole'): T[] {
  if (axis.length !== plan.n) fail('BAD_ARGUMENT', `a softmax row of ${axis.length} values, the plan has ${plan.n}`);
  if (part === 'prescale' && !plan.prescale) fail('BAD_ARGUMENT', 'a softmax prescale part of a plan without a prescale round');
  const k = 2 / (plan.sumRange[1] - plan.sumRange[0]);
  let values = part === 'whole' || part === 'exps' ? row.map((x) => evaluateExp(pb, x, plan.exp, k)) : [...row];
  if (part === 'exps') return values;
  if (plan.prescale && (part === 'whole' || part === 'prescale')) {
    // The next round's k' rides on z₁'s coefficients (an interpolant alone), at no level.
    const [lo, hi] = plan.prescale.sumRange;
    const coarse = { ...plan.prescale.inverse, chebyshev: plan.prescale.inverse.chebyshev.map((c) => (c * 2) / (hi - lo)) };
    values = divideRound(pb, values, plan.sumRange, coarse, axis);
    if (part === 'prescale') return values;
  }
  return divideRound(pb, values, plan.prescale ? plan.prescale.sumRange : plan.sumRange, plan.inverse, axis);
}

/**
 * x_i·z with z from `inverse` at k·S, S = Σ x_i/k: the values come in multiplied by k = 2/(hi − lo)
 * of the sum range, so t = k·S − (hi + lo)/(hi − lo) is an integer-coefficient sum, no level.
 */
function divideRound<T>(pb: PolyBuilder<T>, values: readonly T[], [sLo, sHi]: Range, inverse: NewtonPlan, axis: AxisSum<T>): T[] {
  const kS = axis.sum(values);
  const t = pb.linear([[kS, 1]], -(sHi + sLo) / (sHi - sLo));
  const z = evaluateNewton(pb, kS, inverse, t);
  return values.map((e) => pb.mul(e, z));
}
