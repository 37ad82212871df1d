/**
 * Compile step 5: the approximated chain → one circuit with its parameters per layout asked for
 * (see build-layout), and the choice among them. Layout `auto` lowers both layouts and keeps the
 * one with the lower estimated latency of one prediction (one circuit run, client encryption and
 * decryption included); a layout that cannot fit (a vector layer wider than N/2) leaves the other.
 */
import type { Layout } from '../../circuit/ir';
import type { ApproxStage } from '../../chain/stages';
import { DeepPowersError, fail } from '../../errors';
import { buildLayout, type LayoutBuild, type ParameterOptions } from '../build-layout';
import type { CompileStep, LayoutRequest } from '../compile';

export interface LayoutChoice {
  readonly build: LayoutBuild;
  /** Every layout that was lowered, with its cost. */
  readonly candidates: readonly LayoutBuild[];
  readonly layoutReason: string;
}

export function chooseLayout(stages: readonly ApproxStage[], request: LayoutRequest, parameters: ParameterOptions, progress: (step: CompileStep) => void): LayoutChoice {
  const layouts: Layout[] = request === 'auto' ? ['vector', 'batch'] : [request];
  let { candidates, refusals } = buildLayouts(stages, layouts, request, parameters, progress);
  if (candidates.length === 0 && parameters.strictPrecision === true) {
    // No N keeps the noise within the precision promise: build with the bare floor (the promise
    // then says it is not met).
    ({ candidates, refusals } = buildLayouts(stages, layouts, request, { ...parameters, strictPrecision: false }, progress));
  }
  if (candidates.length === 0) fail('PARAMS', `no layout fits: ${refusals.join('; ')}`);
  const build = candidates.reduce((a, b) => (b.latency.totalMs < a.latency.totalMs ? b : a));
  return { build, candidates, layoutReason: layoutReason(request, build, candidates, refusals) };
}

function layoutReason(request: LayoutRequest, chosen: LayoutBuild, candidates: readonly LayoutBuild[], refusals: readonly string[]): string {
  if (request !== 'auto') return `--layout ${request}`;
  const ms = (b: LayoutBuild): string => `${b.layout} ${b.latency.totalMs.toFixed(0)} ms at N=${b.params.polyModulusDegree}`;
  if (candidates.length === 1) return `auto: only ${chosen.layout} fits (${refusals.join('; ')})`;
  return `auto: lower estimated latency of one prediction (${candidates.map(ms).join(' vs ')})`;
}

function buildLayouts(
  stages: readonly ApproxStage[],
  layouts: readonly Layout[],
  request: LayoutRequest,
  parameters: ParameterOptions,
  progress: (step: CompileStep) => void,
): { candidates: LayoutBuild[]; refusals: string[] } {
  const candidates: LayoutBuild[] = [];
  const refusals: string[] = [];
  for (const layout of layouts) {
    progress(layout === 'vector' ? 'lower vector' : 'lower batch');
    try {
      candidates.push(buildLayout(stages, layout, parameters));
    } catch (e) {
      if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS' || (request !== 'auto' && parameters.strictPrecision !== true)) throw e;
      refusals.push(`${layout}: ${e.message}`);
    }
  }
  return { candidates, refusals };
}
