/**
 * The plan search over layouts, whatever a candidate is (one circuit, or segments with client
 * steps): each layout asked for is built; under `auto` (or when strict precision is asked) a
 * layout whose parameters cannot fit is set aside with its reason; when none fits under strict
 * precision, all are built again with the bare floor (the promise then says it is not met); the
 * candidate of least `cost` is kept (the first on a tie).
 */
import type { Layout } from '../../circuit/ir';
import { DeepPowersError, fail } from '../../errors';
import type { ParameterOptions } from '../build-layout';
import type { CompileStep, LayoutRequest } from '../compile';

export interface LayoutCandidates<B> {
  readonly chosen: B;
  /** Every layout that was built, with its cost. */
  readonly candidates: readonly B[];
  /** Why each other layout was set aside. */
  readonly refusals: readonly string[];
}

export function chooseAmongLayouts<B extends { readonly layout: Layout }>(
  request: LayoutRequest,
  parameters: ParameterOptions,
  progress: (step: CompileStep) => void,
  build: (layout: Layout, parameters: ParameterOptions) => B,
  cost: (b: B) => number,
): LayoutCandidates<B> {
  const layouts: Layout[] = request === 'auto' ? ['vector', 'batch'] : [request];
  const buildAll = (p: ParameterOptions): { candidates: B[]; refusals: string[] } => {
    const candidates: B[] = [];
    const refusals: string[] = [];
    for (const layout of layouts) {
      progress(layout === 'vector' ? 'lower vector' : 'lower batch');
      try {
        candidates.push(build(layout, p));
      } catch (e) {
        if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS' || (request !== 'auto' && p.strictPrecision !== true)) throw e;
        refusals.push(`${layout}: ${e.message}`);
      }
    }
    return { candidates, refusals };
  };
  let { candidates, refusals } = buildAll(parameters);
  if (candidates.length === 0 && parameters.strictPrecision === true) ({ candidates, refusals } = buildAll({ ...parameters, strictPrecision: false }));
  if (candidates.length === 0) fail('PARAMS', `no layout fits: ${refusals.join('; ')}`);
  const chosen = candidates.reduce((a, b) => (cost(b) < cost(a) ? b : a));
  return { chosen, candidates, refusals };
}

/** Why the layout was kept, in words: `better` names what auto compared, `figure` gives each candidate's number. */
export function layoutReasonOf<B extends { readonly layout: Layout }>(request: LayoutRequest, c: LayoutCandidates<B>, better: string, figure: (b: B) => string): string {
  if (request !== 'auto') return `--layout ${request}`;
  if (c.candidates.length === 1) return `auto: only ${c.chosen.layout} fits (${c.refusals.join('; ')})`;
  return `auto: ${better} (${c.candidates.map(figure).join(' vs ')})`;
}
