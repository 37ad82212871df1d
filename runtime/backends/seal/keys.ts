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

export function loadEvaluationKeys(ctx: SealCkksContext, bytes: EvaluationKeyBytes, needs: KeyRequirements): SealEvaluationKeys {
  const { seal } = ctx;
  const steps = normalizeSteps(ctx, needs.rotationSteps);
  let relin: RelinKeys | null = null;
  let galois: GaloisKeys | null = null;
  try {
    if (needs.relin) {
      if (!bytes.relin) fail('BAD_CIPHERTEXT', 'the evaluation keys lack the relinearization key this model needs');
      relin = new seal.RelinKeys();
      loadInto(ctx, 'relinearization key', () => relin!.loadFromArray(ctx.context, bytes.relin!));
    }
    if (steps.length > 0) {
      if (!bytes.galois) fail('BAD_CIPHERTEXT', `the evaluation keys lack the Galois keys for rotations [${steps.join(', ')}]`);
      galois = new seal.GaloisKeys();
      loadInto(ctx, 'Galois keys', () => galois!.loadFromArray(ctx.context, bytes.galois!));
      const missing = steps.filter((s) => !galois!.hasKey(galoisElementOfStep(ctx.spec.polyModulusDegree, s)));
      if (missing.length > 0) fail('BAD_CIPHERTEXT', `the Galois keys lack rotation steps [${missing.join(', ')}] this model uses`);
    }
  } catch (e) {
    freeAll(relin, galois);
    throw e;
  }
  let disposed = false;
  return {
    relin,
    galois,
    dispose() {
      if (disposed) return;
      disposed = true;
      freeAll(relin, galois);
    },
  };
}

function loadInto(ctx: SealCkksContext, what: string, load: () => void): void {
  try {
    load();
  } catch (e) {
    fail('BAD_CIPHERTEXT', `the ${what} cannot be loaded for parameter set ${ctx.spec.parameterId}: ${sealErrorMessage(ctx.seal, e)}`);
  }
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
