import { describe, expect, test } from 'vitest';
import { createSealContext, type SealCkksContext } from '../../runtime/backends/seal/context';
import { deriveSecretKey, secretKeySerialization, ternaryFromSeed } from '../../runtime/backends/seal/derived-secret-key';
import { createSecretKey, saveSecretKey } from '../../runtime/backends/seal/keys';
import { forwardNtt, inverseNtt, minimalPrimitiveRoot } from '../../runtime/backends/seal/ntt';
import { loadSeal } from '../../runtime/backends/seal/seal-module';

/**
 * The secret key built outside SEAL (for recovery phrases) must be exactly what SEAL would
 * hold: the transform is checked against SEAL's own keys, and a derived key against SEAL's
 * public-key encryption, whose decryption is only right when the key is small.
 */
const N = 4096;
const BITS = [41, 25, 41];

async function context(): Promise<SealCkksContext> {
  const seal = await loadSeal();
  const moduli = seal.CoeffModulus.Create(N, Int32Array.from(BITS));
  const primes = (seal.jsArrayFromVecModulus(moduli) as bigint[]).map(BigInt);
  moduli.delete();
  return createSealContext({ polyModulusDegree: N, coeffModulusBits: BITS, primes, parameterId: 'test' });
}

/** A SEAL SecretKey serialization without compression: 88 bytes of headers and members, then the NTT-form data prime by prime. */
function sealKeyResidues(ctx: SealCkksContext): bigint[][] {
  const sk = createSecretKey(ctx);
  const raw = new Uint8Array(sk.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array);
  sk.delete();
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const primes = ctx.spec.primes.map(BigInt);
  expect(raw.length).toBe(88 + 8 * N * primes.length);
  return primes.map((_, j) => Array.from({ length: N }, (_, i) => view.getBigUint64(88 + 8 * (j * N + i), true)));
}

describe('SEAL-compatible NTT and derived secret keys', () => {
  test('the smallest primitive 2N-th root, checked by brute force on a small prime', () => {
    // q = 97 ≡ 1 mod 16: the primitive 16th roots are the x with x^8 = −1; the smallest is 8 (8^2 = 64, 8^4 = 22, 8^8 = 96).
    const roots = Array.from({ length: 96 }, (_, i) => BigInt(i + 1)).filter((x) => (x ** 8n) % 97n === 96n);
    expect(minimalPrimitiveRoot(8, 97n)).toBe(roots[0]);
    expect(roots[0]).toBe(8n);
  });

  test("SEAL's own secret key inverse-transforms to one ternary polynomial under every prime", async () => {
    const ctx = await context();
    try {
      const residues = sealKeyResidues(ctx);
      const primes = ctx.spec.primes.map(BigInt);
      const signed = residues.map((r, j) => {
        const q = primes[j]!;
        const coeffs = r.slice();
        inverseNtt(coeffs, q);
        const back = coeffs.slice();
        forwardNtt(back, q);
        expect(back).toEqual(r);
        return coeffs.map((c) => (c === 0n ? 0 : c === 1n ? 1 : c === q - 1n ? -1 : Number.NaN));
      });
      expect(signed[0]!.every((c) => c === -1 || c === 0 || c === 1)).toBe(true);
      for (const s of signed) expect(s).toEqual(signed[0]);
      // Uniform ternary: each value about a third of the time.
      for (const v of [-1, 0, 1]) expect(signed[0]!.filter((c) => c === v).length).toBeGreaterThan(N / 3 - 200);
    } finally {
      ctx.dispose();
    }
  });

  test('the serialization matches SEAL byte for byte', async () => {
    const ctx = await context();
    try {
      const sk = createSecretKey(ctx);
      const sealBytes = new Uint8Array(sk.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array);
      sk.delete();
      const view = new DataView(sealBytes.buffer, sealBytes.byteOffset, sealBytes.byteLength);
      const primes = ctx.spec.primes.map(BigInt);
      const parmsId = [0, 1, 2, 3].map((i) => view.getBigUint64(16 + 8 * i, true));
      const residues = primes.map((q) => {
        const r = Array.from({ length: N }, (_, i) => view.getBigUint64(88 + 8 * (primes.indexOf(q) * N + i), true));
        inverseNtt(r, q);
        return r;
      });
      const ternary = Int8Array.from(residues[0]!, (c) => (c === 0n ? 0 : c === 1n ? 1 : -1));
      expect(Buffer.from(secretKeySerialization(ternary, primes, parmsId)).equals(Buffer.from(sealBytes))).toBe(true);
    } finally {
      ctx.dispose();
    }
  });

  test('a derived key is deterministic and decrypts public-key encryptions (which need a small key)', async () => {
    const ctx = await context();
    const { seal } = ctx;
    try {
      const seed = new Uint8Array(32).fill(9);
      const a = deriveSecretKey(ctx, seed);
      const b = deriveSecretKey(ctx, seed);
      const c = deriveSecretKey(ctx, new Uint8Array(32).fill(10));
      const bytesOf = (k: typeof a) => Buffer.from(saveSecretKey(ctx, k));
      expect(bytesOf(a).equals(bytesOf(b))).toBe(true);
      expect(bytesOf(a).equals(bytesOf(c))).toBe(false);
      const keygen = new seal.KeyGenerator(ctx.context, a);
      const pk = keygen.createPublicKey();
      const encryptor = new seal.Encryptor(ctx.context, pk);
      const decryptor = new seal.Decryptor(ctx.context, a);
      const values = Float64Array.from([1.5, -2.25, 3, 0.125]);
      const pt = new seal.Plaintext();
      const ct = new seal.Ciphertext();
      const out = new seal.Plaintext();
      ctx.encoder.encode(values, 2 ** 25, pt);
      encryptor.encrypt(pt, ct);
      decryptor.decrypt(ct, out);
      const decoded = Array.from(ctx.encoder.decodeFloat64(out) as ArrayLike<number>).slice(0, 4);
      decoded.forEach((v, i) => expect(Math.abs(v - values[i]!)).toBeLessThan(1e-3));
      for (const o of [keygen, pk, encryptor, decryptor, pt, ct, out, a, b, c]) o.delete();
    } finally {
      ctx.dispose();
    }
  });

  test('ternaryFromSeed is uniform-looking and needs a 256-bit seed', () => {
    const t = ternaryFromSeed(new Uint8Array(32), N);
    for (const v of [-1, 0, 1]) expect(t.filter((c) => c === v).length).toBeGreaterThan(N / 3 - 200);
    expect(() => ternaryFromSeed(new Uint8Array(16), N)).toThrow(/256 bits/);
  });
});
