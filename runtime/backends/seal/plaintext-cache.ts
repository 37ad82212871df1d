import type { Plaintext } from 'node-seal';
import { fail } from '../../../compiler/errors';
import { freeAll, type SealCkksContext } from './context';

/**
 * Encoded plaintext constants of one loaded model, keyed by what fixes their bits: the constant
 * (pool id or scalar value), the level and the exact encoding scale. Encoding costs an inverse FFT
 * and NTTs per prime, so a model pays it once, on its first evaluation, not per request.
 * The cache lives with the loaded model and is freed with it.
 */
export interface PlaintextCache {
  /** Constant `id` of the circuit pool, tiled to all slots, at `level` and `scale`. */
  constant(id: number, values: Float64Array, level: number, scale: number): Plaintext;
  /** A scalar broadcast to every slot. */
  scalar(value: number, level: number, scale: number): Plaintext;
  readonly size: number;
  dispose(): void;
}

export function createPlaintextCache(ctx: SealCkksContext): PlaintextCache {
  const entries = new Map<string, Plaintext>();
  let disposed = false;

  const encode = (key: string, values: () => Float64Array, level: number, scale: number): Plaintext => {
    if (disposed) fail('BAD_ARGUMENT', 'the plaintext cache was used after its model was disposed');
    const hit = entries.get(key);
    if (hit) return hit;
    const pt = new ctx.seal.Plaintext();
    try {
      // node-seal encodes only at the top level; dropping primes afterwards gives the very same
      // integer coefficients as encoding at the lower level directly.
      ctx.encoder.encode(values(), scale, pt);
      if (level < ctx.maxLevel) ctx.evaluator.plainModSwitchToInplace(pt, ctx.parmsIdAt(level));
    } catch (e) {
      pt.delete();
      throw e;
    }
    entries.set(key, pt);
    return pt;
  };

  return {
    constant(id, values, level, scale) {
      return encode(`c${id}@${level}@${scale}`, () => tile(values, ctx.slots, id), level, scale);
    },
    scalar(value, level, scale) {
      return encode(`s${value}@${level}@${scale}`, () => new Float64Array(ctx.slots).fill(value), level, scale);
    },
    get size() {
      return entries.size;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      freeAll(...entries.values());
      entries.clear();
    },
  };
}

/** A periodic constant (length p dividing the slot count) spread over all slots: slot i = values[i mod p]. */
function tile(values: Float64Array, slots: number, id: number): Float64Array {
  const p = values.length;
  if (p === slots) return values;
  if (p === 0 || slots % p !== 0) fail('BAD_ARTIFACT', `constant ${id} has length ${p}, which does not divide ${slots} slots`);
  const out = new Float64Array(slots);
  for (let i = 0; i < slots; i += p) out.set(values, i);
  return out;
}
