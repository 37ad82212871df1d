import { fail } from '../errors';

/**
 * CKKS slots rotate cyclically over N/2 positions, so step s and s ± N/2 are the same rotation
 * and share one Galois key. Steps are kept as left rotations in [1, slots): SEAL maps a negative
 * step −k to N/2 − k the same way (GaloisTool::get_elt_from_step), and step 0 needs no key.
 */
export function normalizeRotationSteps(steps: readonly number[], slots: number): number[] {
  const unique = new Set<number>();
  for (const step of steps) {
    if (!Number.isSafeInteger(step)) fail('BAD_ARGUMENT', `rotation step ${step} is not an integer`);
    const normalized = ((step % slots) + slots) % slots;
    if (normalized !== 0) unique.add(normalized);
  }
  return [...unique].sort((a, b) => a - b);
}

/** SEAL's generator for the rotation group of Z[X]/(X^N + 1). */
const GENERATOR = 3;

/** The Galois element SEAL uses to rotate left by `step` ∈ [1, N/2): 3^step mod 2N. */
export function galoisElement(step: number, polyModulusDegree: number): number {
  const m = 2 * polyModulusDegree;
  let element = 1;
  let base = GENERATOR;
  let e = step;
  // m ≤ 2^17 keeps every product below 2^34, exact in a double.
  while (e > 0) {
    if (e & 1) element = (element * base) % m;
    base = (base * base) % m;
    e >>= 1;
  }
  return element;
}
