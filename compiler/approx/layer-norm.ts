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
 */
import { fail } from '../errors';
import { CountingBuilder } from './builders';
import type { Range } from './chebyshev';
import { DEFAULT_MARGIN } from './fit';
import { evaluateNewton, planNewton, type NewtonPlan } from './newton';
import type { PolyBuilder } from './poly-builder';
import { valueSum, widenPositive, type AxisSum } from './softmax';
import type { LayerNormAffine } from '../chain/normalize';
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
  /** 1/√x on k·uRange, k = 2/(U_hi − U_lo). */
  readonly inverseSqrt: NewtonPlan;
  readonly maxError: number;
  readonly depth: number;
}

export const DEFAULT_LAYER_NORM_ERROR = 2 ** -10;

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
  const inverseSqrt = planNewton('inverse-sqrt', [k * uRange[0], k * uRange[1]], { relativeError: Math.min(0.5, maxError / spread) });
  const partial: LayerNormPlan = { d, epsilon: affine.epsilon, gamma, beta, uRange, inverseSqrt, maxError: gammaMax * Math.sqrt(d - 1) * inverseSqrt.relativeBound, depth: 0 };
  const counter = new CountingBuilder();
  evaluateLayerNorm(counter, Array.from({ length: d }, () => counter.input()), partial);
  return { ...partial, depth: counter.maxDepth };
}

/**
 * `axis`: how features are summed (one value per feature by default; see AxisSum). A packed
 * token (its features in the slots of one value) cannot take a scale and shift per feature from
 * scalars: its plan must have γ = 1 and β = 0, and the caller folds the node's γ and β into the
 * next affine map (W·(γ⊙n + β) + b = (W·diag γ)·n + (W·β + b)).
 */
export function evaluateLayerNorm<T>(pb: PolyBuilder<T>, features: readonly T[], plan: LayerNormPlan, axis: AxisSum<T> = valueSum(pb, features.length)): T[] {
  const { d, uRange } = plan;
  if (axis.length !== d) fail('BAD_ARGUMENT', `a LayerNorm over ${axis.length} features, the plan has ${d}`);
  if (features.length !== d && (plan.gamma.some((g) => g !== 1) || plan.beta.some((b) => b !== 0))) {
    fail('BAD_ARGUMENT', 'a packed LayerNorm takes γ = 1 and β = 0; fold the node\'s γ and β into the next affine map');
  }
  const k = 2 / (uRange[1] - uRange[0]);
  const m = Math.sqrt(k);
  // m·c_i = m·x_i − m·μ: one level (the m·μ product and the m·x_i products land together).
  const meanM = pb.linear([[axis.sum(features), m / d]], 0);
  const centred = features.map((x) => pb.sub(pb.linear([[x, m]], 0), meanM));
  const squares = centred.map((c) => pb.mul(c, c));
  const kSum = axis.sum(squares);
  // k·u = k·Σc² + k·d·ε, and t = k·u − (U_hi + U_lo)/(U_hi − U_lo): integer coefficients, no level.
  const ku = pb.linear([[kSum, 1]], k * d * plan.epsilon);
  const t = pb.linear([[kSum, 1]], k * d * plan.epsilon - (uRange[1] + uRange[0]) / (uRange[1] - uRange[0]));
  const w = evaluateNewton(pb, ku, plan.inverseSqrt, t);
  const sqrtD = Math.sqrt(d);
  return centred.map((c, i) => pb.linear([[pb.mul(pb.linear([[c, plan.gamma[i]! * sqrtD]], 0), w), 1]], plan.beta[i]!));
}
