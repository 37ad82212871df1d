/**
 * Compile step 5: the approximated chain → the plan to run, per layout asked for (see
 * plan/choose-plan: the body as one circuit or cut into segments with client steps, the fastest
 * whole plan that fits the heap), and the choice among layouts. Layout `auto` lowers both and
 * keeps, for objective `latency`, the plan with the lower predicted end-to-end latency of one
 * prediction (every segment, client steps' round trips and bytes included), and for `throughput`
 * the one with more estimated samples per second (samples per evaluation over that latency); a
 * layout that cannot fit (a vector layer wider than N/2, a heap it would overflow) leaves the other.
 * A chain with max pools runs as segments under either objective; for throughput each of them
 * packs as many rows per vector ciphertext as the slots hold, and one client step serves them all.
 */
import type { ApproxStage } from '../../chain/stages';
import type { Layout } from '../../circuit/ir';
import { samplesPerEvaluation } from '../../circuit/packing';
import type { Objective, ParameterOptions } from '../../plan/build-layout';
import { choosePlan, describePlan, type Plan } from '../../plan/choose-plan';
import type { NetworkAssumptions } from '../../plan/plan-cost';
import type { RefreshRequest } from '../../plan/refresh-plan';
import { chooseAmongLayouts, layoutReasonOf } from './layout-chooser';
import type { CompileStep, LayoutRequest } from './options';

export interface LayoutChoice {
  readonly plan: Plan;
  /** Every layout's best plan, with its cost. */
  readonly candidates: readonly Plan[];
  readonly layoutReason: string;
}

export interface PlanRequest {
  readonly refresh: RefreshRequest;
  readonly objective: Objective;
  readonly network: NetworkAssumptions;
  /** Calibration's bound on every circuit value (the client steps' mask bound). */
  readonly maxAbs: number;
  /** Whether plans over node-seal's heap are kept (CompileOptions.heap 'simulation'). */
  readonly overHeap?: boolean;
}

export function chooseLayout(
  stages: readonly ApproxStage[],
  request: LayoutRequest,
  parameters: ParameterOptions,
  plan: PlanRequest,
  progress: (step: CompileStep) => void,
): LayoutChoice {
  const { objective, network } = plan;
  const cost = objective === 'latency' ? (p: Plan): number => p.latency.totalMs : (p: Plan): number => -samplesPerSecond(p);
  // Under auto the batch layout competes as one circuit (cut only at max pools): lowering it is
  // slow for convolutions (seconds per segment set), and a batch of one sample is never the
  // faster plan once the vector layout may cut. A transformer (products that pick their factors,
  // Softmax and LayerNorm rows) may cut in both: one ciphertext per value in the batch layout is
  // far over the heap, so the vector layout's packed sample is usually the plan that fits.
  const transformer = stages.some((s) => s.kind === 'product' || s.kind === 'rowpoly');
  const refreshFor = (layout: Layout): RefreshRequest => (request === 'auto' && layout === 'batch' && !transformer ? 'off' : plan.refresh);
  const c = chooseAmongLayouts(request, parameters, progress, (layout, p) => choosePlan({ stages, layout, options: p, maxAbs: plan.maxAbs, refresh: refreshFor(layout), objective, network }, plan.refresh, plan.overHeap === true), cost);
  const layoutReason =
    objective === 'throughput'
      ? layoutReasonOf(request, c, 'more estimated samples per second', (p) => `${p.layout} ${samplesPerSecond(p).toFixed(0)} samples/s (${samplesPerEvaluation(p.build.circuit)} per evaluation) at N=${p.build.params.polyModulusDegree}`)
      : layoutReasonOf(request, c, 'lower predicted latency of one prediction, end to end', (p) => describePlan(p, network));
  return { plan: c.chosen, candidates: c.candidates, layoutReason };
}

/** Estimated samples per second of one plan: a full evaluation's samples over its latency (all segments and client steps for a cut plan, every segment packing the same rows). */
function samplesPerSecond(p: Plan): number {
  return (1000 * samplesPerEvaluation(p.build.circuit)) / p.latency.totalMs;
}
