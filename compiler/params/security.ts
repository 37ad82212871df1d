/**
 * The largest total coefficient-modulus size (bits of Q·P, special prime included) that keeps a
 * ternary-secret RLWE instance at 128-bit classical security: SEAL 4.1 `hestdparms.h`, returned by
 * `CoeffModulus.MaxBitCount(N, SecLevelType.tc128)` (checked against node-seal in the tests).
 * There is deliberately no lower security level anywhere in the compiler.
 */
export const SECURITY_BITS = 128;

export const TC128_MAX_BIT_COUNT: ReadonlyMap<number, number> = new Map([
  [1024, 27],
  [2048, 54],
  [4096, 109],
  [8192, 218],
  [16384, 438],
  [32768, 881],
]);

/** Polynomial degrees SEAL has a 128-bit bound for, ascending. */
export const POLY_MODULUS_DEGREES: readonly number[] = [...TC128_MAX_BIT_COUNT.keys()];

export function maxBitCount(polyModulusDegree: number): number | undefined {
  return TC128_MAX_BIT_COUNT.get(polyModulusDegree);
}
