/**
 * Compile step 5 for a chain with max pools: it never runs as one circuit, so each layout asked
 * for is lowered as segments cut at the pools (and, with --refresh auto, at refresh cuts that
 * lower N; see refresh-plan), and the layout with the lower estimated latency of one prediction
 * (all segments) is kept. A max pool needs a client step per evaluation, so it works with
 * --objective latency only.
 */
import type { ApproxStage } from '../../chain/stages';
import { stepOfStage } from '../../client-steps/table';
import { fail } from '../../errors';
import { chooseAmongLayouts, layoutReasonOf } from './layout-chooser';
import type { Objective, ParameterOptions } from '../../plan/build-layout';
import type { CompileStep, LayoutRequest } from './options';
import { planPools, planRefresh, type RefreshRequest, type SegmentedBuild } from '../../plan/refresh-plan';
import type { Layout } from '../../circuit/ir';

export interface PooledChoice {
  readonly plan: SegmentedBuild;
  /** Every layout that was lowered (its first segment), with its cost. */
  readonly candidates: readonly SegmentedBuild[];
  readonly layoutReason: string;
}

/** Whether the chain has a max pool (and so runs as segments with client steps). */
export function hasPools(stages: readonly ApproxStage[]): boolean {
  return stages.some((s) => stepOfStage(s) !== null);
}

/** Estimated latency of one prediction: every segment (the client steps' own round trips are not in it). */
export function segmentedLatencyMs(plan: SegmentedBuild): number {
  return plan.segments.reduce((sum, s) => sum + s.latency.totalMs, 0);
}

/** A body without pools that must run as segments (a transformer): the refresh cuts, or why none fit. */
function planRefreshed(stages: readonly ApproxStage[], layout: Layout, parameters: ParameterOptions, maxAbs: number): SegmentedBuild {
  const plan = planRefresh(stages, layout, parameters, maxAbs, { required: true });
  if (!plan) fail('PARAMS', `no set of refresh cuts fits the ${layout} layout's parameters`);
  return plan;
}

export function choosePooledLayout(
  stages: readonly ApproxStage[],
  request: LayoutRequest,
  parameters: ParameterOptions,
  maxAbs: number,
  refresh: RefreshRequest,
  progress: (step: CompileStep) => void,
  objective: Objective,
): PooledChoice {
  if (objective === 'throughput') fail('BAD_ARGUMENT', 'a model with MaxPool runs a client step per evaluation (the max of each window), which works with --objective latency only (one sample per ciphertext)');
  const c = chooseAmongLayouts(request, parameters, progress, (layout, p) => planPools(stages, layout, p, maxAbs, refresh) ?? planRefreshed(stages, layout, p, maxAbs), segmentedLatencyMs);
  const layoutReason = layoutReasonOf(request, c, 'lower estimated latency of one prediction, all segments', (p) => `${p.layout} ${segmentedLatencyMs(p).toFixed(0)} ms at N=${p.params.polyModulusDegree}`);
  return { plan: c.chosen, candidates: c.candidates, layoutReason };
}
