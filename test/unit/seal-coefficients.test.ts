import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Plaintext } from 'node-seal';
import { drawCoefficientMask, maskHalfWidth, rescaleCoefficients } from '../../compiler/client-steps/coefficient-mask';
import { plaintextCoefficients, plaintextOfCoefficients } from '../../runtime/backends/seal/coefficients';
import { createSealContext, type SealCkksContext } from '../../runtime/backends/seal/context';
import { loadSeal } from '../../runtime/backends/seal/seal-module';

/**
 * The coefficient access a coefficient-domain mask is built on, checked against SEAL itself: the
 * integers read from a plaintext are the ones SEAL's encoder made (a constant c is c·Δ at
 * coefficient 0 and ≈ 0 elsewhere; written back, SEAL decodes the same values), a polynomial
 * lifted to more primes decodes the same, and a 40-bit coefficient mask put on a ciphertext and
 * taken off at another level and scale leaves the values within CKKS noise.
 */
const N = 8192;
const BITS = [50, 40, 40, 50];
const DELTA = 2 ** 40;

let ctx: SealCkksContext;
beforeAll(async () => {
  const seal = await loadSeal();
  const moduli = seal.CoeffModulus.Create(N, Int32Array.from(BITS));
  const primes = (seal.jsArrayFromVecModulus(moduli) as bigint[]).map(BigInt);
  moduli.delete();
  ctx = await createSealContext({ polyModulusDegree: N, coeffModulusBits: BITS, primes, parameterId: 'coefficients-test' });
});
afterAll(() => ctx?.dispose());

function encoded(values: Float64Array, level: number, scale = DELTA): Plaintext {
  const pt = new ctx.seal.Plaintext();
  ctx.encoder.encode(values, scale, pt);
  if (level < ctx.maxLevel) ctx.evaluator.plainModSwitchToInplace(pt, ctx.parmsIdAt(level));
  return pt;
}

function decoded(pt: Plaintext): Float64Array {
  return Float64Array.from(ctx.encoder.decodeFloat64(pt) as ArrayLike<number>);
}

function maxDiff(a: Float64Array, b: Float64Array): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

const SLOTS = N / 2;
const VALUES = Float64Array.from({ length: SLOTS }, (_, i) => Math.sin(i) * 3 - 0.5);

describe('SEAL plaintext coefficients', () => {
  test("a constant c reads as c·Δ at coefficient 0 and as 0 (±1 from the encoder's rounding) elsewhere, at every level", () => {
    for (const level of [0, 1, 2]) {
      const pt = encoded(new Float64Array(SLOTS).fill(1.75), level);
      const c = plaintextCoefficients(ctx, pt, level);
      pt.delete();
      expect(c.length).toBe(N);
      expect(c[0]).toBe(BigInt(1.75 * DELTA));
      expect(c.slice(1).every((x) => x >= -1n && x <= 1n)).toBe(true);
    }
  });

  test('a negative constant reads as a negative coefficient (centered mod Q)', () => {
    const pt = encoded(new Float64Array(SLOTS).fill(-3), 1);
    const c = plaintextCoefficients(ctx, pt, 1);
    pt.delete();
    expect(c[0]).toBe(BigInt(-3 * DELTA));
  });

  test('every coefficient of an encoded vector is at most max|y|·Δ', () => {
    const pt = encoded(VALUES, 2);
    const c = plaintextCoefficients(ctx, pt, 2);
    pt.delete();
    const bound = BigInt(Math.ceil(3.5 * DELTA));
    expect(c.every((x) => x <= bound && x >= -bound)).toBe(true);
    expect(c.some((x) => x > bound / 8n || x < -bound / 8n)).toBe(true); // not all near zero: the reading is not trivial
  });

  test('coefficients written back at the same level are the same plaintext; lifted to the top level they decode to the same values', () => {
    const pt = encoded(VALUES, 0);
    const c = plaintextCoefficients(ctx, pt, 0);
    const same = plaintextOfCoefficients(ctx, c, 0, DELTA);
    expect(plaintextCoefficients(ctx, same, 0)).toEqual(c);
    expect(decoded(same)).toEqual(decoded(pt));
    const top = plaintextOfCoefficients(ctx, c, 2, DELTA);
    expect(maxDiff(decoded(top), VALUES)).toBeLessThan(1e-9);
    for (const p of [pt, same, top]) p.delete();
  });

  test('a 40-bit coefficient mask on a ciphertext at level 1, taken off at the top level and another scale, leaves the values within CKKS noise', () => {
    const kg = new ctx.seal.KeyGenerator(ctx.context);
    const sk = kg.secretKey();
    const pk = kg.createPublicKey();
    const encryptor = new ctx.seal.Encryptor(ctx.context, pk, sk);
    const decryptor = new ctx.seal.Decryptor(ctx.context, sk);
    const ct = new ctx.seal.Ciphertext();
    const fresh = new ctx.seal.Ciphertext();
    const plain = new ctx.seal.Plaintext();
    const x = encoded(VALUES, 1);
    try {
      encryptor.encryptSymmetric(x, ct);
      // server: + R at level 1, scale Δ
      const r = drawCoefficientMask(N, 40, 4, DELTA);
      const mask = plaintextOfCoefficients(ctx, r, 1, DELTA);
      ctx.evaluator.addPlainInplace(ct, mask);
      mask.delete();
      // client: exact coefficients, rescaled to 2^35 at the top level, encrypted fresh
      decryptor.decrypt(ct, plain);
      const seen = plaintextCoefficients(ctx, plain, 1);
      expect(seen.some((c, i) => c !== r[i])).toBe(true);
      const scale = 2 ** 35;
      const lifted = plaintextOfCoefficients(ctx, rescaleCoefficients(seen, DELTA, scale), 2, scale);
      encryptor.encryptSymmetric(lifted, fresh);
      lifted.delete();
      // server: − R rescaled the same way
      const removal = plaintextOfCoefficients(ctx, rescaleCoefficients(r, DELTA, scale).map((v) => -v), 2, scale);
      ctx.evaluator.addPlainInplace(fresh, removal);
      removal.delete();
      decryptor.decrypt(fresh, plain);
      expect(maxDiff(decoded(plain), VALUES)).toBeLessThan(1e-6);
    } finally {
      for (const o of [kg, sk, pk, encryptor, decryptor, ct, fresh, plain, x]) o.delete();
    }
  });

  test('the same mask taken off the slots in float64 instead loses the values (what the coefficient domain avoids)', () => {
    // A 40-bit slot mask on |y| ≤ 4 is ≈ 2^42: float64 keeps 53 bits of it, so y keeps ≈ 11.
    const r = Float64Array.from({ length: SLOTS }, () => (Math.random() * 2 - 1) * 2 ** 42);
    const back = VALUES.map((v, i) => v + r[i]! - r[i]!);
    expect(maxDiff(back, VALUES)).toBeGreaterThan(1e-6);
  });
});

describe('coefficient masks (integer arithmetic)', () => {
  test('R lies in ±2^σ·⌈B·Δ⌉ and spreads over it', () => {
    const half = maskHalfWidth(40, 4, DELTA);
    expect(half).toBe(4n * 2n ** 80n);
    const r = drawCoefficientMask(4096, 40, 4, DELTA);
    expect(r.every((v) => v >= -half && v <= half)).toBe(true);
    expect(r.filter((v) => v > half / 2n).length).toBeGreaterThan(4096 / 4 - 200);
    expect(r.filter((v) => v < -half / 2n).length).toBeGreaterThan(4096 / 4 - 200);
  });

  test('rescaling rounds c·to/from exactly, once, whatever the scales', () => {
    const from = 2 ** 40;
    const to = 1099511627776 * 0.999999937; // not a power of two, like a scale after rescaling
    const c = [0n, 1n, -1n, 2n ** 90n + 12345n, -(2n ** 90n) - 777n];
    const got = rescaleCoefficients(c, from, to);
    // Independent reference: decimal long division on the exact value of `to`.
    for (let i = 0; i < c.length; i++) {
      const exact = (c[i]! * BigInt(to * 2 ** 13)) / 2n ** 53n; // to < 2^40, so to·2^13 is its integer mantissa
      expect(got[i]! - exact >= -1n && got[i]! - exact <= 1n).toBe(true);
    }
    expect(rescaleCoefficients([2n ** 50n + 1n], 2 ** 40, 2 ** 39)).toEqual([2n ** 49n + 1n]); // (2^50 + 1)/2 rounds half away from 0
  });
});
