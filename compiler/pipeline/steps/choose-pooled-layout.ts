/**
 * Compile step 5 for a chain with max pools: it never runs as one circuit, so each layout asked
 * for is lowered as segments cut at the pools (and, with --refresh auto, at refresh cuts that
 * lower N; see refresh-plan), and the layout with the lower estimated latency of one prediction
 * (all segments) is kept. A max pool needs a client step per evaluation, so it works with
 * --objective latency only.
 */
import type { Layout } from '../../circuit/ir';
import type { ApproxStage } from '../../chain/stages';
import { stepOfStage } from '../../client-steps/table';
import { DeepPowersError, fail } from '../../errors';
import type { Objective, ParameterOptions } from '../build-layout';
import type { CompileStep, LayoutRequest } from '../compile';
import { planPools, type RefreshRequest, type SegmentedBuild } from '../refresh-plan';

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
  if (objective === 'throughput') fail('BAD_ARGUMENT', 'a model with MaxPool runs a client step per evaluation (the max of each window), which works with --objective latency only (one sample per ciphertext)');
  const layouts: Layout[] = request === 'auto' ? ['vector', 'batch'] : [request];
  let { candidates, refusals } = planLayouts(stages, layouts, request, parameters, maxAbs, refresh, progress);
  if (candidates.length === 0 && parameters.strictPrecision === true) {
    ({ candidates, refusals } = planLayouts(stages, layouts, request, { ...parameters, strictPrecision: false }, maxAbs, refresh, progress));
  }
  if (candidates.length === 0) fail('PARAMS', `no layout fits: ${refusals.join('; ')}`);
  const plan = candidates.reduce((a, b) => (segmentedLatencyMs(b) < segmentedLatencyMs(a) ? b : a));
  const ms = (p: SegmentedBuild): string => `${p.layout} ${segmentedLatencyMs(p).toFixed(0)} ms at N=${p.params.polyModulusDegree}`;
  const layoutReason =
    request !== 'auto'
      ? `--layout ${request}`
      : candidates.length === 1
        ? `auto: only ${plan.layout} fits (${refusals.join('; ')})`
        : `auto: lower estimated latency of one prediction, all segments (${candidates.map(ms).join(' vs ')})`;
  return { plan, candidates, layoutReason };
}

function planLayouts(
  stages: readonly ApproxStage[],
  layouts: readonly Layout[],
  request: LayoutRequest,
  parameters: ParameterOptions,
  maxAbs: number,
  refresh: RefreshRequest,
  progress: (step: CompileStep) => void,
): { candidates: SegmentedBuild[]; refusals: string[] } {
  const candidates: SegmentedBuild[] = [];
  const refusals: string[] = [];
  for (const layout of layouts) {
    progress(layout === 'vector' ? 'lower vector' : 'lower batch');
    try {
      candidates.push(planPools(stages, layout, parameters, maxAbs, refresh)!);
    } catch (e) {
      if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS' || (request !== 'auto' && parameters.strictPrecision !== true)) throw e;
      refusals.push(`${layout}: ${e.message}`);
    }
  }
  return { candidates, refusals };
}
