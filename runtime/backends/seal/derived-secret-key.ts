import { createHash } from 'node:crypto';
import { DeepPowersError } from '../../../compiler/errors';
import type { SecretKey } from 'node-seal';
import type { SealCkksContext } from './context';
import { loadSecretKey } from './keys';
import { forwardNtt } from './ntt';

/**
 * A CKKS secret key made from a seed instead of SEAL's random generator, so the same seed gives
 * the same key on any machine. node-seal exposes no seeded key generator, so the key is built
 * the way SEAL builds one (KeyGenerator::generate_sk): a uniform ternary polynomial, stored in
 * NTT form under every prime of the key level, serialized as SEAL serializes a SecretKey, and
 * then loaded by SEAL, which checks it like any key it reads.
 */

/** A uniform ternary polynomial (coefficients −1, 0, 1) from a SHAKE256 stream of the seed. */
export function ternaryFromSeed(seed: Uint8Array, n: number): Int8Array {
  if (seed.length < 32) throw new DeepPowersError('BAD_ARGUMENT', 'a secret-key seed must have at least 256 bits');
  // Bytes ≥ 255 are rejected so that byte mod 3 is uniform; 2N bytes leave a 2^-(hundreds) chance of running out.
  const stream = createHash('shake256', { outputLength: 2 * n }).update('deeppowers/ternary/v1').update(seed).digest();
  const out = new Int8Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) {
    let byte: number;
    do {
      if (k >= stream.length) throw new DeepPowersError('IO', 'the seed stream ran out while sampling a secret key');
      byte = stream[k++]!;
    } while (byte >= 255);
    out[i] = (byte % 3) - 1;
  }
  return out;
}

const SEAL_MAGIC = 0xa15e;
const SEAL_HEADER_BYTES = 16;

/** SEAL's 16-byte SEALHeader (serialization.h) for an uncompressed object of `size` bytes in all. */
function sealHeader(view: DataView, at: number, size: number): void {
  view.setUint16(at, SEAL_MAGIC, true);
  view.setUint8(at + 2, SEAL_HEADER_BYTES);
  view.setUint8(at + 3, 4); // SEAL version 4.1
  view.setUint8(at + 4, 1);
  view.setUint8(at + 5, 0); // compr_mode_type::none
  view.setUint16(at + 6, 0, true);
  view.setBigUint64(at + 8, BigInt(size), true);
}

/**
 * SecretKey::save of a key whose polynomial is `ternary`: the Plaintext members (parms_id,
 * coeff_count, scale 1.0, then its DynArray with its own header) holding the NTT form of the
 * polynomial under each prime of the key level, prime after prime.
 */
export function secretKeySerialization(ternary: Int8Array, primes: readonly bigint[], keyParmsId: readonly bigint[]): Uint8Array {
  const n = ternary.length;
  const coeffs = n * primes.length;
  const arrayBytes = SEAL_HEADER_BYTES + 8 + 8 * coeffs;
  const total = SEAL_HEADER_BYTES + 8 * keyParmsId.length + 8 + 8 + arrayBytes;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  let at = 0;
  sealHeader(view, at, total);
  at += SEAL_HEADER_BYTES;
  for (const word of keyParmsId) {
    view.setBigUint64(at, word, true);
    at += 8;
  }
  view.setBigUint64(at, BigInt(coeffs), true);
  view.setFloat64(at + 8, 1.0, true);
  at += 16;
  sealHeader(view, at, arrayBytes);
  view.setBigUint64(at + SEAL_HEADER_BYTES, BigInt(coeffs), true);
  at += SEAL_HEADER_BYTES + 8;
  for (const q of primes) {
    const values = Array.from(ternary, (c) => (c === 0 ? 0n : c === 1 ? 1n : q - 1n));
    forwardNtt(values, q);
    for (const v of values) {
      view.setBigUint64(at, v, true);
      at += 8;
    }
  }
  return bytes;
}

/** The secret key derived from `seed` in this context (the caller owns it and must delete it). */
export function deriveSecretKey(ctx: SealCkksContext, seed: Uint8Array): SecretKey {
  const id = ctx.context.keyParmsId();
  let keyParmsId: bigint[];
  try {
    keyParmsId = Array.from(id.values() as BigUint64Array);
  } finally {
    id.delete();
  }
  const primes = ctx.spec.primes.map((p) => BigInt(p));
  return loadSecretKey(ctx, secretKeySerialization(ternaryFromSeed(seed, ctx.spec.polyModulusDegree), primes, keyParmsId));
}
