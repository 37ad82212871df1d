import type { InputRange } from '../../compiler/artifact/types';
import type { ClientView } from '../../compiler/artifact/views';

/**
 * How much of the calibration's per-feature ranges a served model's client view shows. The
 * ranges are the min and max of the owner's calibration rows (training data), given to every
 * client so it can refuse rows the circuit was not calibrated for:
 *   exact:  as compiled;
 *   coarse: each bound rounded outward to a power of two (or 0), so a client learns each
 *           feature's range only within a factor of 2 at each end; the client's check then
 *           accepts a little more than the calibrated range (wider, never narrower);
 *   none:   no ranges; the client skips the check, and a row outside the range can come back
 *           silently wrong.
 * `deeppowers serve --client-ranges`. Tree cut points and the prologue's weights are part of
 * what the client computes and cannot be hidden this way (docs/security.md "Who sees what").
 */
export type RangeExposure = 'exact' | 'coarse' | 'none';

export const RANGE_EXPOSURES: readonly RangeExposure[] = ['exact', 'coarse', 'none'];

export function exposeRanges(view: ClientView, exposure: RangeExposure): ClientView {
  switch (exposure) {
    case 'exact':
      return view;
    case 'coarse':
      return view.inputRange === null ? view : { ...view, inputRange: { ...view.inputRange, range: coarsenRange(view.inputRange.range) } };
    case 'none':
      return { ...view, inputRange: null };
  }
}

/** Each min rounded down and each max rounded up to 0 or ± a power of two. */
export function coarsenRange(range: InputRange): InputRange {
  return { min: range.min.map((v) => -roundUp(-v)), max: range.max.map(roundUp) };
}

/** The smallest of 0 and ±2^k at or above v. */
function roundUp(v: number): number {
  if (v === 0 || !Number.isFinite(v)) return v;
  if (v > 0) return 2 ** Math.ceil(Math.log2(v));
  return -(2 ** Math.floor(Math.log2(-v)));
}
