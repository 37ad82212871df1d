import type { Ciphertext, SecretKey } from 'node-seal';
import type { Circuit } from '../../../compiler/circuit/ir';
import { fail } from '../../../compiler/errors';
import { checkCircuitFits, type BackendContext, type ClientKeys, type FheBackend, type KeyRequirements, type LoadedCircuit, type LoadedEvaluationKeys } from '../backend';
import { loadCiphertext, loadCiphertexts, saveCiphertext } from './ciphertexts';
import { createSealContext, freeAll, type SealCkksContext } from './context';
import { deriveSecretKey } from './derived-secret-key';
import { executeCircuit } from './executor';
import { createSecretKey, generateEvaluationKeys, loadEvaluationKeys, loadSecretKey, saveSecretKey, sharedKeyObjects, type SealEvaluationKeys, type SharedKeyObjects } from './keys';
import { createPlaintextCache } from './plaintext-cache';
import { noteTrap, sealGeneration, sealObjectsStale, sealTrapped } from './seal-module';
import { createSlotCrypto } from './slot-crypto';

/**
 * Microsoft SEAL (node-seal, WebAssembly) behind the backend interface: serialized ciphertexts
 * are SEAL's seeded, zstd-compressed ones, and every loaded ciphertext is checked to sit where
 * the circuit expects it (ciphertexts.ts). Runs on the calling thread.
 */
export const sealBackend: FheBackend = {
  name: 'seal',
  concurrency: 1,
  async createContext(spec) {
    return sealContext(await createSealContext(spec));
  },
  engineGeneration: sealGeneration,
  noteFailure: (e) => {
    noteTrap(e);
    return sealTrapped();
  },
  engineStale: sealObjectsStale,
};

function sealContext(ctx: SealCkksContext): BackendContext {
  const keys = sharedKeyObjects();
  return {
    spec: ctx.spec,
    slots: ctx.slots,
    clientKeys: (saved) => sealClientKeys(ctx, () => (saved ? loadSecretKey(ctx, saved) : createSecretKey(ctx))),
    derivedClientKeys: (seed) => sealClientKeys(ctx, () => deriveSecretKey(ctx, seed)),
    loadCircuit: (circuit) => sealCircuit(ctx, circuit, keys),
    dispose: () => ctx.dispose(),
  };
}

function sealClientKeys(ctx: SealCkksContext, makeSecretKey: () => SecretKey): ClientKeys {
  let secretKey: SecretKey | undefined;
  try {
    secretKey = makeSecretKey();
    const sk = secretKey;
    const crypto = createSlotCrypto(ctx, sk);
    return {
      exportSecretKey: () => saveSecretKey(ctx, sk),
      evaluationKeys: (needs) => generateEvaluationKeys(ctx, sk, needs),
      encrypt: (values, level, scale) => crypto.encrypt(values, level, scale),
      decrypt(bytes, want) {
        const ct = loadCiphertext(ctx, bytes, want);
        try {
          return crypto.decrypt(ct);
        } finally {
          ct.delete();
        }
      },
      dispose() {
        crypto.dispose();
        freeAll(sk);
      },
    };
  } catch (e) {
    freeAll(secretKey);
    throw e;
  }
}

function sealCircuit(ctx: SealCkksContext, circuit: Circuit, sharedKeys: SharedKeyObjects): LoadedCircuit {
  checkCircuitFits(ctx.spec, circuit);
  const input = circuit.ops.find((op) => op.op === 'input');
  if (!input) fail('BAD_ARTIFACT', 'the circuit has no inputs');
  const needs: KeyRequirements = { relin: circuit.ops.some((op) => op.op === 'relin'), rotationSteps: circuit.rotationSteps };
  const cache = createPlaintextCache(ctx);
  // The handles given out stand for SEAL keys only this circuit can resolve.
  const loadedKeys = new WeakMap<LoadedEvaluationKeys, SealEvaluationKeys>();
  return {
    needs,
    loadEvaluationKeys(bytes) {
      const keys = loadEvaluationKeys(ctx, bytes, needs, sharedKeys);
      const handle: LoadedEvaluationKeys = { dispose: () => keys.dispose() };
      loadedKeys.set(handle, keys);
      return handle;
    },
    async execute(inputs, keys, firstInputIndex = 0) {
      const sealKeys = loadedKeys.get(keys);
      if (!sealKeys) fail('BAD_ARGUMENT', 'these evaluation keys were loaded for another circuit');
      const cts = loadCiphertexts(ctx, inputs, (i) => ({ level: circuit.topLevel, scale: input.scale, label: `input ciphertext ${firstInputIndex + i}` }));
      let outputs: Ciphertext[] = [];
      try {
        outputs = executeCircuit(ctx, circuit, cts, sealKeys, cache);
        return outputs.map((ct) => saveCiphertext(ctx, ct));
      } finally {
        freeAll(...outputs, ...cts);
      }
    },
    dispose: () => cache.dispose(),
  };
}
