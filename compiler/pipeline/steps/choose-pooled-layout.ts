/**
 * Compile step 5 for a chain with max pools: it never runs as one circuit, so each layout asked
 * for is lowered as segments cut at the pools (and, with --refresh auto, at refresh cuts that
 * lower N; see refresh-plan), and the layout with the lower estimated latency of one prediction
 * (all segments) is kept; with --objective throughput, the one with more rows per second, each
 * evaluation packing as many rows per ciphertext as the slots hold (the client step then takes
 * the max for all of them at once).
 */
import type { ApproxStage } from '../../chain/stages';
import { stepOfStage } from '../../client-steps/table';
import type { Layout } from '../../circuit/ir';
import { samplesPerEvaluation } from '../../circuit/packing';
import { chooseAmongLayouts, layoutReasonOf } from './layout-chooser';
import type { Objective, ParameterOptions } from '../../plan/build-layout';
import type { CompileStep, LayoutRequest } from './options';
import { planPools, type RefreshRequest, type SegmentedBuild } from '../../plan/refresh-plan';

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

export function choosePooledLayout(
  stages: readonly ApproxStage[],
  request: LayoutRequest,
  parameters: ParameterOptions,
  maxAbs: number,
  refresh: RefreshRequest,
  progress: (step: CompileStep) => void,
  objective: Objective,
): PooledChoice {
  const build = (layout: Layout, p: ParameterOptions): SegmentedBuild => planPools(stages, layout, p, maxAbs, refresh, objective)!;
  if (objective === 'latency') {
    const c = chooseAmongLayouts(request, parameters, progress, build, segmentedLatencyMs);
    const layoutReason = layoutReasonOf(request, c, 'lower estimated latency of one prediction, all segments', (p) => `${p.layout} ${segmentedLatencyMs(p).toFixed(0)} ms at N=${p.params.polyModulusDegree}`);
    return { plan: c.chosen, candidates: c.candidates, layoutReason };
  }
  // Throughput: every segment and client step of an evaluation serves all the samples it packs.
  const msPerSample = (p: SegmentedBuild): number => segmentedLatencyMs(p) / samplesPerEvaluation(p.segments[0]!.circuit);
  const c = chooseAmongLayouts(request, parameters, progress, build, msPerSample);
  const layoutReason = layoutReasonOf(request, c, 'more rows per second, all segments', (p) => `${p.layout} ${(1000 / msPerSample(p)).toFixed(1)} rows/s at N=${p.params.polyModulusDegree}`);
  return { plan: c.chosen, candidates: c.candidates, layoutReason };
}
