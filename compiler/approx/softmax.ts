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
 * That direct construction needs exp's absolute error ε small next to the smallest row sum:
 * when the scores are tens of units wide and some rows sit far below the calibrated maximum
 * (flat rows next to peaked ones: sums of 10⁻⁸), no polynomial gets there. Then the plan is by
 * powers (planPowers): exp((x_i − c)/T) for T = 2^r, a polynomial with small *relative* error on
 * a range T times narrower, normalised, then r rounds of squaring and normalising again. Only
 * the last division must be exact: a division by any z > 0 per row cancels in the rounds after
 * it, so the others are a cheap interpolant each (SoftmaxRound). Each round is a stage of its
 * own (RowPart), so client-aided refreshes may cut between them.
 *
 * API (what the graph passes call): `planSoftmax(n, ranges, target)` once per Softmax node from
 * its calibrated ranges, then `evaluateSoftmax(pb, row, plan)` per row through any PolyBuilder —
 * numberBuilder/vectorBuilder give the float64 semantics, `emitSoftmax` (circuit/transformer-
 * lowering.ts) the circuit. A row is n values of the same kind: one ciphertext per element, the
 * rows' other axes (tokens, heads, samples) in the slots, so the sum is additions only; or, with an
 * `AxisSum`, a row packed in the slots of one value and summed by rotations.
 *
 * The error bound of the direct plan (`maxError`, absolute on every y_i, for x inside the score
 * range and S inside the sum range): with |ê_i − e_i| ≤ ε (exp's fit), |Ŝ − S| ≤ nε and
 * |z·Ŝ − 1| ≤ r (Newton),
 *   |ê_i z − e_i/S| ≤ ε(1 + n)/S_lo + (1 + (n − 1)ε/S_lo)·r;
 * that of a plan by powers at planPowers.
 */
import { DeepPowersError, fail } from '../errors';
import { CountingBuilder } from './builders';
import type { Range } from './chebyshev';
import { evaluateExp, planExp, type ExpPlan } from './exp-range';
import { DEFAULT_MARGIN, widenRange } from './fit';
import { evaluateNewton, planNewton, type NewtonPlan } from './newton';
export { softmaxReference } from '../chain/normalize';
import type { PolyBuilder } from './poly-builder';
import type { RowPart } from '../chain/rowwise';

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

/**
 * One division of the row by (an estimate of) its sum: the values (squared first in a powers
 * round) summed, z ≈ 1/(k·S) from `inverse` on k·sumRange, k = 2/(S_hi − S_lo), and each value
 * times z. Every round but the last is coarse: an interpolant alone, whose only duty is to keep
 * the row sums near 1 — any z > 0 per row cancels exactly in the rounds after it
 * (e·z/Σ(e·z) = e/S), so its error never reaches the result. The last round is the exact one
 * (Newton steps to the plan's target).
 */
export interface SoftmaxRound {
  /** The values are squared before they are summed (a powers round: N(N(v)²) = N(v²)). */
  readonly square: boolean;
  /** The range of the row sums this round divides by (of the squares, in a powers round). */
  readonly sumRange: Range;
  /** 1/x on k·sumRange (its t is then an addition). */
  readonly inverse: NewtonPlan;
}

export interface SoftmaxPlan {
  /** Row length. */
  readonly n: number;
  /**
   * The exps compute exp((x − c)/T)·k: T = 1 for a direct plan; T = 2^r for a plan by powers,
   * whose r squaring rounds raise them to exp(x − c) up to a factor per row.
   */
  readonly temperature: number;
  /** exp((x − c)/T) on the score range (its `range` is x's, its fit on (range − c)/T). */
  readonly exp: ExpPlan;
  /** The divisions, in order: the last is exact, those before it coarse (SoftmaxRound). */
  readonly rounds: readonly SoftmaxRound[];
  /** Bound on |ŷ_i − y_i| (see the module comment). */
  readonly maxError: number;
  /** Levels from the inputs to the outputs. */
  readonly depth: number;
}

export const DEFAULT_SOFTMAX_ERROR = 2 ** -10;
/** A direct 1/S deeper than this many levels gets a prescale round (a coarse round first). */
export const PRESCALE_DEPTH = 6;
/** The prescale round's relative error: its row sums land within this of 1. */
const PRESCALE_ERROR = 0.75;
/** Most squaring rounds a plan by powers uses (T = 2^r up to 64: scores about 200 units wide). */
export const MAX_POWER_ROUNDS = 6;
/** The coarse rounds' relative errors tried in a plan by powers (each picks the next round's sum range). */
const COARSE_ERRORS = [0.25, 0.5, 0.75];
/**
 * Slack on the analytic sum range of a powers round: [(1 − ρ)²/n, (1 + ρ)²] holds exactly in
 * real arithmetic; the slack covers CKKS noise and the rounding of the coarse z.
 */
const ROUND_SLACK = 1.1;

/** A positive range widened multiplicatively: [lo/m, hi·m]. */
export function widenPositive([lo, hi]: Range, margin: number): Range {
  if (!(lo > 0 && lo <= hi && Number.isFinite(hi))) fail('BAD_ARGUMENT', `range [${lo}, ${hi}] must be finite and above 0`);
  return [lo / margin, hi * margin];
}

/**
 * The shallower of the two constructions that meet the target (the direct one on a tie): direct
 * (exp on the whole score range, absolute error ε against the smallest row sum) suits narrow
 * ranges; by powers (exp at temperature 2^r with relative error, then r squaring rounds) suits
 * wide ones, where the direct exp would need an absolute error below any polynomial's reach.
 */
export function planSoftmax(n: number, ranges: SoftmaxRanges, target: SoftmaxTarget = {}): SoftmaxPlan {
  if (!Number.isInteger(n) || n < 1) fail('BAD_ARGUMENT', `a softmax row of ${n} values`);
  let direct: SoftmaxPlan | null = null;
  let refusal: unknown = null;
  try {
    direct = planDirect(n, ranges, target);
  } catch (e) {
    if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS') throw e;
    refusal = e;
  }
  const powers = n >= 2 ? planPowers(n, ranges, target) : null;
  if (direct && (!powers || direct.depth <= powers.depth)) return direct;
  if (powers) return powers;
  throw refusal;
}

function planDirect(n: number, ranges: SoftmaxRanges, target: SoftmaxTarget): SoftmaxPlan {
  const maxError = target.maxError ?? DEFAULT_SOFTMAX_ERROR;
  const margin = target.margin ?? DEFAULT_MARGIN;
  const [lo, hi] = ranges.scores;
  const scores = widenRange(ranges.scores, margin);
  const offset = hi;
  const sums = ranges.sums ?? [n * Math.exp(lo - hi), n];
  const sumRange = widenPositive(sums, margin);
  // Half the budget to the exps, half to 1/S: ε(1 + n)/S_lo ≤ maxError/2 and r ≤ maxError/3.
  const exp = planExp(scores, offset, { maxError: (maxError / 2) * (sumRange[0] / (1 + n)) });
  const direct = planNewton('inverse', scaledRange(sumRange), { relativeError: maxError / 3 });
  const prescale = direct.depth > PRESCALE_DEPTH ? planPrescale(scaledRange(sumRange), margin) : null;
  const rounds: SoftmaxRound[] = prescale
    ? [
        { square: false, sumRange, inverse: prescale.inverse },
        { square: false, sumRange: prescale.sumRange, inverse: planNewton('inverse', scaledRange(prescale.sumRange), { relativeError: maxError / 3 }) },
      ]
    : [{ square: false, sumRange, inverse: direct }];
  // z₁ cancels exactly, so the bound is the direct one with the final round's relative error.
  const eps = exp.maxError;
  const r = rounds[rounds.length - 1]!.inverse.relativeBound;
  const bound = (eps * (1 + n)) / sumRange[0] + (1 + ((n - 1) * eps) / sumRange[0]) * r;
  return withDepth({ n, temperature: 1, exp, rounds, maxError: bound, depth: 0 });
}

/**
 * Softmax by powers at temperature T = 2^r: u_i = exp((x_i − c)/T) with relative error δ (a
 * polynomial on a range T times narrower), a coarse division, then r rounds that square the
 * values and divide again; the last division is exact. In real arithmetic the result is
 * N(u^T) = softmax(x) whatever the coarse z's were, so the error is exp's alone, raised to the
 * T-th power: each e_i = exp(x_i − c)(1 + b_i) with |b_i| ≤ β = (1 + δ)^T − 1, and
 *   |ŷ_i − y_i| ≤ 2β/(1 − β) + (1 + β)/(1 − β)·r     (r: the last round's relative error).
 * The sum ranges: the first from the calibrated log-sum-exp L of the rows (with convexity of
 * β ↦ log Σ e^(βx): β(L − log n) ≤ log Σ e^(βx) ≤ (1 − β) log n + βL) and from the score range;
 * each later one analytic: a row whose sum is within ρ of 1 has its squares' sum in
 * [(1 − ρ)²/n, (1 + ρ)²], whatever its scores — so the rounds do not depend on calibration.
 * Null when no temperature up to 2^MAX_POWER_ROUNDS meets the target.
 */
function planPowers(n: number, ranges: SoftmaxRanges, target: SoftmaxTarget): SoftmaxPlan | null {
  const maxError = target.maxError ?? DEFAULT_SOFTMAX_ERROR;
  const margin = target.margin ?? DEFAULT_MARGIN;
  const scores = widenRange(ranges.scores, margin);
  const [lo, hi] = scores;
  // log Σ exp(x_i) over the calibrated rows (the sums are relative to the calibrated maximum).
  const lse: Range | null = ranges.sums ? [ranges.scores[1] + Math.log(ranges.sums[0]), ranges.scores[1] + Math.log(ranges.sums[1])] : null;
  let best: SoftmaxPlan | null = null;
  for (let r = 1; r <= MAX_POWER_ROUNDS; r++) {
    const T = 2 ** r;
    // β = (1 + δ)^T − 1 ≤ maxError/4, the last round's r ≤ maxError/3: the bound stays under maxError.
    const delta = (1 + maxError / 4) ** (1 / T) - 1;
    const eMin = Math.exp((lo - hi) / T);
    for (const coarse of COARSE_ERRORS) {
      const plan = attempt(() => {
        // exp((x − hi)/T) fitted on [(lo − hi)/T, 0], read in the same t as x on `scores`.
        const exp = { ...planExp([lo / T, hi / T], hi / T, { maxError: delta * eMin }), range: scores };
        const analytic: Range = [n * eMin, n];
        const calibrated: Range = lse ? [Math.exp((lse[0] - Math.log(n) - hi) / T), Math.exp((1 - 1 / T) * Math.log(n) + (lse[1] - hi) / T)] : analytic;
        const first = widenPositive([Math.max(analytic[0], calibrated[0]), Math.min(analytic[1], calibrated[1])], margin);
        const rounds: SoftmaxRound[] = [{ square: false, sumRange: first, inverse: planNewton('inverse', scaledRange(first), { relativeError: coarse, steps: 0 }) }];
        for (let j = 1; j <= r; j++) {
          const rho = rounds[j - 1]!.inverse.relativeBound;
          const sumRange: Range = [(1 - rho) ** 2 / (n * ROUND_SLACK), (1 + rho) ** 2 * ROUND_SLACK];
          const inverse = j < r ? planNewton('inverse', scaledRange(sumRange), { relativeError: coarse, steps: 0 }) : planNewton('inverse', scaledRange(sumRange), { relativeError: maxError / 3 });
          rounds.push({ square: true, sumRange, inverse });
        }
        const d = exp.maxError / eMin;
        const beta = (1 + d) ** T - 1;
        const last = rounds[rounds.length - 1]!.inverse.relativeBound;
        const bound = beta < 1 ? (2 * beta) / (1 - beta) + ((1 + beta) / (1 - beta)) * last : Infinity;
        return bound <= maxError ? withDepth({ n, temperature: T, exp, rounds, maxError: bound, depth: 0 }) : null;
      });
      if (plan && (best === null || plan.depth < best.depth)) best = plan;
    }
  }
  return best;
}

/** `make()`, or null where it refuses with PARAMS (no polynomial reaches its target). */
function attempt<T>(make: () => T | null): T | null {
  try {
    return make();
  } catch (e) {
    if (e instanceof DeepPowersError && e.code === 'PARAMS') return null;
    throw e;
  }
}

function withDepth(partial: SoftmaxPlan): SoftmaxPlan {
  const counter = new CountingBuilder();
  evaluateSoftmax(counter, Array.from({ length: partial.n }, () => counter.input()), partial);
  return { ...partial, depth: counter.maxDepth };
}

/** k·[lo, hi] for k = 2/(hi − lo): the range a round's 1/x works on (its t is then free). */
function scaledRange([lo, hi]: Range): Range {
  const k = 2 / (hi - lo);
  return [k * lo, k * hi];
}

/**
 * The coarse round of a direct plan: 1/x on the scaled sum range `range` by an interpolant alone
 * (no Newton step, so the next round's scale folds into its coefficients), or null when none
 * reaches PRESCALE_ERROR.
 */
function planPrescale(range: Range, margin: number): { readonly inverse: NewtonPlan; readonly sumRange: Range } | null {
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
 * `part` (see RowPart): `exps` returns the exps, scaled for the first round; `{ round: j }`
 * reads the values of the part before it and returns round j's; `whole` all in one.
 */
export function evaluateSoftmax<T>(pb: PolyBuilder<T>, row: readonly T[], plan: SoftmaxPlan, axis: AxisSum<T> = valueSum(pb, row.length), part: RowPart = 'whole'): T[] {
  if (axis.length !== plan.n) fail('BAD_ARGUMENT', `a softmax row of ${axis.length} values, the plan has ${plan.n}`);
  if (typeof part === 'object' && !(Number.isInteger(part.round) && part.round >= 0 && part.round < plan.rounds.length)) {
    fail('BAD_ARGUMENT', `softmax round ${part.round} of a plan with ${plan.rounds.length}`);
  }
  if (part === 'whole' || part === 'exps') {
    const values = row.map((x) => evaluateExp(pb, x, plan.exp, inputScale(plan, 0)));
    if (part === 'exps') return values;
    return plan.rounds.reduce((v, _r, j) => divideRound(pb, v, plan, j, axis), values);
  }
  return divideRound(pb, [...row], plan, part.round, axis);
}

/** k = 2/(S_hi − S_lo) of round j's sum range, the factor its sums must carry. */
function sumScale(round: SoftmaxRound): number {
  return 2 / (round.sumRange[1] - round.sumRange[0]);
}

/** The factor round j's input values carry: its k, or √k when it squares them first; 1 past the last round. */
function inputScale(plan: SoftmaxPlan, j: number): number {
  const round = plan.rounds[j];
  if (!round) return 1;
  return round.square ? Math.sqrt(sumScale(round)) : sumScale(round);
}

/**
 * Round j: x_i (squared in a powers round) times z, z from its inverse at k·S. The values come in
 * carrying k (√k when squared), so t = k·S − (hi + lo)/(hi − lo) is an integer-coefficient sum,
 * no level. A coarse round's z also carries the next round's factor, folded into its
 * coefficients (an interpolant alone, at no level).
 */
function divideRound<T>(pb: PolyBuilder<T>, values: readonly T[], plan: SoftmaxPlan, j: number, axis: AxisSum<T>): T[] {
  const round = plan.rounds[j]!;
  const [sLo, sHi] = round.sumRange;
  const terms = round.square ? values.map((v) => pb.mul(v, v)) : values;
  const kS = axis.sum(terms);
  const t = pb.linear([[kS, 1]], -(sHi + sLo) / (sHi - sLo));
  const next = inputScale(plan, j + 1);
  const inverse = next === 1 ? round.inverse : { ...round.inverse, chebyshev: round.inverse.chebyshev.map((c) => c * next) };
  if (next !== 1 && round.inverse.steps > 0) fail('BAD_ARGUMENT', 'a softmax round with Newton steps before another round');
  const z = evaluateNewton(pb, kS, inverse, t);
  return terms.map((e) => pb.mul(e, z));
}
