/**
 * The row-wise stages as the server evaluates them: each RowPolyStage's plan (softmax.ts,
 * layer-norm.ts) made from its calibrated ranges, and that plan run over every row of a stage's
 * values through any PolyBuilder (the circuit lowering, the float64 statistics). The plan is a
 * function of the stage's numbers, made once per stage and remembered.
 *
 * LayerNorm's scale and shift are not part of the stage (the passes put them in the affine map
 * after it), so its plan has γ = 1 and β = 0.
 */
import { CountingBuilder, numberBuilder, numberInput } from './builders';
import type { RowPolyStage, RowRanges } from '../chain/stages';
import { rowFunctionLabel, type RowFunction, type RowPart } from '../chain/rowwise';
import { DeepPowersError, fail } from '../errors';
import { evaluateLayerNorm, planLayerNorm, type LayerNormPlan } from './layer-norm';
import type { PolyBuilder } from './poly-builder';
import { evaluateSoftmax, planSoftmax, valueSum, type SoftmaxPlan } from './softmax';

export type RowPlan = { readonly kind: 'softmax'; readonly plan: SoftmaxPlan } | { readonly kind: 'layernorm'; readonly plan: LayerNormPlan };

/** Plans by the ranges object, then function and row length: a Softmax's two parts (and copies of a stage) share one. */
const plans = new WeakMap<RowRanges, Map<string, RowPlan>>();

export function rowPlan(stage: RowPolyStage): RowPlan {
  let byStage = plans.get(stage.ranges);
  if (!byStage) plans.set(stage.ranges, (byStage = new Map()));
  const key = `${rowFunctionLabel(stage.fn)}/${stage.rowLength}`;
  let p = byStage.get(key);
  if (!p) {
    try {
      p = planRows(stage.fn, stage.rowLength, stage.ranges);
    } catch (e) {
      // No polynomial reaches the plan's target on these calibrated ranges (exp over scores tens
      // of units wide): no parameter the user can give changes that, so the model is refused.
      if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS') throw e;
      fail('NOT_ENCRYPTABLE', `${rowFunctionLabel(stage.fn)} over rows of ${stage.rowLength} (${stage.sources.join(', ')}) on its calibrated ranges (${describeRanges(stage.ranges)}) is not supported for encryption yet: ${e.message}`);
    }
    byStage.set(key, p);
  }
  return p;
}

function describeRanges(r: RowRanges): string {
  const span = ([lo, hi]: readonly [number, number]): string => `[${lo.toPrecision(3)}, ${hi.toPrecision(3)}]`;
  return r.kind === 'softmax' ? `scores ${span(r.scores)}, row sums ${span(r.sums)}` : `variances ${span(r.variance)}`;
}

function planRows(fn: RowFunction, n: number, ranges: RowRanges): RowPlan {
  if (fn.kind === 'softmax' && ranges.kind === 'softmax') return { kind: 'softmax', plan: planSoftmax(n, { scores: [...ranges.scores], sums: [...ranges.sums] }) };
  if (fn.kind === 'layernorm' && ranges.kind === 'layernorm') {
    return { kind: 'layernorm', plan: planLayerNorm(n, { variance: [...ranges.variance] }, { epsilon: fn.epsilon, gamma: new Float64Array(n).fill(1), beta: new Float64Array(n) }) };
  }
  return fail('BAD_ARGUMENT', `a ${fn.kind} stage with ${ranges.kind} ranges`);
}

/** How one row goes through the stage's plan, for each function a row-wise stage can have. */
export interface RowEvaluators<T> {
  softmax(row: T[], plan: SoftmaxPlan, part: RowPart): T[];
  layerNorm(row: T[], plan: LayerNormPlan, part: RowPart): T[];
}

/** The stage's plan on every row of `values` (consecutive rows of stage.rowLength), each through `through`. */
export function mapRows<T>(values: readonly T[], stage: RowPolyStage, through: RowEvaluators<T>): T[] {
  const p = rowPlan(stage);
  const out: T[] = [];
  for (let start = 0; start < values.length; start += stage.rowLength) {
    const row = values.slice(start, start + stage.rowLength);
    out.push(...(p.kind === 'softmax' ? through.softmax(row, p.plan, stage.part ?? 'whole') : through.layerNorm(row, p.plan, stage.part ?? 'whole')));
  }
  return out;
}

/** The stage on every row of `values`, as any PolyBuilder computes it. */
export function evaluateRows<T>(pb: PolyBuilder<T>, values: readonly T[], stage: RowPolyStage): T[] {
  return mapRows(values, stage, { softmax: (row, plan, part) => evaluateSoftmax(pb, row, plan, valueSum(pb, row.length), part), layerNorm: (row, plan, part) => evaluateLayerNorm(pb, row, plan, valueSum(pb, row.length), part) });
}

/** What the circuit computes for one sample's input vector, in float64. */
export function applyRowPoly(stage: RowPolyStage, x: Float64Array): Float64Array {
  return Float64Array.from(evaluateRows(numberBuilder, Array.from(x, numberInput), stage), (v) => v.value);
}

/** Levels the stage spends from its input to its output (one row counted, as the plan counts its whole function). */
export function rowDepth(stage: RowPolyStage): number {
  if ((stage.part ?? 'whole') === 'whole') return rowPlan(stage).plan.depth;
  const counter = new CountingBuilder();
  evaluateRows(counter, Array.from({ length: stage.rowLength }, () => counter.input()), stage);
  return counter.maxDepth;
}

/** A bound on |ŷ − y| for inputs inside the calibrated ranges (the plan's own). */
export function rowMaxError(stage: RowPolyStage): number {
  return rowPlan(stage).plan.maxError;
}
