/**
 * LayerNorm over one token's d features, evaluated by the server:
 *   μ = Σ x_i / d,  c_i = x_i − μ,  u = Σ c_i² + d·ε = d·(var + ε)
 *   y_i = γ_i · c_i · √d / √u + β_i        (= γ_i (x_i − μ)/√(var + ε) + β_i)
 * with 1/√u by interpolant + Newton steps (newton.ts) on u's calibrated range [U_lo, U_hi].
 * The map of u to [−1, 1] costs no level: the centred values come out multiplied by
 * m = √k, k = 2/(U_hi − U_lo) (folded into the centring's plaintext products), so their squares
 * sum to k·Σc², and k·u − (U_hi + U_lo)/(U_hi − U_lo) is an addition. Newton runs on k·u
 * (w ≈ 1/√(k·u)) and y_i = (γ_i√d)·(m c_i)·w + β_i: the m's cancel.
 * Levels: the centring (one), the squares (one), 1/√ (its plan's depth), the last product (one).
 *
 * API (what the graph passes call): `planLayerNorm(d, ranges, affine, target)` once per
 * LayerNorm node from its calibrated variance range, then `evaluateLayerNorm(pb, features, plan)`
 * per token through any PolyBuilder — numberBuilder/vectorBuilder give the float64 semantics,
 * `emitLayerNorm` (circuit/transformer-lowering.ts) the circuit. One value per feature, the
 * tokens (and samples) in the slots, so the sums are additions only; or, with an `AxisSum`, a
 * token packed in the slots of one value and summed by rotations.
 *
 * Error bound (`maxError`, absolute on every y_i, for var inside its range): the only
 * approximation is w, |w·√(ku) − 1| ≤ r, and |c_i|·√d/√u ≤ √(d − 1), so |ŷ_i − y_i| ≤ |γ_i|·√(d − 1)·r.
 *
 * A wide variance range (tokens whose features are nearly equal next to spread ones: 10⁻³ … 40)
 * makes 1/√ deep (a degree-127 interpolant and five Newton steps, 20 levels in one stage). Then
 * the plan has a prescale round, a stage of its own so a refresh may cut between the two: by
 * LayerNorm(a·x) = LayerNorm(x) for a > 0, the centred token times a coarse w₁ ≈ 1/√u (an
 * interpolant alone) has its u near 1, where the final 1/√ is shallow. ε does not scale with a,
 * so the round hands it on exactly: it returns v_i = (c_i + s)·w₁ (s = √U_lo a constant), whose
 * mean is s·w₁ (the c_i sum to 0); the final round centres v again (c_i·w₁) and adds
 * (dε/s²)·(s·w₁)² = dε·w₁² to its Σ(c_i·w₁)², which is then w₁²·u exactly. Its range is
 * analytic: [(1 − ρ)², (1 + ρ)²] times k' for the coarse round's relative error ρ.
 */
import { DeepPowersError, fail } from '../errors';
import { CountingBuilder } from './builders';
import type { Range } from './chebyshev';
import { DEFAULT_MARGIN } from './fit';
import { evaluateNewton, planNewton, type NewtonPlan } from './newton';
import type { PolyBuilder } from './poly-builder';
import { valueSum, widenPositive, type AxisSum } from './softmax';
import type { LayerNormAffine } from '../chain/normalize';
import type { RowPart } from '../chain/rowwise';
export { layerNormReference, type LayerNormAffine } from '../chain/normalize';

export interface LayerNormRanges {
  /** Smallest and largest per-token variance (population, over the d features) on the calibration rows. */
  readonly variance: Range;
}

export interface LayerNormTarget {
  /** Largest |ŷ_i − y_i| allowed. Default 2^−10 · max(1, max|γ|). */
  readonly maxError?: number;
  /** Margin on the variance range: [lo/m, hi·m]. Default DEFAULT_MARGIN. */
  readonly margin?: number;
}

export interface LayerNormPlan {
  readonly d: number;
  readonly epsilon: number;
  readonly gamma: Float64Array;
  readonly beta: Float64Array;
  /** u = d·(var + ε)'s range after the margin. */
  readonly uRange: Range;
  /** 1/√x on k·uRange, k = 2/(U_hi − U_lo) (after a prescale round, the final round's). */
  readonly inverseSqrt: NewtonPlan;
  /**
   * The coarse round first (see the module comment), when 1/√ on the whole u range is deep: its
   * interpolant on k·uRange, the shift s, and the final round's u range; null for one round.
   */
  readonly prescale: { readonly inverseSqrt: NewtonPlan; readonly shift: number; readonly uRange: Range } | null;
  readonly maxError: number;
  readonly depth: number;
}

export const DEFAULT_LAYER_NORM_ERROR = 2 ** -10;
/** A direct 1/√u deeper than this many levels gets a prescale round. */
export const LAYER_NORM_PRESCALE_DEPTH = 8;
/** The prescale round's relative errors tried (the final round's √u lands within it of 1): the one whose deeper round is shallowest wins. */
const LAYER_NORM_PRESCALE_ERRORS = [0.5, 0.75, 0.9];
/** Slack on the final round's analytic u range (CKKS noise, the coarse w₁'s rounding). */
const LAYER_NORM_ROUND_SLACK = 1.1;

export function planLayerNorm(d: number, ranges: LayerNormRanges, affine: LayerNormAffine, target: LayerNormTarget = {}): LayerNormPlan {
  if (!Number.isInteger(d) || d < 2) fail('BAD_ARGUMENT', `a LayerNorm over ${d} features (needs at least 2)`);
  if (affine.gamma.length !== d || affine.beta.length !== d) fail('BAD_ARGUMENT', `LayerNorm over ${d} features with ${affine.gamma.length} scales and ${affine.beta.length} shifts`);
  if (!(affine.epsilon >= 0 && Number.isFinite(affine.epsilon))) fail('BAD_ARGUMENT', `LayerNorm epsilon ${affine.epsilon}`);
  const [vLo, vHi] = ranges.variance;
  if (!(vLo >= 0 && vLo <= vHi && Number.isFinite(vHi))) fail('BAD_ARGUMENT', `LayerNorm variance range [${vLo}, ${vHi}] must be finite and ≥ 0`);
  if (!(vLo + affine.epsilon > 0)) fail('BAD_ARGUMENT', 'LayerNorm with ε = 0 needs a variance range above 0');
  const gamma = Float64Array.from(affine.gamma);
  const beta = Float64Array.from(affine.beta);
  const gammaMax = gamma.reduce((m, g) => Math.max(m, Math.abs(g)), 0);
  const maxError = target.maxError ?? DEFAULT_LAYER_NORM_ERROR * Math.max(1, gammaMax);
  const uRange = widenPositive([d * (vLo + affine.epsilon), d * (vHi + affine.epsilon)], target.margin ?? DEFAULT_MARGIN);
  const k = 2 / (uRange[1] - uRange[0]);
  const spread = Math.max(gammaMax, Number.MIN_VALUE) * Math.sqrt(d - 1);
  const relativeError = Math.min(0.5, maxError / spread);
  // A direct 1/√ out of reach (a range too wide for any interpolant and five steps) is a case for the prescale too.
  let direct: NewtonPlan | null = null;
  let refusal: unknown = null;
  try {
    direct = planNewton('inverse-sqrt', [k * uRange[0], k * uRange[1]], { relativeError });
  } catch (e) {
    if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS') throw e;
    refusal = e;
  }
  let prescale: LayerNormPlan['prescale'] = null;
  let inverseSqrt = direct;
  if (!direct || direct.depth > LAYER_NORM_PRESCALE_DEPTH) {
    for (const coarse of LAYER_NORM_PRESCALE_ERRORS) {
      const p = planLayerNormPrescale([k * uRange[0], k * uRange[1]], uRange, coarse);
      if (!p) continue;
      const final = planNewton('inverse-sqrt', scaled(p.uRange), { relativeError });
      const deeper = (a: NewtonPlan, b: NewtonPlan): number => Math.max(a.depth, b.depth);
      if (!prescale || !inverseSqrt || deeper(p.inverseSqrt, final) < deeper(prescale.inverseSqrt, inverseSqrt)) [prescale, inverseSqrt] = [p, final];
    }
  }
  if (!inverseSqrt) throw refusal;
  const partial: LayerNormPlan = { d, epsilon: affine.epsilon, gamma, beta, uRange, inverseSqrt, prescale, maxError: gammaMax * Math.sqrt(d - 1) * inverseSqrt.relativeBound, depth: 0 };
  const counter = new CountingBuilder();
  evaluateLayerNorm(counter, Array.from({ length: d }, () => counter.input()), partial);
  return { ...partial, depth: counter.maxDepth };
}

/** k·[lo, hi] for k = 2/(hi − lo). */
function scaled([lo, hi]: Range): Range {
  const k = 2 / (hi - lo);
  return [k * lo, k * hi];
}

/** The coarse round: an interpolant of 1/√ on k·uRange reaching relative error `coarse`, or null when none does. */
function planLayerNormPrescale(range: Range, uRange: Range, coarse: number): LayerNormPlan['prescale'] {
  let inverseSqrt: NewtonPlan;
  try {
    inverseSqrt = planNewton('inverse-sqrt', range, { relativeError: coarse, steps: 0 });
  } catch {
    return null;
  }
  const r = inverseSqrt.relativeBound;
  return { inverseSqrt, shift: Math.sqrt(uRange[0]), uRange: [(1 - r) ** 2 / LAYER_NORM_ROUND_SLACK, (1 + r) ** 2 * LAYER_NORM_ROUND_SLACK] };
}

/**
 * `axis`: how features are summed (one value per feature by default; see AxisSum). A packed
 * token (its features in the slots of one value) cannot take a scale and shift per feature from
 * scalars: its plan must have γ = 1 and β = 0, and the caller folds the node's γ and β into the
 * next affine map (W·(γ⊙n + β) + b = (W·diag γ)·n + (W·β + b)). `part`: with a prescale round,
 * `{ round: 0 }` is the prescale (it returns v, see the module comment), `{ round: 1 }` the
 * normalisation of v; `whole` both.
 */
export function evaluateLayerNorm<T>(pb: PolyBuilder<T>, features: readonly T[], plan: LayerNormPlan, axis: AxisSum<T> = valueSum(pb, features.length), part: RowPart = 'whole'): T[] {
  const { d } = plan;
  if (axis.length !== d) fail('BAD_ARGUMENT', `a LayerNorm over ${axis.length} features, the plan has ${d}`);
  if (features.length !== d && (plan.gamma.some((g) => g !== 1) || plan.beta.some((b) => b !== 0))) {
    fail('BAD_ARGUMENT', 'a packed LayerNorm takes γ = 1 and β = 0; fold the node\'s γ and β into the next affine map');
  }
  if (part === 'exps' || (typeof part === 'object' && !(plan.prescale && (part.round === 0 || part.round === 1)))) {
    fail('BAD_ARGUMENT', `LayerNorm part ${JSON.stringify(part)} of a plan with ${plan.prescale ? 'a prescale round' : 'one round'}`);
  }
  if (!plan.prescale) return normalizeRound(pb, features, plan, axis, plan.uRange, plan.inverseSqrt, { epsilon: plan.epsilon });
  const pre = plan.prescale;
  const prescaled = part === 'whole' || part.round === 0 ? prescaleRound(pb, features, plan.uRange, pre.inverseSqrt, pre.shift, plan.epsilon, axis) : [...features];
  if (typeof part === 'object' && part.round === 0) return prescaled;
  // ε·d rides on the mean of v: (dε/s²)·(s·w₁)² = dε·w₁².
  return normalizeRound(pb, prescaled, plan, axis, pre.uRange, plan.inverseSqrt, { epsilonPerMeanSquare: (d * plan.epsilon) / pre.shift ** 2 });
}

/** The centred features times m = √k (k of `uRange`), their mean times m, and k·Σc²: one level, then the squares' level. */
function centre<T>(pb: PolyBuilder<T>, features: readonly T[], uRange: Range, axis: AxisSum<T>, meanFactor: number): { centred: T[]; mean: T; kSum: T; k: number } {
  const d = axis.length;
  const k = 2 / (uRange[1] - uRange[0]);
  const m = Math.sqrt(k);
  const sum = axis.sum(features);
  // m·c_i = m·x_i − m·μ: one level (the m·μ product and the m·x_i products land together).
  const meanM = pb.linear([[sum, m / d]], 0);
  const centred = features.map((x) => pb.sub(pb.linear([[x, m]], 0), meanM));
  const kSum = axis.sum(centred.map((c) => pb.mul(c, c)));
  return { centred, mean: meanFactor === 1 ? meanM : pb.linear([[sum, (m / d) * meanFactor]], 0), kSum, k };
}

/** The coarse round: v_i = (c_i + s)·w₁, w₁ ≈ 1/√u by the interpolant alone. */
function prescaleRound<T>(pb: PolyBuilder<T>, features: readonly T[], uRange: Range, inverseSqrt: NewtonPlan, shift: number, epsilon: number, axis: AxisSum<T>): T[] {
  const { centred, kSum, k } = centre(pb, features, uRange, axis, 1);
  const d = axis.length;
  const t = pb.linear([[kSum, 1]], k * d * epsilon - (uRange[1] + uRange[0]) / (uRange[1] - uRange[0]));
  // m·w₁ ≈ 1/√u: w₁ ≈ 1/√(k·u) and m = √k.
  const w = evaluateNewton(pb, pb.linear([[kSum, 1]], k * d * epsilon), inverseSqrt, t);
  const m = Math.sqrt(k);
  return centred.map((c) => pb.mul(pb.linear([[c, 1]], m * shift), w));
}

/**
 * The final round on features whose u lies in `uRange`: y_i = (γ_i√d)·(m c_i)·w + β_i, w ≈ 1/√(k·u)
 * by Newton. u = Σc² + dε, ε a constant or, after a prescale round, dε a constant times the
 * square of the features' mean (`epsilonPerMeanSquare`).
 */
function normalizeRound<T>(
  pb: PolyBuilder<T>,
  features: readonly T[],
  plan: LayerNormPlan,
  axis: AxisSum<T>,
  uRange: Range,
  inverseSqrt: NewtonPlan,
  eps: { readonly epsilon: number } | { readonly epsilonPerMeanSquare: number },
): T[] {
  const perMean = 'epsilonPerMeanSquare' in eps;
  const { centred, mean, kSum, k } = centre(pb, features, uRange, axis, perMean ? Math.sqrt(eps.epsilonPerMeanSquare) : 1);
  // k·u = k·Σc² + k·d·ε, and t = k·u − (U_hi + U_lo)/(U_hi − U_lo): integer coefficients, no level
  // (after a prescale the k·dε term is (m·μ·√(dε/s²))², a product beside the squares).
  const epsTerm = perMean ? pb.mul(mean, mean) : null;
  const constant = perMean ? 0 : k * plan.d * eps.epsilon;
  const base = epsTerm ? pb.add(kSum, epsTerm) : kSum;
  const ku = pb.linear([[base, 1]], constant);
  const t = pb.linear([[base, 1]], constant - (uRange[1] + uRange[0]) / (uRange[1] - uRange[0]));
  const w = evaluateNewton(pb, ku, inverseSqrt, t);
  const sqrtD = Math.sqrt(plan.d);
  return centred.map((c, i) => pb.linear([[pb.mul(pb.linear([[c, plan.gamma[i]! * sqrtD]], 0), w), 1]], plan.beta[i]!));
}
