/**
 * Compile step 5: the approximated chain → one circuit with its parameters per layout asked for
 * (see build-layout), and the choice among them. Layout `auto` lowers both layouts and keeps, for
 * objective `latency`, the one with the lower estimated latency of one prediction (one circuit
 * run, client encryption and decryption included), and for `throughput` the one with more
 * estimated samples per second (samples per evaluation over that latency); a layout that cannot
 * fit (a vector layer wider than N/2) leaves the other.
 */
import type { Layout } from '../../circuit/ir';
import type { ApproxStage } from '../../chain/stages';
import { DeepPowersError, fail } from '../../errors';
import { samplesPerEvaluation } from '../../circuit/packing';
import { buildLayout, type LayoutBuild, type Objective, type ParameterOptions } from '../build-layout';
import type { CompileStep, LayoutRequest } from '../compile';

export interface LayoutChoice {
  readonly build: LayoutBuild;
  /** Every layout that was lowered, with its cost. */
  readonly candidates: readonly LayoutBuild[];
  readonly layoutReason: string;
}

export function chooseLayout(
  stages: readonly ApproxStage[],
  request: LayoutRequest,
  parameters: ParameterOptions,
  progress: (step: CompileStep) => void,
  objective: Objective = 'latency',
): LayoutChoice {
  const layouts: Layout[] = request === 'auto' ? ['vector', 'batch'] : [request];
  let { candidates, refusals } = buildLayouts(stages, layouts, request, parameters, progress, objective);
  if (candidates.length === 0 && parameters.strictPrecision === true) {
    // No N keeps the noise within the precision promise: build with the bare floor (the promise
    // then says it is not met).
    ({ candidates, refusals } = buildLayouts(stages, layouts, request, { ...parameters, strictPrecision: false }, progress, objective));
  }
  if (candidates.length === 0) fail('PARAMS', `no layout fits: ${refusals.join('; ')}`);
  const cost = objective === 'latency' ? (b: LayoutBuild): number => b.latency.totalMs : (b: LayoutBuild): number => -samplesPerSecond(b);
  const build = candidates.reduce((a, b) => (cost(b) < cost(a) ? b : a));
  return { build, candidates, layoutReason: layoutReason(request, objective, build, candidates, refusals) };
}

/** Estimated samples per second of one layout: a full evaluation's samples over its latency. */
function samplesPerSecond(b: LayoutBuild): number {
  return (1000 * samplesPerEvaluation(b.circuit)) / b.latency.totalMs;
}

function layoutReason(request: LayoutRequest, objective: Objective, chosen: LayoutBuild, candidates: readonly LayoutBuild[], refusals: readonly string[]): string {
  if (request !== 'auto') return `--layout ${request}`;
  if (candidates.length === 1) return `auto: only ${chosen.layout} fits (${refusals.join('; ')})`;
  if (objective === 'throughput') {
    const rate = (b: LayoutBuild): string => `${b.layout} ${samplesPerSecond(b).toFixed(0)} samples/s (${samplesPerEvaluation(b.circuit)} per evaluation) at N=${b.params.polyModulusDegree}`;
    return `auto: more estimated samples per second (${candidates.map(rate).join(' vs ')})`;
  }
  const ms = (b: LayoutBuild): string => `${b.layout} ${b.latency.totalMs.toFixed(0)} ms at N=${b.params.polyModulusDegree}`;
  return `auto: lower estimated latency of one prediction (${candidates.map(ms).join(' vs ')})`;
}

function buildLayouts(
  stages: readonly ApproxStage[],
  layouts: readonly Layout[],
  request: LayoutRequest,
  parameters: ParameterOptions,
  progress: (step: CompileStep) => void,
  objective: Objective,
): { candidates: LayoutBuild[]; refusals: string[] } {
  const candidates: LayoutBuild[] = [];
  const refusals: string[] = [];
  for (const layout of layouts) {
    progress(layout === 'vector' ? 'lower vector' : 'lower batch');
    try {
      candidates.push(buildLayout(stages, layout, parameters, objective));
    } catch (e) {
      if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS' || (request !== 'auto' && parameters.strictPrecision !== true)) throw e;
      refusals.push(`${layout}: ${e.message}`);
    }
  }
  return { candidates, refusals };
}
