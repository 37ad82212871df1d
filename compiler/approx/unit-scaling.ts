/**
 * Per-unit input ranges for ReLU (and every activation its registry record marks positively
 * homogeneous), for free. ReLU is positively homogeneous, relu(B·t) = B·relu(t),
 * so with B_i = margin·max(|lo_i|, |hi_i|) from unit i's calibration range, dividing row i of the
 * affine map before the activation (weights and bias) by B_i and multiplying column i of the map
 * after it by B_i leaves the chain's function unchanged while every unit sees t_i ∈ [−1/margin,
 * 1/margin] on the calibration rows. One polynomial p ≈ relu on [−1, 1] then serves all units at
 * their own resolution, where one range per layer spends most of [−1, 1] on the widest unit and
 * leaves a small unit the polynomial's absolute error. Both rescalings live in plaintext weights
 * the circuit multiplies anyway: no level, no run-time cost.
 *
 * A ReLU needs an affine map on both sides — the one before feeding only it, every reader of its
 * output affine (in a DAG, each reader's block of columns is rescaled); one without (first in the
 * chain, right after another activation, or the last stage, whose output the client reads) keeps
 * the per-layer range. So do
 * sigmoid, tanh and the others that are not homogeneous.
 */
import type { Calibration } from './calibrate';
import type { Range } from './chebyshev';
import { fail } from '../errors';
import { activationRecord } from '../activations/registry';
import { stageInSize, stageOutSize, type AffineStage, type Stage } from '../chain/stages';
import { BODY_INPUT, readersOf } from '../chain/stage-graph';

/** The range every unit-scaled ReLU polynomial is fitted on. */
export const UNIT_RANGE: Range = [-1, 1];

/** Per activation stage (index in the chain) the divisors B_i of its units. */
export type UnitBounds = ReadonlyMap<number, Float64Array>;

/** Whether stage `k` of `stages` is a positively homogeneous activation that per-unit scaling can be folded around. */
export function canScaleUnits(stages: readonly Stage[], k: number): boolean {
  const s = stages[k];
  if (s?.kind !== 'activation' || !activationRecord(s.fn).positivelyHomogeneous || stages[k - 1]?.kind !== 'affine') return false;
  const readers = readersOf(stages, (i) => sizeOfOutput(stages, i));
  // The affine map before must feed only this activation; every reader of its output must be an affine map.
  if (readers[k - 1]!.some((r) => r.stage !== k)) return false;
  return readers[k]!.length > 0 && readers[k]!.every((r) => stages[r.stage]!.kind === 'affine');
}

function sizeOfOutput(stages: readonly Stage[], i: number): number {
  if (i === BODY_INPUT) {
    // Stage 0 can only read the body input.
    const first = stages[0]!;
    return stageInSize(first);
  }
  return stageOutSize(stages[i]!);
}

/**
 * Margin of per-unit ReLU bounds when none is given. A unit's own range is narrower than its
 * layer's, so an unseen row leaves it by a larger factor; outside [−1, 1] a high-degree polynomial
 * grows like T_d, so the wider margin is what keeps test rows inside (the precision-promise test).
 */
export const UNIT_MARGIN = 2;

/**
 * Smallest unit bound as a share of its layer's largest: a unit nearly constant on the
 * calibration rows would otherwise get a bound that any new row overshoots many times over.
 */
export const UNIT_BOUND_FLOOR = 0.25;

/**
 * B_i = max(margin·max(|lo_i|, |hi_i|), UNIT_BOUND_FLOOR·layer) for every ReLU that can be scaled,
 * where layer is the largest margin·max(|lo_j|, |hi_j|) of the layer; a layer that is 0
 * everywhere keeps B = 1.
 */
export function reluUnitBounds(stages: readonly Stage[], calibration: Calibration, margin: number): Map<number, Float64Array> {
  if (!Number.isFinite(margin) || margin < 1) fail('BAD_ARGUMENT', `range margin ${margin} must be a finite number ≥ 1`);
  const out = new Map<number, Float64Array>();
  for (const a of calibration.activations) {
    if (!canScaleUnits(stages, a.stage)) continue;
    const bounds = Float64Array.from(a.unitMin, (lo, i) => margin * Math.max(Math.abs(lo), Math.abs(a.unitMax[i]!)));
    const layer = bounds.reduce((m, b) => Math.max(m, b), 0);
    if (!(layer > 0)) bounds.fill(1);
    else for (let i = 0; i < bounds.length; i++) bounds[i] = Math.max(bounds[i]!, UNIT_BOUND_FLOOR * layer);
    out.set(a.stage, bounds);
  }
  return out;
}

/** The chain with each listed ReLU's units rescaled into the neighbouring affine maps (same function, same stage indices). */
export function scaleUnits(stages: readonly Stage[], bounds: UnitBounds): Stage[] {
  const out = [...stages];
  for (const [k, b] of bounds) {
    if (!canScaleUnits(stages, k)) fail('BAD_ARGUMENT', `stage ${k} is not a positively homogeneous activation between two affine maps; its units cannot be rescaled`);
    const act = stages[k]!;
    if (act.kind !== 'activation' || b.length !== act.size) fail('BAD_ARGUMENT', `stage ${k}: ${b.length} unit bounds for ${act.kind === 'activation' ? act.size : 0} units`);
    for (const v of b) if (!(v > 0 && Number.isFinite(v))) fail('BAD_ARGUMENT', `stage ${k}: unit bound ${v} is not a positive number`);
    out[k - 1] = scaleRows(out[k - 1] as AffineStage, b);
    for (const r of readersOf(stages, (i) => sizeOfOutput(stages, i))[k]!) out[r.stage] = scaleColumns(out[r.stage] as AffineStage, b, r.offset);
  }
  return out;
}

function scaleRows(s: AffineStage, b: Float64Array): AffineStage {
  const weights = s.weights.map((w, i) => w / b[Math.floor(i / s.inSize)]!);
  const bias = s.bias.map((v, i) => v / b[i]!);
  return { ...s, weights, bias };
}

/** Columns offset … offset + |b| − 1 (one stage's block of this map's input) multiplied by b. */
function scaleColumns(s: AffineStage, b: Float64Array, offset: number): AffineStage {
  return {
    ...s,
    weights: s.weights.map((w, i) => {
      const j = (i % s.inSize) - offset;
      return j >= 0 && j < b.length ? w * b[j]! : w;
    }),
  };
}

/** min, median and max of a bound vector, for summaries. */
export function boundSummary(b: ArrayLike<number>): { readonly min: number; readonly median: number; readonly max: number } {
  const sorted = Float64Array.from(b).sort();
  const n = sorted.length;
  const median = n === 0 ? NaN : n % 2 === 1 ? sorted[(n - 1) / 2]! : 0.5 * (sorted[n / 2 - 1]! + sorted[n / 2]!);
  return { min: sorted[0] ?? NaN, median, max: sorted[n - 1] ?? NaN };
}
