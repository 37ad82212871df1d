import type { Ciphertext, Plaintext, SecretKey } from 'node-seal';
import { plaintextOfCoefficients } from './coefficients';
import { inputOps, type Circuit } from '../../../compiler/circuit/ir';
import { fail } from '../../../compiler/errors';
import { checkCircuitFits, type BackendContext, type CiphertextExpectation, type ContextSpec, type ClientKeys, type FheBackend, type KeyRequirements, type LoadedCircuit, type LoadedEvaluationKeys } from '../backend';
import { loadCiphertext, loadCiphertexts, saveCiphertext } from './ciphertexts';
import { createSealContext, freeAll, type SealCkksContext } from './context';
import { deriveSecretKey } from './derived-secret-key';
import { executeCircuit, type CircuitPart } from './executor';
import { loadTransferred, saveForTransfer } from './transfer';
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
  wasmHeap: true,
  createContext: createSealBackendContext,
  engineGeneration: sealGeneration,
  noteFailure: (e) => {
    noteTrap(e);
    return sealTrapped();
  },
  engineStale: sealObjectsStale,
};

/**
 * One thread's link to the other threads of an evaluation split over threads (the worker pool's
 * mesh): the plan's order and this thread's ops, and values as serialized ciphertexts.
 */
export interface PartLink {
  readonly order: Int32Array;
  /** Whether this thread runs op i (for an input: reads it). */
  runs(i: number): boolean;
  /** Records that this thread computed op i; true when another thread reads its value (then `send` it). */
  computed(i: number): boolean;
  send(i: number, bytes: Uint8Array<ArrayBuffer>): void;
  /** Op v's value, serialized by the thread that computed it (waits for it). */
  receive(v: number): Uint8Array;
}

export interface SealLoadedCircuit extends LoadedCircuit {
  /**
   * This thread's part of one evaluation split over threads, run to the end (blocking while it
   * waits for values): the request's inputs in (each given is checked; null for one another
   * thread checks), the outputs whose output ops it runs out (null for the others).
   */
  executePart(inputs: readonly (Uint8Array | null)[], keys: LoadedEvaluationKeys, link: PartLink, firstInputIndex?: number): (Uint8Array | null)[];
}

export interface SealBackendContext extends BackendContext {
  loadCircuit(circuit: Circuit): SealLoadedCircuit;
}

/** The SEAL backend's context, with circuits that can also run a part of a split evaluation. */
export async function createSealBackendContext(spec: ContextSpec): Promise<SealBackendContext> {
  return sealContext(await createSealContext(spec));
}

function sealContext(ctx: SealCkksContext): SealBackendContext {
  const keys = sharedKeyObjects();
  return {
    spec: ctx.spec,
    slots: ctx.slots,
    clientKeys: (saved) => sealClientKeys(ctx, () => (saved ? loadSecretKey(ctx, saved) : createSecretKey(ctx))),
    derivedClientKeys: (seed) => sealClientKeys(ctx, () => deriveSecretKey(ctx, seed)),
    loadCircuit: (circuit) => sealCircuit(ctx, circuit, keys),
    addCoefficients: (bytes, want, coefficients) => addCoefficients(ctx, bytes, want, coefficients),
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
      decryptCoefficients(bytes, want) {
        const ct = loadCiphertext(ctx, bytes, want);
        try {
          return crypto.decryptCoefficients(ct, want.level);
        } finally {
          ct.delete();
        }
      },
      encryptCoefficients: (coefficients, level, scale) => crypto.encryptCoefficients(coefficients, level, scale),
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

/** The ciphertext plus the plaintext polynomial with integer coefficients `coefficients`, at its level and scale (SEAL's add_plain). */
function addCoefficients(ctx: SealCkksContext, bytes: Uint8Array, want: CiphertextExpectation, coefficients: readonly bigint[]): Uint8Array {
  const ct = loadCiphertext(ctx, bytes, want);
  let pt: Plaintext | undefined;
  try {
    pt = plaintextOfCoefficients(ctx, coefficients, want.level, ct.scale());
    ctx.evaluator.addPlainInplace(ct, pt);
    return saveCiphertext(ctx, ct);
  } finally {
    freeAll(pt, ct);
  }
}

function sealCircuit(ctx: SealCkksContext, circuit: Circuit, sharedKeys: SharedKeyObjects): SealLoadedCircuit {
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
    executePart(inputs, keys, link, firstInputIndex = 0) {
      const sealKeys = loadedKeys.get(keys);
      if (!sealKeys) fail('BAD_ARGUMENT', 'these evaluation keys were loaded for another circuit');
      // One slot per input even where this part reads none of the last ones: the executor
      // checks the count against the circuit's inputs.
      const cts: (Ciphertext | undefined)[] = new Array<Ciphertext | undefined>(inputs.length).fill(undefined);
      let outputs: (Ciphertext | undefined)[] = [];
      try {
        // Every input given is checked, in order, so a bad one is refused with the message one
        // thread gives; the part keeps those it reads.
        const inputOp = inputOps(circuit);
        inputs.forEach((bytes, k) => {
          if (!bytes) return;
          const ct = loadCiphertext(ctx, bytes, { level: circuit.topLevel, scale: input.scale, label: `input ciphertext ${firstInputIndex + k}` });
          if (link.runs(inputOp[k] ?? -1)) cts[k] = ct;
          else ct.delete();
        });
        const part: CircuitPart = {
          order: link.order,
          runs: (i) => link.runs(i),
          receive: (v) => loadTransferred(ctx, link.receive(v)),
          computed(i, value) {
            if (link.computed(i)) link.send(i, saveForTransfer(ctx, value));
          },
        };
        outputs = executeCircuit(ctx, circuit, cts, sealKeys, cache, { part });
        return circuit.outputs.map((_, k) => (outputs[k] ? saveCiphertext(ctx, outputs[k]) : null));
      } finally {
        freeAll(...outputs, ...cts);
      }
    },
    dispose: () => cache.dispose(),
  };
}
