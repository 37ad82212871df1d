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

/** Whether every product multiplies the two factors' values at one index (no picking): what the vector layout holds. */
export function isSlotWise(s: ProductStage): boolean {
  return s.factorSizes[0] === s.size && s.factorSizes[1] === s.size && s.left.every((j, i) => j === i) && s.right.every((j, i) => j === i);
}
