import { fail } from '../errors';
import { primeAt, type Level, type Op, type Scale } from './ir';

/**
 * SEAL's bookkeeping rules for each op, in the same double arithmetic SEAL uses, shared by the
 * checker and the simulator so both reject exactly what SEAL would reject (and a little more:
 * the compiler's own discipline of relinearising before rotations and products).
 */

/** Largest power-of-two factor by which fresh inputs may sit above the top canonical scale. */
export const MAX_INPUT_BOOST_BITS = 30;

export interface ValueMeta {
  readonly level: Level;
  readonly scale: Scale;
  readonly size: 2 | 3;
}

/** SEAL util::are_close: the tolerance SEAL applies when it compares two scales. */
export function areClose(a: number, b: number): boolean {
  const scaleFactor = Math.max(Number.MIN_VALUE, Math.abs(a), Math.abs(b));
  return Math.abs(a - b) < Number.EPSILON * scaleFactor;
}

export interface RuleContext {
  readonly topLevel: Level;
  /** Null while scales are unassigned: levels and sizes are still checked, scales are not. */
  readonly primes: readonly number[] | null;
}

function bad(index: number, op: Op, why: string): never {
  fail('BAD_ARTIFACT', `circuit op ${index} (${op.op}): ${why}`);
}

/**
 * What SEAL would produce for `op` given its operands' metadata; throws when SEAL (or the
 * compiler's discipline) would refuse the op. `input` ops return their recorded metadata after
 * checking it is a fresh ciphertext at the top level.
 */
export function deriveMeta(index: number, op: Op, meta: (id: number) => ValueMeta, ctx: RuleContext): ValueMeta {
  const scaled = ctx.primes !== null;
  const sameScale = (x: Scale, y: Scale, what: string): void => {
    if (scaled && !areClose(x, y)) bad(index, op, `${what} scales differ: 2^${Math.log2(x)} vs 2^${Math.log2(y)}`);
  };
  switch (op.op) {
    case 'input':
      if (op.level !== ctx.topLevel) bad(index, op, `fresh input at level ${op.level}, expected ${ctx.topLevel}`);
      if (op.size !== 2) bad(index, op, 'fresh input must have size 2');
      return { level: op.level, scale: op.scale, size: 2 };
    case 'add':
    case 'sub': {
      const a = meta(op.a);
      const b = meta(op.b);
      if (a.level !== b.level) bad(index, op, `operand levels differ: ${a.level} vs ${b.level}`);
      sameScale(a.scale, b.scale, 'operand');
      return { level: a.level, scale: a.scale, size: a.size === 3 || b.size === 3 ? 3 : 2 };
    }
    case 'neg':
    case 'output':
      return meta(op.a);
    case 'mul': {
      const a = meta(op.a);
      const b = meta(op.b);
      if (a.level !== b.level) bad(index, op, `operand levels differ: ${a.level} vs ${b.level}`);
      if (a.size !== 2 || b.size !== 2) bad(index, op, 'operands must be relinearised (size 2)');
      return { level: a.level, scale: a.scale * b.scale, size: 3 };
    }
    case 'relin': {
      const a = meta(op.a);
      if (a.size !== 3) bad(index, op, 'operand is not a size-3 product');
      return { ...a, size: 2 };
    }
    case 'rescale': {
      const a = meta(op.a);
      if (a.level < 1) bad(index, op, 'no prime left to drop');
      if (op.target > a.level - 1) bad(index, op, `target level ${op.target} above result level ${a.level - 1}`);
      const scale = scaled ? a.scale / primeAt(ctx.primes!, ctx.topLevel, a.level) : a.scale;
      return { level: a.level - 1, scale, size: a.size };
    }
    case 'modswitch': {
      const a = meta(op.a);
      if (a.level < 1) bad(index, op, 'no prime left to drop');
      return { level: a.level - 1, scale: a.scale, size: a.size };
    }
    case 'rotate': {
      const a = meta(op.a);
      if (a.size !== 2) bad(index, op, 'rotation needs a relinearised (size 2) ciphertext');
      if (!Number.isInteger(op.k) || op.k === 0) bad(index, op, `rotation step ${op.k} is not a nonzero integer`);
      return a;
    }
    case 'mulPlain':
    case 'mulScalar': {
      const a = meta(op.a);
      if (scaled && !(op.encodeScale >= 1)) bad(index, op, `encode scale ${op.encodeScale} below 1`);
      return { level: a.level, scale: a.scale * op.encodeScale, size: a.size };
    }
    case 'addPlain':
    case 'addScalar': {
      const a = meta(op.a);
      sameScale(op.encodeScale, a.scale, 'plaintext and ciphertext');
      return a;
    }
  }
}

/**
 * Canonical scale per level, as SEAL computes them: S_{ℓ−1} = S_ℓ·S_ℓ / q_ℓ (multiply, then the
 * rescale's division), so a product of two canonical values lands exactly on the next canonical
 * scale. Indexed by level.
 */
export function canonicalScales(topScale: Scale, primes: readonly number[], topLevel: Level): Scale[] {
  const scales = new Array<Scale>(topLevel + 1);
  scales[topLevel] = topScale;
  for (let level = topLevel; level >= 1; level--) {
    const s = scales[level]!;
    scales[level - 1] = (s * s) / primeAt(primes, topLevel, level);
  }
  return scales;
}
