import type { Plaintext } from 'node-seal';
import type { Circuit } from '../../../compiler/circuit/ir';
import { expandConstant } from '../../../compiler/circuit/packing';
import { fail } from '../../../compiler/errors';
import { plaintextBytesAt, SCALAR_PLAINTEXT_BUDGET_BYTES } from '../../../compiler/params/sizes';
import { freeAll, type SealCkksContext } from './context';

/**
 * Encoded plaintext constants of one loaded model, keyed by what fixes their bits: the constant
 * (constant id or scalar value), the level and the exact encoding scale. Encoding costs an inverse FFT
 * and NTTs per prime, so a model pays it once, on its first evaluation, not per request.
 *
 * Table constants (the vector layout's diagonals and biases) are few and always cached. Scalars
 * are cached until `scalarBudgetBytes` is used up; later ones are encoded for each use and freed
 * (the batch layout of a wide MLP has thousands of distinct weights, each a full-slot plaintext).
 * A first-come budget rather than an LRU: evaluations repeat the same op order, where an LRU
 * smaller than the working set would miss on every access. The cache lives with the loaded model
 * and is freed with it.
 */
export interface PlaintextCache {
  /** Constant `id` of the circuit's constant table, spread over all slots (see expandConstant), at `level` and `scale`. */
  constant(id: number, values: Float64Array, samplesPerCiphertext: number, level: number, scale: number): Plaintext;
  /** Runs `use` with a scalar broadcast to every slot; the plaintext is only valid during the call. */
  withScalar<T>(value: number, level: number, scale: number, use: (pt: Plaintext) => T): T;
  /** Plaintexts held. */
  readonly size: number;
  /** Bytes of the scalar plaintexts held (never above the budget). */
  readonly scalarBytes: number;
  dispose(): void;
}

export interface PlaintextCacheOptions {
  /** Default SCALAR_PLAINTEXT_BUDGET_BYTES (compiler/params/sizes, which the memory estimate uses too). */
  readonly scalarBudgetBytes?: number;
}

export function createPlaintextCache(ctx: SealCkksContext, options: PlaintextCacheOptions = {}): PlaintextCache {
  const budget = options.scalarBudgetBytes ?? SCALAR_PLAINTEXT_BUDGET_BYTES;
  const entries = new Map<string, Plaintext>();
  let scalarBytes = 0;
  let disposed = false;

  const encode = (values: Float64Array, level: number, scale: number): Plaintext => {
    if (disposed) fail('BAD_ARGUMENT', 'the plaintext cache was used after its model was disposed');
    const pt = new ctx.seal.Plaintext();
    try {
      // node-seal encodes only at the top level; dropping primes afterwards gives the very same
      // integer coefficients as encoding at the lower level directly.
      ctx.encoder.encode(values, scale, pt);
      if (level < ctx.maxLevel) ctx.evaluator.plainModSwitchToInplace(pt, ctx.parmsIdAt(level));
    } catch (e) {
      pt.delete();
      throw e;
    }
    return pt;
  };

  return {
    constant(id, values, samplesPerCiphertext, level, scale) {
      const key = `c${id}@${level}@${scale}`;
      let pt = entries.get(key);
      if (!pt) {
        pt = encode(expandConstant(values, ctx.slots, samplesPerCiphertext), level, scale);
        entries.set(key, pt);
      }
      return pt;
    },
    withScalar(value, level, scale, use) {
      const key = `s${value}@${level}@${scale}`;
      const hit = entries.get(key);
      if (hit) return use(hit);
      const pt = encode(new Float64Array(ctx.slots).fill(value), level, scale);
      const bytes = plaintextBytesAt(2 * ctx.slots, level);
      if (scalarBytes + bytes <= budget) {
        scalarBytes += bytes;
        entries.set(key, pt);
        return use(pt);
      }
      try {
        return use(pt);
      } finally {
        pt.delete();
      }
    },
    get size() {
      return entries.size;
    },
    get scalarBytes() {
      return scalarBytes;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      freeAll(...entries.values());
      entries.clear();
    },
  };
}

/**
 * Bytes the cache holds once `circuit` has run: every table constant per (level, scale), and the
 * scalars admitted in op order under the budget — what the SEAL executor will actually keep.
 */
export function cachedPlaintextBytes(circuit: Circuit, polyModulusDegree: number, scalarBudgetBytes = SCALAR_PLAINTEXT_BUDGET_BYTES): number {
  const seen = new Set<string>();
  let constants = 0;
  let scalars = 0;
  for (const op of circuit.ops) {
    if (op.op !== 'mulPlain' && op.op !== 'addPlain' && op.op !== 'mulScalar' && op.op !== 'addScalar') continue;
    const level = circuit.ops[op.a]!.level;
    const key = 'c' in op ? `c${op.c}@${level}@${op.encodeScale}` : `s${op.value}@${level}@${op.encodeScale}`;
    if (seen.has(key)) continue;
    const bytes = plaintextBytesAt(polyModulusDegree, level);
    if ('c' in op) constants += bytes;
    else if (scalars + bytes <= scalarBudgetBytes) scalars += bytes;
    else continue;
    seen.add(key);
  }
  return constants + scalars;
}
