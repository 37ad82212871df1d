import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import { createCoeffModulus } from '../../compiler/params/primes';
import { type ContextSpec } from '../../runtime/backends/backend';
import { createSealContext, type SealCkksContext } from '../../runtime/backends/seal/context';
import { generateKeys, loadEvaluationKeys, loadSecretKey, saveSecretKey } from '../../runtime/backends/seal/keys';

function spec(n: number, bits: number[], parameterId = `test-${n}-${bits.join('.')}`): ContextSpec {
  return { polyModulusDegree: n, coeffModulusBits: bits, primes: createCoeffModulus(n, bits), parameterId };
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof DeepPowersError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return 'accepted';
}

describe('SEAL context', () => {
  test('builds the exact compiler primes at 128-bit security and exposes the level chain', async () => {
    const ctx = await createSealContext(spec(4096, [40, 30, 30]));
    try {
      expect(ctx.slots).toBe(2048);
      expect(ctx.maxLevel).toBe(1);
      expect(ctx.levelOfParmsId(ctx.parmsIdAt(1))).toBe(1);
      expect(ctx.levelOfParmsId(ctx.parmsIdAt(0))).toBe(0);
      expect(ctx.primeAtLevel).toHaveLength(2);
    } finally {
      ctx.dispose();
    }
  });

  test('refuses primes that differ from the ones SEAL makes', async () => {
    const s = spec(4096, [40, 30, 30]);
    const wrong = { ...s, primes: [s.primes[0]!, s.primes[2]!, s.primes[1]!] };
    expect(await codeOf(createSealContext(wrong))).toMatch(/^PARAMS: SEAL made prime #1/);
  });

  test('refuses a modulus beyond the 128-bit bound', async () => {
    expect(await codeOf(createSealContext(spec(4096, [50, 40, 40])))).toMatch(/^PARAMS: .*exceeds the 128-bit-security bound of 109 bits/);
  });
});

describe('SEAL keys', () => {
  let ctx: SealCkksContext;
  beforeAll(async () => {
    ctx = await createSealContext(spec(4096, [40, 30, 30]));
  });
  afterAll(() => ctx.dispose());

  test('relin keys only when asked, Galois keys for exactly the requested steps', () => {
    const none = generateKeys(ctx, { relin: false, rotationSteps: [] });
    expect(none.evaluationKeys).toEqual({ relin: null, galois: null });
    none.secretKey.delete();

    const keys = generateKeys(ctx, { relin: true, rotationSteps: [1, 4, -3, 4] });
    try {
      expect(keys.evaluationKeys.relin!.length).toBeGreaterThan(1000);
      const loaded = loadEvaluationKeys(ctx, keys.evaluationKeys, { relin: true, rotationSteps: [4, -3, 1] });
      expect(loaded.galois!.size()).toBe(3);
      loaded.dispose();
      expect(() => loadEvaluationKeys(ctx, keys.evaluationKeys, { relin: true, rotationSteps: [1, 2] })).toThrow(
        /Galois keys lack rotation steps \[2\]/,
      );
      expect(() => loadEvaluationKeys(ctx, { relin: null, galois: keys.evaluationKeys.galois }, { relin: true, rotationSteps: [] })).toThrow(
        /lack the relinearization key/,
      );
    } finally {
      keys.secretKey.delete();
    }
  });

  test('seeded serialization is smaller than the expanded keys', () => {
    const keys = generateKeys(ctx, { relin: true, rotationSteps: [1] });
    const loaded = loadEvaluationKeys(ctx, keys.evaluationKeys, { relin: true, rotationSteps: [1] });
    const expanded = loaded.relin!.saveToArray(ctx.seal.ComprModeType.zstd) as Uint8Array;
    expect(keys.evaluationKeys.relin!.length).toBeLessThan(0.7 * expanded.length);
    loaded.dispose();
    keys.secretKey.delete();
  });

  test('garbage and truncated key bytes are rejected with a clear error', async () => {
    const keys = generateKeys(ctx, { relin: true, rotationSteps: [] });
    const relin = keys.evaluationKeys.relin!;
    keys.secretKey.delete();
    const truncated = { relin: relin.subarray(0, relin.length >> 1), galois: null };
    expect(await codeOf(() => loadEvaluationKeys(ctx, truncated, { relin: true, rotationSteps: [] }))).toMatch(
      /^BAD_CIPHERTEXT: the relinearization key cannot be loaded for parameter set test-4096-40.30.30: std::/,
    );
    const garbage = { relin: Uint8Array.from({ length: 64 }, (_, i) => i), galois: null };
    expect(await codeOf(() => loadEvaluationKeys(ctx, garbage, { relin: true, rotationSteps: [] }))).toMatch(/^BAD_CIPHERTEXT/);
  });

  test('keys for other parameters do not load', async () => {
    const other = await createSealContext(spec(4096, [36, 36, 37]));
    try {
      const keys = generateKeys(other, { relin: true, rotationSteps: [] });
      keys.secretKey.delete();
      expect(await codeOf(() => loadEvaluationKeys(ctx, keys.evaluationKeys, { relin: true, rotationSteps: [] }))).toMatch(/^BAD_CIPHERTEXT/);
    } finally {
      other.dispose();
    }
  });

  test('the secret key round-trips through its keystore bytes', () => {
    const keys = generateKeys(ctx, { relin: false, rotationSteps: [] });
    const bytes = saveSecretKey(ctx, keys.secretKey);
    const back = loadSecretKey(ctx, bytes);
    expect(Array.from(saveSecretKey(ctx, back))).toEqual(Array.from(bytes));
    back.delete();
    keys.secretKey.delete();
  });
});
