/**
 * The float64 meaning of a product stage, written once: calibration, the exact chain, bias
 * correction and the chain statistics all evaluate it through here.
 */
import { fail } from '../errors';
import type { ProductStage } from './stages';

/** y[i] = x[i]·x[size + i]: the stage input is its two factors concatenated. */
export function multiplyHalves(s: ProductStage, x: Float64Array): Float64Array {
  if (x.length !== 2 * s.size) fail('BAD_DATA', `a product of ${s.size} values reads ${2 * s.size}, got ${x.length}`);
  const y = new Float64Array(s.size);
  for (let i = 0; i < s.size; i++) y[i] = x[i]! * x[s.size + i]!;
  return y;
}
