/**
 * The planner: for one layout, the whole plans on offer — the body as one circuit (its N from its
 * depth), and with client steps the segmented ones (refresh-plan.ts: the fewest cuts at each N
 * they reach, max pools always cut) — are costed end to end (plan-cost.ts) and checked against
 * the heap budget (params/sizes.ts). The fastest plan that fits wins. None fitting is a PARAMS
 * error that says what the least hungry one needs, and whether client steps could have cut it.
 */
import type { Layout } from '../circuit/ir';
import type { ApproxStage } from '../chain/stages';
import { DeepPowersError, fail } from '../errors';
import { describeRunMemory, type RunMemoryEstimate } from '../params/sizes';
import { buildLayout, type LayoutBuild, type Objective, type ParameterOptions } from './build-layout';
import { planLatency, type NetworkAssumptions, type PlanLatency } from './plan-cost';
import { planMemory } from './plan-memory';
import { cutPoints, poolCuts, segmentedCandidates, type RefreshRequest, type SegmentedBuild } from './refresh-plan';
import { isRefresh } from '../client-steps/table';

export interface Plan {
  readonly layout: Layout;
  /** The one circuit, or the first segment. */
  readonly build: LayoutBuild;
  /** The segments and their client steps; null for one circuit. */
  readonly refresh: SegmentedBuild | null;
  readonly latency: PlanLatency;
  readonly memory: RunMemoryEstimate;
  /** A cut plan (that --refresh auto cut, not only max pools): why it won over the body as one circuit. */
  readonly whyCut?: string;
}

export function uncutPlan(build: LayoutBuild, network: NetworkAssumptions): Plan {
  return { layout: build.layout, build, refresh: null, latency: planLatency(build.params, [build], [], network), memory: planMemory(build.params, [build.circuit]) };
}

export function segmentedPlan(s: SegmentedBuild, network: NetworkAssumptions): Plan {
  return {
    layout: s.layout,
    build: s.segments[0]!,
    refresh: s,
    latency: planLatency(s.params, s.segments, s.steps, network),
    memory: planMemory(s.params, s.segments.map((b) => b.circuit)),
  };
}

/** What a plan is chosen for: the approximated body, the layout, the parameter options, the calibrated output bound, what --refresh allows, the objective and the network a client step crosses. */
export interface PlanRequest {
  readonly stages: readonly ApproxStage[];
  readonly layout: Layout;
  readonly options: ParameterOptions;
  readonly maxAbs: number;
  readonly refresh: RefreshRequest;
  readonly objective: Objective;
  readonly network: NetworkAssumptions;
}

/**
 * Every plan for `layout`: the uncut body (not for a chain with max pools), then the segmented
 * ones (for objective throughput only a chain with max pools is cut, at its pools: every segment
 * packs the same rows per ciphertext, refresh-plan's buildSegments).
 */
export function candidatePlans(request: PlanRequest): { plans: Plan[]; uncutRefusal: DeepPowersError | null } {
  const { stages, layout, options, maxAbs, refresh, objective, network } = request;
  const plans: Plan[] = [];
  let uncutRefusal: DeepPowersError | null = null;
  if (poolCuts(stages).length === 0) {
    try {
      const build = (): LayoutBuild => buildLayout(stages, layout, options, objective);
      plans.push(uncutPlan(options.memo ? options.memo.uncut(stages, layout, options, objective, build) : build(), network));
    } catch (e) {
      if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS') throw e;
      uncutRefusal = e;
    }
  }
  if (objective === 'latency' || poolCuts(stages).length > 0) {
    for (const s of segmentedCandidates(stages, layout, options, maxAbs, refresh, objective)) plans.push(segmentedPlan(s, network));
  }
  return { plans, uncutRefusal };
}

/**
 * The fastest plan for `layout` that fits the heap budget; PARAMS error when none does. `asked`
 * is what the user asked of --refresh (the error names it only when it was off); `refresh` what
 * this layout may do.
 */
export function choosePlan(request: PlanRequest, asked: RefreshRequest = request.refresh, overHeap = false): Plan {
  const { stages, layout, objective } = request;
  const { plans, uncutRefusal } = candidatePlans(request);
  if (plans.length === 0) throw uncutRefusal ?? new DeepPowersError('PARAMS', `no parameters fit the ${layout} layout`);
  const fitting = overHeap ? plans : plans.filter((p) => p.memory.fits);
  if (fitting.length === 0) {
    const least = plans.reduce((a, b) => (b.memory.total < a.memory.total ? b : a));
    const what = least.refresh ? `cut into ${least.refresh.segments.length} segments, the body` : 'the body as one circuit';
    const could = asked === 'off' && objective === 'latency' && cutPoints(stages).length > 0 ? '; --refresh off forbids the client steps (--refresh auto) that would cut it to a smaller N' : '';
    fail('PARAMS', `${what} needs ${describeRunMemory(least.build.params, least.memory)}${could}`);
  }
  const best = fitting.reduce((a, b) => (b.latency.totalMs < a.latency.totalMs ? b : a));
  if (!best.refresh || !best.refresh.steps.some(isRefresh)) return best;
  const uncut = plans.find((p) => !p.refresh);
  const whyCut = !uncut
    ? `as one circuit: ${uncutRefusal?.message ?? 'no parameters fit'}`
    : !uncut.memory.fits
      ? `as one circuit it needs ${describeRunMemory(uncut.build.params, uncut.memory)}`
      : `faster end to end than one circuit at N=${uncut.build.params.polyModulusDegree} (${uncut.latency.totalMs.toFixed(0)} ms predicted)`;
  return { ...best, whyCut };
}

/** The plan in words: its N, segments, predicted latency and the network it assumed. */
export function describePlan(p: Plan, network: NetworkAssumptions): string {
  const ms = (x: number): string => x.toFixed(x < 10 ? 1 : 0);
  const n = `N=${p.build.params.polyModulusDegree}`;
  if (!p.refresh) return `${p.layout} ${ms(p.latency.totalMs)} ms at ${n}`;
  return `${p.layout} ${ms(p.latency.totalMs)} ms at ${n} in ${p.refresh.segments.length} segments (${p.latency.steps} client step${p.latency.steps === 1 ? '' : 's'} at ${network.rttMs} ms round trip)`;
}
