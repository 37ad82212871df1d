import type { CKKSEncoder, ContextData, Evaluator, ParmsIdType, SEALContext } from 'node-seal';
import { DeepPowersError, fail } from '../../../compiler/errors';
import type { ContextSpec } from '../backend';
import { loadSeal, sealErrorMessage, type Seal } from './seal-module';

/**
 * A live SEAL CKKS context with the helpers every SEAL-side module shares. Levels are SEAL chain
 * indices: the top data level is `maxLevel` (= number of data primes − 1), each rescale or
 * modswitch goes one down, level 0 has one prime left.
 */
export interface SealCkksContext {
  readonly seal: Seal;
  readonly context: SEALContext;
  readonly encoder: CKKSEncoder;
  readonly evaluator: Evaluator;
  readonly spec: ContextSpec;
  readonly slots: number;
  readonly maxLevel: number;
  /** The data primes as doubles, index = the level whose rescale drops it (prime[l] is dropped going l → l−1). */
  readonly primeAtLevel: readonly number[];
  /** parms_id of a level (owned by the context; do not delete). */
  parmsIdAt(level: number): ParmsIdType;
  /** Level of a parms_id, or undefined when it is not a data level of this context (e.g. the key level or another context's). */
  levelOfParmsId(id: ParmsIdType): number | undefined;
  dispose(): void;
}

/** Build the context, refusing anything that is not exactly the compiler's parameters at 128-bit security. */
export async function createSealContext(spec: ContextSpec): Promise<SealCkksContext> {
  const seal = await loadSeal();
  const n = spec.polyModulusDegree;
  if (!Number.isInteger(n) || n < 1024 || n > 32768 || (n & (n - 1)) !== 0) {
    fail('PARAMS', `polyModulusDegree ${n} is not a power of two in [1024, 32768]`);
  }
  const bits = spec.coeffModulusBits;
  if (bits.length < 2) fail('PARAMS', `the coefficient modulus needs at least 2 primes (one data, one special), got ${bits.length}`);
  if (spec.primes.length !== bits.length) {
    fail('PARAMS', `${spec.primes.length} primes given for ${bits.length} coefficient-modulus bit sizes`);
  }
  const total = bits.reduce((a, b) => a + b, 0);
  const maxBits = seal.CoeffModulus.MaxBitCount(n, seal.SecLevelType.tc128);
  if (total > maxBits) {
    fail('PARAMS', `coefficient modulus of ${total} bits exceeds the 128-bit-security bound of ${maxBits} bits at N=${n}`);
  }

  const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
  let moduli: ReturnType<Seal['CoeffModulus']['Create']> | undefined;
  let context: SEALContext | undefined;
  try {
    parms.setPolyModulusDegree(n);
    try {
      moduli = seal.CoeffModulus.Create(n, Int32Array.from(bits));
    } catch (e) {
      fail('PARAMS', `SEAL cannot make primes of bit sizes [${bits.join(', ')}] for N=${n}: ${sealErrorMessage(seal, e)}`);
    }
    const made = (seal.jsArrayFromVecModulus(moduli) as bigint[]).map(BigInt);
    made.forEach((p, i) => {
      if (p !== BigInt(spec.primes[i]!)) {
        fail('PARAMS', `SEAL made prime #${i} = ${p}, but the parameters expect ${spec.primes[i]} (parameter set ${spec.parameterId})`);
      }
    });
    parms.setCoeffModulus(moduli);
    context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
    if (!context.parametersSet()) fail('PARAMS', `SEAL rejects the parameter set ${spec.parameterId} (N=${n}, bits [${bits.join(', ')}])`);
  } catch (e) {
    context?.delete();
    if (e instanceof DeepPowersError) throw e;
    throw new DeepPowersError('PARAMS', `SEAL context creation failed: ${sealErrorMessage(seal, e)}`);
  } finally {
    moduli?.delete();
    parms.delete();
  }
  return wrapContext(seal, context, spec);
}

function wrapContext(seal: Seal, context: SEALContext, spec: ContextSpec): SealCkksContext {
  // Walk the chain once, keeping each level's parms_id; ContextData handles are released at once.
  // The walk counts levels instead of testing for the end: past the last level node-seal hands
  // back a handle to an empty shared_ptr that reads as garbage rather than throwing.
  const byLevel: ParmsIdType[] = [];
  const levelByKey = new Map<string, number>();
  let data: ContextData = context.firstContextData();
  const maxLevel = data.chainIndex();
  if (maxLevel !== spec.coeffModulusBits.length - 2) {
    fail('PARAMS', `SEAL built ${maxLevel + 1} data levels for ${spec.coeffModulusBits.length} primes; expected one special prime`);
  }
  for (let level = maxLevel; level >= 0; level--) {
    if (data.chainIndex() !== level) fail('PARAMS', `SEAL modulus chain is malformed at level ${level}`);
    const id = data.parmsId();
    byLevel[level] = id;
    levelByKey.set(parmsKey(id), level);
    const next: ContextData | undefined = level > 0 ? data.nextContextData() : undefined;
    data.delete();
    if (next) data = next;
  }
  const primes = spec.primes.map((p) => Number(BigInt(p)));
  const encoder = new seal.CKKSEncoder(context);
  const evaluator = new seal.Evaluator(context);
  let disposed = false;
  return {
    seal,
    context,
    encoder,
    evaluator,
    spec,
    slots: encoder.slotCount(),
    maxLevel,
    primeAtLevel: primes.slice(0, maxLevel + 1),
    parmsIdAt(level) {
      const id = byLevel[level];
      if (!id) fail('BAD_ARGUMENT', `level ${level} is outside the modulus chain 0..${maxLevel}`);
      return id;
    },
    levelOfParmsId(id) {
      return levelByKey.get(parmsKey(id));
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      freeAll(encoder, evaluator, ...byLevel, context);
    },
  };
}

export function parmsKey(id: ParmsIdType): string {
  return Array.from(id.values() as BigUint64Array, (v) => v.toString(16)).join(':');
}

/** Delete SEAL objects, skipping absent or already deleted ones. */
export function freeAll(...objects: ReadonlyArray<{ delete(): void; isDeleted(): boolean } | undefined | null>): void {
  for (const o of objects) if (o && !o.isDeleted()) o.delete();
}
