/**
 * The largest |value| CKKS can encode at `scale` on a ciphertext at `level`: value · scale must
 * stay below half the modulus left at that level (one more bit is kept spare for the encoder's
 * rounding). Beyond it an encoder either throws or (SEAL, for values whose product overflows a
 * double) corrupts its own heap; both must be refused before a backend sees the value.
 */
export function maxEncodable(coeffModulusBits: readonly number[], level: number, scale: number): number {
  return 2 ** maxEncodableBits(coeffModulusBits, level, scale);
}

/** log2 of `maxEncodable`. */
export function maxEncodableBits(coeffModulusBits: readonly number[], level: number, scale: number): number {
  const bits = coeffModulusBits.slice(0, level + 1).reduce((a, b) => a + b, 0);
  return bits - 2 - Math.log2(scale);
}
