import { describe, expect, test } from 'vitest';
import { bodyCircuits } from '../../compiler/artifact/segments';
import type { CompiledModel } from '../../compiler/artifact/types';
import { maxEncodable } from '../../compiler/params/encodable';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { bodySteps } from '../../compiler/client-steps/table';
import { clientModelOfBody } from '../../runtime/client/client-model';
import { FheClient } from '../../runtime/client/fhe-client';
import { loadFixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';

/**
 * A malicious server probing the client through a client step (a reaction oracle): it sends a
 * "masked" result whose decryption holds a value beyond what the next segment's parameters can
 * encode, and watches whether the client answers or fails. Whatever the decrypted values, the
 * client must answer the same way (a fresh ciphertext of the same size), since it returns none of
 * them: a value out of range is clamped to the encodable bound, never a refusal. On SEAL, whose
 * encoder refuses such values.
 */
const f = loadFixture('pt_mlp_digits_relu');
const cut: CompiledModel = compiledFixture(f, { layout: 'vector', refresh: 'auto' });

describe('a client step whatever the server made the client decrypt', () => {
  test('values beyond the encodable bound, ±Infinity and NaN get the same answer as ordinary values, never an error', async () => {
    const client = await FheClient.create(sealBackend, clientModelOfBody(bodyCircuits(cut), cut.parameters, cut.modelHash, bodySteps(cut)));
    try {
      const [first, second] = bodyCircuits(cut);
      const next = client.model.segments![1]!;
      const bound = maxEncodable(cut.parameters.coeffModulusBits, next.inputLevel, next.inputScale);
      const ordinary = first!.outputs.map(() => new Float64Array(first!.slots).fill(0.5));
      const crafted = ordinary.map((v) => Float64Array.from(v));
      crafted[0]![0] = 4 * bound;
      crafted[0]![1] = -1e300;
      crafted[0]![2] = Number.POSITIVE_INFINITY;
      crafted[0]![3] = Number.NaN;
      expect(second!.inputs.length).toBeGreaterThan(0);
      const honest = client.encryptStep(ordinary, 1);
      const probed = client.encryptStep(crafted, 1);
      // The same shape of answer: one envelope of fresh ciphertexts, the same count.
      expect(probed.length).toBeGreaterThan(0);
      expect(Math.abs(probed.length - honest.length)).toBeLessThan(0.05 * honest.length);
    } finally {
      client.dispose();
    }
  }, 120_000);

  // Its refresh masks coefficients: whatever integers the client decrypts (beyond the level's
  // modulus, negative, zero), it rescales and encrypts them the same way, reduced mod the primes.
  test('at a coefficient-masked refresh, any coefficients get the same answer, never an error', async () => {
    expect(cut.refresh!.segments[0]!.masking).toBe('coefficients');
    const client = await FheClient.create(sealBackend, clientModelOfBody(bodyCircuits(cut), cut.parameters, cut.modelHash, bodySteps(cut)));
    try {
      const n = cut.parameters.polyModulusDegree;
      const modulus = cut.parameters.primes.reduce((a, q) => a * BigInt(q), 1n);
      const ordinary = [Array.from({ length: n }, (_, i) => BigInt(i % 7) << 40n)];
      const crafted = [ordinary[0]!.map((c, i) => (i % 3 === 0 ? 5n * modulus + c : i % 3 === 1 ? -7n * modulus : 0n))];
      const honest = client.encryptStepCoefficients(ordinary, 1);
      const probed = client.encryptStepCoefficients(crafted, 1);
      expect(probed.length).toBeGreaterThan(0);
      expect(Math.abs(probed.length - honest.length)).toBeLessThan(0.05 * honest.length);
    } finally {
      client.dispose();
    }
  }, 120_000);
});
