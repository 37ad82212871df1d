import { paramsOf, type ActivationFn, type ActivationParams } from '../../compiler/activations/registry';
import type { Approximation } from '../../compiler/artifact/types';

/** One fitted activation as `compile --json` and `report --json` show it. */
export interface ApproximationSummary {
  readonly sources: readonly string[];
  readonly fn: ActivationFn;
  readonly params?: ActivationParams;
  /** Input range on the calibration rows, and the range the polynomial was fitted on. */
  readonly observedRange: readonly [number, number];
  readonly range: readonly [number, number];
  readonly method: string;
  readonly degree: number;
  readonly maxError: number;
}

export function approximationSummary(
  a: Pick<Approximation, 'sources' | 'fn' | 'params' | 'range' | 'method' | 'degree' | 'maxError'>,
  observedRange: readonly [number, number],
): ApproximationSummary {
  return { sources: a.sources, fn: a.fn, ...paramsOf(a), observedRange, range: a.range, method: a.method, degree: a.degree, maxError: a.maxError };
}
