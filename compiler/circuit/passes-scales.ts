import { fail } from '../errors';
import { operandsOf, primeAt, type Circuit, type Level, type Op, type Scale } from './ir';
import { canonicalScales, deriveMeta, type ValueMeta } from './op-rules';
import { checkCircuit } from './passes-check';

export interface ScaleOptions {
  /**
   * Scale the canonical scales hover around (default: 2 to the rounded mean bit size of the
   * primes). The top scale is derived from it so the recurrence S_{ℓ−1} = S_ℓ²/q_ℓ stays near it
   * at every level instead of drifting.
   */
  readonly baseScale?: number;
}

/**
 * Phase (b) of lowering: exact scales for a given prime chain. `primes` are the droppable primes
 * as doubles, top first: [q_L, …, q_1] (SEAL chain order [q0, q1 … qL, special] reversed, without
 * q0 and the special prime). More primes than the depth raise every level by the difference.
 *
 * Scheme: canonical scale S_ℓ per level with S_{ℓ−1} = S_ℓ·S_ℓ/q_ℓ, so a ct×ct product of two
 * canonical values rescales exactly onto the next canonical scale. Every rescale declares the
 * level t whose canonical scale it must land on; each plaintext multiply feeding it is encoded at
 * P = S_t·q_ℓ/s (s its operand's scale), searched to the ulp so SEAL's own double arithmetic
 * (product, then division by the prime) reproduces S_t exactly. Values that will be modswitched
 * to t therefore already carry S_t, and every addition sees equal scales with no scale overrides.
 */
export function assignScales(circuit: Circuit, primes: readonly number[], options: ScaleOptions = {}): Circuit {
  if (primes.length < circuit.depth) {
    fail('PARAMS', `circuit needs ${circuit.depth} rescale primes, the chain has ${primes.length}`);
  }
  for (const q of primes) {
    if (!Number.isFinite(q) || q < 2) fail('BAD_ARGUMENT', `rescale prime ${q} is not a usable modulus`);
  }
  const shift = primes.length - circuit.topLevel;
  const topLevel = primes.length;
  const shifted = circuit.ops.map((op): Op => {
    if (op.op === 'rescale') return { ...op, level: op.level + shift, target: op.target + shift };
    return { ...op, level: op.level + shift };
  });

  const base = options.baseScale ?? 2 ** Math.round(primes.reduce((s, q) => s + Math.log2(q), 0) / Math.max(1, primes.length));
  const canonical = canonicalScales(stableTopScale(base, primes, topLevel), primes, topLevel);
  const required = requiredProductScales(shifted, primes, topLevel, canonical);

  const ctx = { topLevel, primes };
  const metas: ValueMeta[] = [];
  const ops: Op[] = [];
  shifted.forEach((op, i) => {
    const meta = (id: number): ValueMeta => metas[id]!;
    let next: Op;
    switch (op.op) {
      case 'input':
        next = { ...op, scale: canonical[topLevel]! };
        break;
      case 'mulPlain':
      case 'mulScalar': {
        const target = required.get(i);
        if (target === undefined) throw new Error(`plaintext multiply ${i} is never rescaled`);
        const encodeScale = encodeScaleFor(metas[op.a]!.scale, target);
        next = { ...op, encodeScale, scale: metas[op.a]!.scale * encodeScale };
        break;
      }
      case 'addPlain':
      case 'addScalar':
        next = { ...op, encodeScale: metas[op.a]!.scale, scale: metas[op.a]!.scale };
        break;
      default:
        next = { ...op, scale: deriveMeta(i, op, meta, ctx).scale };
    }
    metas.push(deriveMeta(i, next, meta, ctx));
    ops.push(next);
  });

  const result: Circuit = { ...circuit, ops, topLevel, primes: [...primes] };
  checkCircuit(result);
  return result;
}

/** Top scale whose canonical chain stays near `base`: computed bottom-up, where the recurrence contracts. */
function stableTopScale(base: number, primes: readonly number[], topLevel: Level): Scale {
  let s = base;
  for (let level = 1; level <= topLevel; level++) s = Math.sqrt(s * primeAt(primes, topLevel, level));
  return s;
}

/**
 * For each plaintext multiply, the scale its product must have: that of the rescale it feeds,
 * R with R/q == S_target. Walks from each rescale back through scale-preserving ops.
 */
function requiredProductScales(ops: readonly Op[], primes: readonly number[], topLevel: Level, canonical: readonly Scale[]): Map<number, Scale> {
  const required = new Map<number, Scale>();
  ops.forEach((op, i) => {
    if (op.op !== 'rescale') return;
    const q = primeAt(primes, topLevel, op.level + 1);
    const r = productScaleFor(canonical[op.target]!, q);
    const stack = [op.a];
    const seen = new Set<number>();
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      const src = ops[id]!;
      switch (src.op) {
        case 'mulPlain':
        case 'mulScalar': {
          const prior = required.get(id);
          if (prior !== undefined && prior !== r) throw new Error(`plaintext multiply ${id} feeds rescales with different targets (at op ${i})`);
          required.set(id, r);
          break;
        }
        case 'add':
        case 'sub':
          stack.push(src.a, src.b);
          break;
        case 'neg':
        case 'rotate':
        case 'relin':
        case 'modswitch':
        case 'addPlain':
        case 'addScalar':
          stack.push(...operandsOf(src));
          break;
        default:
          // ct×ct products, inputs and rescaled values have fixed scales; the checker verifies them.
          break;
      }
    }
  });
  return required;
}

/** R with fl(R / q) == target, as close to target·q as the doubles allow. */
function productScaleFor(target: Scale, q: number): Scale {
  return nearestSolution(target * q, (r) => r / q - target);
}

/** P with fl(s·P) == product. */
function encodeScaleFor(s: Scale, product: Scale): Scale {
  return nearestSolution(product / s, (p) => s * p - product);
}

/** Walks a few ulps either side of `start` for an exact zero of `residual`, else the smallest |residual|. */
function nearestSolution(start: number, residual: (x: number) => number): number {
  let best = start;
  let bestErr = Math.abs(residual(start));
  if (bestErr === 0) return start;
  let up = start;
  let down = start;
  for (let k = 0; k < 32; k++) {
    up = nextDouble(up, 1);
    down = nextDouble(down, -1);
    for (const x of [up, down]) {
      const err = Math.abs(residual(x));
      if (err < bestErr) {
        best = x;
        bestErr = err;
        if (err === 0) return best;
      }
    }
  }
  return best;
}

const bits = new DataView(new ArrayBuffer(8));

/** The adjacent double (positive finite x only). */
function nextDouble(x: number, direction: 1 | -1): number {
  bits.setFloat64(0, x);
  bits.setBigUint64(0, bits.getBigUint64(0) + BigInt(direction));
  return bits.getFloat64(0);
}
