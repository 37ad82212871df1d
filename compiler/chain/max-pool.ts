/**
 * The max over windows that a MaxPool stage computes (compiler/chain/stages.ts), in float64: the
 * exact chain, calibration and the client step all take it from here.
 */
import { fail } from '../errors';

/** y[o] = max of x[i] for i in windows[o]. */
export function maxOverWindows(windows: readonly (readonly number[])[], x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(windows.length);
  windows.forEach((w, o) => {
    if (w.length === 0) fail('BAD_ARTIFACT', `max-pool window ${o} is empty`);
    let best = x[w[0]!]!;
    for (let k = 1; k < w.length; k++) best = Math.max(best, x[w[k]!]!);
    y[o] = best;
  });
  return y;
}
