import type { GaloisKeys, RelinKeys, SecretKey } from 'node-seal';
import { DeepPowersError, fail } from '../../../compiler/errors';
import type { EvaluationKeyBytes, KeyRequirements } from '../backend';
import { freeAll, type SealCkksContext } from './context';
import { sealErrorMessage } from './seal-module';

export interface GeneratedKeys {
  /** Never serialized by this module except through `saveSecretKey`, for the client's own keystore. */
  readonly secretKey: SecretKey;
  readonly evaluationKeys: EvaluationKeyBytes;
}

/** Client-side key generation: a fresh secret key and its evaluation keys. The caller owns `secretKey` and must delete it. */
export function generateKeys(ctx: SealCkksContext, needs: KeyRequirements): GeneratedKeys {
  const secretKey = createSecretKey(ctx);
  try {
    return { secretKey, evaluationKeys: generateEvaluationKeys(ctx, secretKey, needs) };
  } catch (e) {
    secretKey.delete();
    throw e;
  }
}

export function createSecretKey(ctx: SealCkksContext): SecretKey {
  const keygen = new ctx.seal.KeyGenerator(ctx.context);
  try {
    return keygen.secretKey();
  } finally {
    keygen.delete();
  }
}

/** Evaluation keys (seeded, zstd) derived from an existing secret key, which stays the caller's. */
export function generateEvaluationKeys(ctx: SealCkksContext, secretKey: SecretKey, needs: KeyRequirements): EvaluationKeyBytes {
  const steps = normalizeSteps(ctx, needs.rotationSteps);
  const { seal } = ctx;
  const keygen = new seal.KeyGenerator(ctx.context, secretKey);
  try {
    const zstd = seal.ComprModeType.zstd;
    let relin: Uint8Array | null = null;
    if (needs.relin) {
      const rk = keygen.createRelinKeysSerializable();
      try {
        relin = copyBytes(rk.saveToArray(zstd));
      } finally {
        rk.delete();
      }
    }
    let galois: Uint8Array | null = null;
    if (steps.length > 0) {
      const gk = keygen.createGaloisKeysSerializableWithSteps(Int32Array.from(steps));
      try {
        galois = copyBytes(gk.saveToArray(zstd));
      } finally {
        gk.delete();
      }
    }
    return { relin, galois };
  } catch (e) {
    if (e instanceof DeepPowersError) throw e;
    throw new DeepPowersError('IO', `SEAL key generation failed: ${sealErrorMessage(seal, e)}`);
  } finally {
    keygen.delete();
  }
}

/** Secret key bytes for the client's keystore (which encrypts them at rest). */
export function saveSecretKey(ctx: SealCkksContext, secretKey: SecretKey): Uint8Array {
  return copyBytes(secretKey.saveToArray(ctx.seal.ComprModeType.zstd));
}

export function loadSecretKey(ctx: SealCkksContext, bytes: Uint8Array): SecretKey {
  const sk = new ctx.seal.SecretKey();
  try {
    sk.loadFromArray(ctx.context, bytes);
  } catch (e) {
    sk.delete();
    fail('BAD_CIPHERTEXT', `the secret key cannot be loaded for parameter set ${ctx.spec.parameterId}: ${sealErrorMessage(ctx.seal, e)}`);
  }
  return sk;
}

/** Server-side evaluation keys, loaded and checked against what the circuit will use. */
export interface SealEvaluationKeys {
  readonly relin: RelinKeys | null;
  readonly galois: GaloisKeys | null;
  dispose(): void;
}

/**
 * Key objects loaded from bytes, shared by every circuit of one context that is given the same
 * bytes (the segments of a cut body all run with the one key set the client uploaded): each
 * loaded once, freed when the last circuit lets it go. A key set is the largest thing in the heap;
 * one copy per segment would multiply it.
 */
export interface SharedKeyObjects {
  acquire<T extends RelinKeys | GaloisKeys>(bytes: Uint8Array, load: () => T): T;
  release(bytes: Uint8Array): void;
}

export function sharedKeyObjects(): SharedKeyObjects {
  const held = new Map<Uint8Array, { object: RelinKeys | GaloisKeys; refs: number }>();
  return {
    acquire<T extends RelinKeys | GaloisKeys>(bytes: Uint8Array, load: () => T): T {
      const h = held.get(bytes);
      if (h) {
        h.refs++;
        return h.object as T;
      }
      const object = load();
      held.set(bytes, { object, refs: 1 });
      return object;
    },
    release(bytes) {
      const h = held.get(bytes);
      if (!h) return;
      if (--h.refs === 0) {
        held.delete(bytes);
        freeAll(h.object);
      }
    },
  };
}

export function loadEvaluationKeys(ctx: SealCkksContext, bytes: EvaluationKeyBytes, needs: KeyRequirements, shared: SharedKeyObjects = sharedKeyObjects()): SealEvaluationKeys {
  const { seal } = ctx;
  const steps = normalizeSteps(ctx, needs.rotationSteps);
  let relin: RelinKeys | null = null;
  let galois: GaloisKeys | null = null;
  const acquired: Uint8Array[] = [];
  const releaseAll = (): void => {
    for (const b of acquired) shared.release(b);
  };
  try {
    if (needs.relin) {
      if (!bytes.relin) fail('BAD_CIPHERTEXT', 'the evaluation keys lack the relinearization key this model needs');
      const from = bytes.relin;
      relin = shared.acquire(from, () => loadKeyObject(ctx, 'relinearization key', new seal.RelinKeys(), from));
      acquired.push(from);
    }
    if (steps.length > 0) {
      if (!bytes.galois) fail('BAD_CIPHERTEXT', `the evaluation keys lack the Galois keys for rotations [${steps.join(', ')}]`);
      const from = bytes.galois;
      galois = shared.acquire(from, () => loadKeyObject(ctx, 'Galois keys', new seal.GaloisKeys(), from));
      acquired.push(from);
      const g = galois;
      const missing = steps.filter((s) => !g.hasKey(galoisElementOfStep(ctx.spec.polyModulusDegree, s)));
      if (missing.length > 0) fail('BAD_CIPHERTEXT', `the Galois keys lack rotation steps [${missing.join(', ')}] this model uses`);
    }
  } catch (e) {
    releaseAll();
    throw e;
  }
  let disposed = false;
  return {
    relin,
    galois,
    dispose() {
      if (disposed) return;
      disposed = true;
      releaseAll();
    },
  };
}

/** `bytes` loaded into the fresh key object `k`; on failure `k` is freed and the error is one BAD_CIPHERTEXT line. */
function loadKeyObject<T extends RelinKeys | GaloisKeys>(ctx: SealCkksContext, what: string, k: T, bytes: Uint8Array): T {
  try {
    k.loadFromArray(ctx.context, bytes);
  } catch (e) {
    k.delete();
    fail('BAD_CIPHERTEXT', `the ${what} cannot be loaded for parameter set ${ctx.spec.parameterId}: ${sealErrorMessage(ctx.seal, e)}`);
  }
  return k;
}

/** Distinct nonzero steps in (−slots, slots); SEAL refuses anything else. */
function normalizeSteps(ctx: SealCkksContext, steps: readonly number[]): number[] {
  const out = new Set<number>();
  for (const s of steps) {
    if (!Number.isInteger(s) || Math.abs(s) >= ctx.slots) {
      fail('BAD_ARGUMENT', `rotation step ${s} is not an integer in (−${ctx.slots}, ${ctx.slots})`);
    }
    if (s !== 0) out.add(s);
  }
  return [...out].sort((a, b) => a - b);
}

/** SEAL's Galois element for a CKKS slot rotation (GaloisTool::get_elt_from_step, generator 3). */
export function galoisElementOfStep(n: number, step: number): number {
  const m = 2 * n;
  const half = n / 2;
  const pos = Math.abs(step) % m;
  let e = step < 0 ? half - pos : pos;
  let elt = 1;
  while (e-- > 0) elt = (elt * 3) % m;
  return elt;
}

/** node-seal's saveToArray returns a view that may alias WASM memory; keep an independent copy. */
export function copyBytes(a: unknown): Uint8Array {
  if (a instanceof Uint8Array) return new Uint8Array(a);
  if (ArrayBuffer.isView(a)) return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
  throw new DeepPowersError('IO', 'SEAL serialization did not return bytes');
}
