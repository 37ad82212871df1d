import { describe, expect, it } from 'vitest';
import type { Ciphertext, Plaintext } from 'node-seal';
import { DeepPowersError } from '../../compiler/errors';
import { parameterId } from '../../compiler/params/parameter-id';
import { selectParameters } from '../../compiler/params/select';
import {
  assertFitsHeap,
  HEAP_BUDGET_BYTES,
  KEY_GENERATION_FACTOR,
  ciphertextBytes,
  estimateRunMemory,
  galoisKeysBytes,
  keySizes,
  plaintextBytes,
  SCALAR_PLAINTEXT_BUDGET_BYTES,
  publicKeyBytes,
  relinKeysBytes,
  WASM_HEAP_BYTES,
} from '../../compiler/params/sizes';
import type { ParameterRequest } from '../../compiler/params/types';
import { createSealContext, freeAll } from '../../runtime/backends/seal/context';

interface Saveable {
  saveToArray(mode: unknown): { length: number };
  delete(): void;
}

describe('size estimates equal node-seal serialized sizes (compression none)', () => {
  const requests: ParameterRequest[] = [
    { depth: 1, slotsNeeded: 16, outputBits: 10, rotationSteps: [1, 2, -1] },
    { depth: 2, slotsNeeded: 16, rotationSteps: [1, 4] },
  ];
  for (const request of requests) {
    it(`depth ${request.depth}`, async () => {
      const p = selectParameters(request);
      const ctx = await createSealContext({ ...p, parameterId: parameterId(p) });
      const { seal } = ctx;
      const none = seal.ComprModeType.none;
      const owned: Array<{ delete(): void; isDeleted(): boolean }> = [];
      const bytesOf = (o: Saveable): number => {
        try {
          return o.saveToArray(none).length;
        } finally {
          o.delete();
        }
      };
      const keygen = new seal.KeyGenerator(ctx.context);
      const publicKey = keygen.createPublicKey();
      const encryptor = new seal.Encryptor(ctx.context, publicKey, keygen.secretKey());
      owned.push(keygen, publicKey, encryptor);
      try {
        expect(bytesOf(keygen.createPublicKey())).toBe(publicKeyBytes(p));
        expect(bytesOf(keygen.createPublicKeySerializable())).toBe(publicKeyBytes(p, { seeded: true }));
        expect(bytesOf(keygen.createRelinKeys())).toBe(relinKeysBytes(p));
        expect(bytesOf(keygen.createRelinKeysSerializable())).toBe(relinKeysBytes(p, { seeded: true }));
        const steps = Int32Array.from(p.rotationSteps);
        expect(bytesOf(keygen.createGaloisKeysWithSteps(steps))).toBe(galoisKeysBytes(p));
        expect(bytesOf(keygen.createGaloisKeysSerializableWithSteps(steps))).toBe(galoisKeysBytes(p, { seeded: true }));
        const sizes = keySizes(p);
        expect(sizes.galoisKeys).toBe(galoisKeysBytes(p));
        expect(sizes.evaluationKeys).toBe(sizes.relinKeys + sizes.galoisKeys);
        // Seeding halves the key material (the Galois index table of 8·N bytes is not seeded).
        expect(keySizes(p, { seeded: true }).evaluationKeys / sizes.evaluationKeys).toBeCloseTo(0.5, 1);

        const plain: Plaintext = new seal.Plaintext();
        const ct: Ciphertext = new seal.Ciphertext();
        const product: Ciphertext = new seal.Ciphertext();
        owned.push(plain, ct, product);
        ctx.encoder.encode(Float64Array.from([0.5, -0.25, 1]), 2 ** p.scaleBits, plain);
        encryptor.encrypt(plain, ct);
        expect(bytesOf(encryptor.encryptSymmetricSerializable(plain))).toBe(ciphertextBytes(p, p.levels, { seeded: true }));
        // Public-key encryption has nothing to seed: its "serializable" form is full size.
        expect(bytesOf(encryptor.encryptSerializable(plain))).toBe(ciphertextBytes(p, p.levels));
        ctx.evaluator.multiply(ct, ct, product);
        expect(product.saveToArray(none).length).toBe(ciphertextBytes(p, p.levels, { size: 3 }));
        for (let level = p.levels; level >= 0; level--) {
          if (level < p.levels) {
            ctx.evaluator.cipherModSwitchToNextInplace(ct);
            ctx.evaluator.plainModSwitchToNextInplace(plain);
          }
          expect(ct.saveToArray(none).length).toBe(ciphertextBytes(p, level));
          expect(plain.saveToArray(none).length).toBe(plaintextBytes(p, level));
        }
      } finally {
        freeAll(...owned);
        ctx.dispose();
      }
    });
  }

  it('refuses levels outside the chain', () => {
    const p = selectParameters({ depth: 2, slotsNeeded: 1 });
    expect(() => ciphertextBytes(p, 3)).toThrow(DeepPowersError);
    expect(() => plaintextBytes(p, -1)).toThrow(DeepPowersError);
    expect(() => ciphertextBytes(p, 2, { size: 3, seeded: true })).toThrow(/seeded/);
  });
});

describe('run memory against the 4 GiB WASM heap', () => {
  it('adds keys, live ciphertexts and cached plaintexts', () => {
    const p = selectParameters({ depth: 2, slotsNeeded: 64, rotationSteps: [1, 2, 4, 8] });
    const m = estimateRunMemory(p, { relin: true, liveCiphertexts: 10, plaintexts: [{ count: 100, level: 2 }, { count: 10, level: 1 }] });
    expect(m.keys).toBe(relinKeysBytes(p) + galoisKeysBytes(p));
    expect(m.ciphertexts).toBe(10 * ciphertextBytes(p, 2, { size: 3 }));
    expect(m.plaintexts).toBe(100 * plaintextBytes(p, 2) + 10 * plaintextBytes(p, 1));
    expect(m.keyGeneration).toBe(galoisKeysBytes(p) * KEY_GENERATION_FACTOR);
    expect(m.total).toBe(m.context + m.keys + m.keyGeneration + m.ciphertexts + m.plaintexts + m.workspace);
    expect(m.fits).toBe(true);
    expect(m.limit).toBe(HEAP_BUDGET_BYTES);
    expect(HEAP_BUDGET_BYTES).toBeLessThan(WASM_HEAP_BYTES);
    expect(assertFitsHeap(p, { relin: false, liveCiphertexts: 1, plaintexts: [] }).keys).toBe(galoisKeysBytes(p));
  });

  it('counts broadcast scalars up to the backend cache budget, plus one transient plaintext past it', () => {
    const p = selectParameters({ depth: 6, slotsNeeded: 8192, rotationSteps: [], preferN: 16384 });
    const base = { relin: true, liveCiphertexts: 10, plaintexts: [] };
    const few = estimateRunMemory(p, { ...base, scalarPlaintexts: [{ count: 50, level: 6 }] });
    expect(few.plaintexts).toBe(50 * plaintextBytes(p, 6));
    // pt_mlp_digits_relu's batch layout: ~5000 distinct weights at N = 16384 would be > 4 GiB cached.
    const many = estimateRunMemory(p, { ...base, scalarPlaintexts: [{ count: 5000, level: 6 }] });
    expect(5000 * plaintextBytes(p, 6)).toBeGreaterThan(WASM_HEAP_BYTES);
    expect(many.plaintexts).toBe(SCALAR_PLAINTEXT_BUDGET_BYTES + plaintextBytes(p, 6));
    expect(many.fits).toBe(true);
  });

  it('refuses a run whose Galois keys overflow the heap', () => {
    // N = 32768 with 21 primes: each key is (k − 1)·2·k·N·8 ≈ 210 MiB, so 20 steps are > 4 GiB.
    const p = selectParameters({ depth: 19, slotsNeeded: 64, rotationSteps: Array.from({ length: 20 }, (_, i) => i + 1) });
    expect(p.polyModulusDegree).toBe(32768);
    expect(keySizes(p).galoisKeyEach).toBeGreaterThan(200 * 1024 ** 2);
    const request = { relin: true, liveCiphertexts: 4, plaintexts: [] };
    expect(estimateRunMemory(p, request).fits).toBe(false);
    try {
      assertFitsHeap(p, request);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DeepPowersError);
      expect((e as DeepPowersError).code).toBe('PARAMS');
      expect((e as Error).message).toMatch(/20 rotation steps.*3\.50 GiB budget.*4\.00 GiB heap.*batch layout/);
    }
  });
});
