/**
 * The float64 meaning of a product stage, written once: calibration, the exact chain, bias
 * correction and the chain statistics all evaluate it through here.
 */
import { fail } from '../errors';
import type { ProductStage } from './stages';

/** y[i] = a[left[i]]·b[right[i]]: the stage input is its two factors a and b concatenated. */
export function multiplyFactors(s: ProductStage, x: Float64Array): Float64Array {
  const [na, nb] = s.factorSizes;
  if (x.length !== na + nb) fail('BAD_DATA', `a product of factors of ${na} and ${nb} values, got ${x.length}`);
  const y = new Float64Array(s.size);
  for (let i = 0; i < s.size; i++) y[i] = x[s.left[i]!]! * x[na + s.right[i]!]!;
  return y;
}

