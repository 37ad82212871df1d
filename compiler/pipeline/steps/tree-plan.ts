/**
 * Compile step 4 for a tree ensemble, the plan search: the encoded trees → the batch-layout
 * circuit and its parameters. There is no degree to choose and no rotation (one sample per slot),
 * so the search is over parameters alone: the scores' range is known once the trees are encoded,
 * and when the parameters the options give keep too few bits for the whole precision bound (and
 * the user fixed none), the body is built again keeping those bits, on a larger N if one holds
 * them; when none does, the first build stays and the promise says it is not met.
 * The circuit computes the grid-snapped trees exactly (what snapping changes is counted in
 * calibration rows), so only CKKS noise stands between its scores and the client's.
 */
import { absoluteBound, noisePrecisionBits, precisionPromise, type PrecisionPromise } from '../../approx/precision-target';
import { DeepPowersError } from '../../errors';
import { buildTreeLayout, type LayoutBuild } from '../../plan/build-layout';
import type { EncodedTrees } from './encode-trees';
import type { CompileOptions } from './options';
import { parameterOptions, precisionDerived } from './plan-search';

export interface TreePlan {
  readonly build: LayoutBuild;
  readonly precision: PrecisionPromise;
}

/** `relative`: the checked --precision (a share of the scores' calibrated range). */
export function searchTreePlan(trees: EncodedTrees, options: CompileOptions, relative: number): TreePlan {
  const parameters = parameterOptions(options, trees.outputBits);
  const range: [number, number] = [trees.calibration.output.min, trees.calibration.output.max];
  const magnitude = Math.max(1, ...range.map(Math.abs));
  let build = buildTreeLayout(trees.body, parameters);
  if (precisionDerived(options)) {
    const bits = noisePrecisionBits(absoluteBound(relative, range), 0, magnitude);
    if (build.params.expectedPrecisionBits < bits) {
      try {
        build = buildTreeLayout(trees.body, { ...parameters, precisionBits: bits, strictPrecision: true });
      } catch (e) {
        if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS') throw e;
      }
    }
  }
  return { build, precision: precisionPromise(relative, range, 0, magnitude, build.params.expectedPrecisionBits) };
}
