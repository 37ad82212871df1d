import type { Plaintext } from 'node-seal';
import { fail } from '../../../compiler/errors';
import { freeAll, type SealCkksContext } from './context';

/**
 * A CKKS plaintext's polynomial as exact integers, and back: what a coefficient-domain mask
 * (compiler/client-steps/coefficient-mask.ts) reads and writes without the float64 encoder.
 * SEAL keeps a CKKS plaintext in NTT form, residue by residue under each prime of its level, and
 * node-seal has no coefficient access; so the residues are read from and written to SEAL's own
 * serialization (SEAL 4.1, compr_mode none), and SEAL's NTT does the transform: the plaintext's
 * data goes in as c0 of a two-component ciphertext (c1 a filler: SEAL refuses a transparent one), through
 * cipherTransformFromNtt / cipherTransformToNtt. The residues become one integer per coefficient
 * by the Chinese remainder theorem (BigInt), centered in (−Q/2, Q/2].
 *
 * Layouts (little endian; every object starts with SEAL's 16-byte SEALHeader):
 *   Plaintext:  header, parms_id (4 × u64), coeff_count u64, scale f64, DynArray (header, size u64, u64 data)
 *   Ciphertext: header, parms_id, is_ntt_form u8, size u64, N u64, primes u64, scale f64,
 *               correction_factor u64, DynArray — polynomial-major, then prime, then coefficient
 */

const HEADER_BYTES = 16;
const SEAL_MAGIC = 0xa15e;
const PARMS_ID_BYTES = 32;
const PLAINTEXT_DATA_AT = HEADER_BYTES + PARMS_ID_BYTES + 8 + 8 + HEADER_BYTES + 8;
const CIPHERTEXT_DATA_AT = HEADER_BYTES + PARMS_ID_BYTES + 1 + 8 + 8 + 8 + 8 + 8 + HEADER_BYTES + 8;

/** The primes of `level` (SEAL's chain index: level l keeps primes 0..l). */
export function levelPrimes(ctx: SealCkksContext, level: number): bigint[] {
  if (!(Number.isInteger(level) && level >= 0 && level <= ctx.maxLevel)) fail('BAD_ARGUMENT', `level ${level} is outside the modulus chain 0..${ctx.maxLevel}`);
  return ctx.spec.primes.slice(0, level + 1).map((p) => BigInt(p));
}

/** The integer coefficients of a CKKS plaintext at `level` (NTT form, as SEAL keeps them), each centered mod Q_level. */
export function plaintextCoefficients(ctx: SealCkksContext, pt: Plaintext, level: number): bigint[] {
  const primes = levelPrimes(ctx, level);
  const n = ctx.spec.polyModulusDegree;
  if (!pt.isNttForm()) fail('BAD_ARGUMENT', 'a CKKS plaintext must be in NTT form');
  const saved = new Uint8Array(pt.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array);
  if (saved.length !== PLAINTEXT_DATA_AT + 8 * n * primes.length) fail('BAD_CIPHERTEXT', `the plaintext holds ${saved.length} bytes, not ${primes.length} primes of ${n} coefficients at level ${level}`);
  const ntt = saved.subarray(PLAINTEXT_DATA_AT);
  const coefficients = transformed(ctx, level, ntt, 'from');
  return crtCentered(coefficients, primes, n);
}

/**
 * The CKKS plaintext at `level` and `scale` whose polynomial has the integer coefficients
 * `coefficients` (N of them, each reduced mod every prime of the level). The caller owns it.
 */
export function plaintextOfCoefficients(ctx: SealCkksContext, coefficients: readonly bigint[], level: number, scale: number): Plaintext {
  const primes = levelPrimes(ctx, level);
  const n = ctx.spec.polyModulusDegree;
  if (coefficients.length !== n) fail('BAD_ARGUMENT', `${coefficients.length} coefficients for a polynomial of degree ${n}`);
  const residues = new Uint8Array(8 * n * primes.length);
  const view = new DataView(residues.buffer);
  primes.forEach((q, j) => {
    for (let i = 0; i < n; i++) {
      const r = coefficients[i]! % q;
      view.setBigUint64(8 * (j * n + i), r < 0n ? r + q : r, true);
    }
  });
  const ntt = transformed(ctx, level, residues, 'to');
  const bytes = new Uint8Array(PLAINTEXT_DATA_AT + ntt.length);
  const out = new DataView(bytes.buffer);
  sealHeader(out, 0, bytes.length);
  writeParmsId(ctx, out, HEADER_BYTES, level);
  out.setBigUint64(HEADER_BYTES + PARMS_ID_BYTES, BigInt(n * primes.length), true);
  out.setFloat64(HEADER_BYTES + PARMS_ID_BYTES + 8, scale, true);
  sealHeader(out, HEADER_BYTES + PARMS_ID_BYTES + 16, HEADER_BYTES + 8 + ntt.length);
  out.setBigUint64(PLAINTEXT_DATA_AT - 8, BigInt(n * primes.length), true);
  bytes.set(ntt, PLAINTEXT_DATA_AT);
  const pt = new ctx.seal.Plaintext();
  try {
    pt.loadFromArray(ctx.context, bytes);
    return pt;
  } catch (e) {
    pt.delete();
    throw e;
  }
}

/** One polynomial's residues (prime-major, u64 little endian) through SEAL's NTT at `level`, `from` or `to` NTT form. */
function transformed(ctx: SealCkksContext, level: number, residues: Uint8Array, direction: 'from' | 'to'): Uint8Array {
  const primes = level + 1;
  const n = ctx.spec.polyModulusDegree;
  const poly = 8 * n * primes;
  const bytes = new Uint8Array(CIPHERTEXT_DATA_AT + 2 * poly);
  const view = new DataView(bytes.buffer);
  sealHeader(view, 0, bytes.length);
  let at = writeParmsId(ctx, view, HEADER_BYTES, level);
  view.setUint8(at, direction === 'from' ? 1 : 0);
  view.setBigUint64(at + 1, 2n, true);
  view.setBigUint64(at + 9, BigInt(n), true);
  view.setBigUint64(at + 17, BigInt(primes), true);
  view.setFloat64(at + 25, 1.0, true);
  view.setBigUint64(at + 33, 1n, true); // correction_factor (BGV's; 1 for CKKS)
  at += 41;
  sealHeader(view, at, HEADER_BYTES + 8 + 2 * poly);
  view.setBigUint64(at + HEADER_BYTES, BigInt(2 * n * primes), true);
  bytes.set(residues, CIPHERTEXT_DATA_AT); // c0
  // c1: any nonzero polynomial (SEAL's evaluator refuses a transparent ciphertext, c1 = 0); only c0 is read back.
  for (let k = 0; k < n * primes; k++) view.setBigUint64(CIPHERTEXT_DATA_AT + poly + 8 * k, 1n, true);
  const ct = new ctx.seal.Ciphertext();
  try {
    ct.loadFromArray(ctx.context, bytes);
    if (direction === 'from') ctx.evaluator.cipherTransformFromNttInplace(ct);
    else ctx.evaluator.cipherTransformToNttInplace(ct);
    const saved = new Uint8Array(ct.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array);
    if (saved.length !== bytes.length) fail('IO', `SEAL saved a transformed polynomial in ${saved.length} bytes, expected ${bytes.length}`);
    return saved.slice(CIPHERTEXT_DATA_AT, CIPHERTEXT_DATA_AT + poly);
  } finally {
    freeAll(ct);
  }
}

/** Residues (prime-major, u64 little endian) → one integer per coefficient, centered in (−Q/2, Q/2]. */
export function crtCentered(residues: Uint8Array, primes: readonly bigint[], n: number): bigint[] {
  const view = new DataView(residues.buffer, residues.byteOffset, residues.byteLength);
  const modulus = primes.reduce((a, q) => a * q, 1n);
  const half = modulus / 2n;
  // x = Σ_j ((r_j · (Q/q_j)^−1) mod q_j) · Q/q_j  mod Q
  const cofactors = primes.map((q) => modulus / q);
  const inverses = primes.map((q, j) => modInverse(cofactors[j]! % q, q));
  const out = new Array<bigint>(n);
  for (let i = 0; i < n; i++) {
    let x = 0n;
    for (let j = 0; j < primes.length; j++) {
      const r = view.getBigUint64(8 * (j * n + i), true);
      x += ((r * inverses[j]!) % primes[j]!) * cofactors[j]!;
    }
    x %= modulus;
    out[i] = x > half ? x - modulus : x;
  }
  return out;
}

function modInverse(a: bigint, q: bigint): bigint {
  let [r0, r1] = [q, ((a % q) + q) % q];
  let [t0, t1] = [0n, 1n];
  while (r1 !== 0n) {
    const k = r0 / r1;
    [r0, r1] = [r1, r0 - k * r1];
    [t0, t1] = [t1, t0 - k * t1];
  }
  if (r0 !== 1n) fail('PARAMS', `${a} has no inverse mod ${q}`);
  return ((t0 % q) + q) % q;
}

function sealHeader(view: DataView, at: number, size: number): void {
  view.setUint16(at, SEAL_MAGIC, true);
  view.setUint8(at + 2, HEADER_BYTES);
  view.setUint8(at + 3, 4); // SEAL 4.1
  view.setUint8(at + 4, 1);
  view.setUint8(at + 5, 0); // compr_mode_type::none
  view.setUint16(at + 6, 0, true);
  view.setBigUint64(at + 8, BigInt(size), true);
}

function writeParmsId(ctx: SealCkksContext, view: DataView, at: number, level: number): number {
  const words = Array.from(ctx.parmsIdAt(level).values() as BigUint64Array);
  for (const w of words) {
    view.setBigUint64(at, w, true);
    at += 8;
  }
  return at;
}
