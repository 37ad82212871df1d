/**
 * Exact SEAL scales for every op, from the chosen primes: each level's canonical scale, each
 * constant's encode scale, and the fresh inputs' (boosted) scale, checked by checkCircuit.
 *
 * Before → after (primes q2 ≈ 2^40 dropped first):
 *   %0 = input 0 @L2   %1 = mulPlain %0, c0 @L2   %2 = rescale %1 → L1   (scales 0: not yet assigned)
 *   %0 = input 0 @L2 S2   %1 = mulPlain %0, c0 (encoded at S1·q2/S2) @L2 S1·q2   %2 = rescale %1 → L1 S1
 */
import { fail } from '../errors';
import { operandsOf, primeAt, type Circuit, type Level, type Op, type Scale } from './ir';
import { canonicalScales, deriveMeta, MAX_INPUT_BOOST_BITS, type ValueMeta } from './op-rules';
import { unhandledOp } from './op-table';
import { checkCircuit } from './passes-check';
import { dropZeroConstants, zeroEncodedConstants } from './passes-drop-zero';

export interface ScaleOptions {
  /**
   * Scale the canonical scales hover around (default: 2 to the rounded mean bit size of the
   * primes; the recurrence S_{ℓ−1} = S_ℓ²/q_ℓ only stays put near the primes themselves). The top
   * scale is derived from it bottom-up, where the recurrence contracts, so it does not drift.
   */
  readonly baseScale?: number;
  /**
   * Fresh inputs that only feed plaintext multiplies (directly or through rotations: the vector
   * layout's first affine map) are encrypted at 2^b times the top canonical scale; their
   * multiplies are encoded 2^b lower to land on the same scales. Rotation (key-switching) noise
   * has a fixed absolute size, so it shrinks 2^b-fold relative to the input, while the weights'
   * encoding error grows 2^b-fold from a much smaller start. Default: `defaultInputBoostBits`.
   */
  readonly inputBoostBits?: number;
}

/**
 * Key-switching noise in the slots is ~2^(log2 N + 6..7); the rounding of a plaintext encoded at
 * scale P costs ~2^(log2 N / 2) / P. The boost that balances them is about half the gap,
 * (log2 N / 2 + 6) / 2, capped so the weights keep at least 20 bits of encode scale (at
 * N = 4096 that rounds them to ~2^-16 per unit, below what the boost saves on 25-bit chains).
 */
export function defaultInputBoostBits(slots: number, meanPrimeBits: number): number {
  const logN = Math.log2(2 * slots);
  const balance = Math.round((logN / 2 + 6) / 2);
  return Math.max(0, Math.min(balance, Math.floor(meanPrimeBits) - 20));
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
 * (product, then division by the prime) reproduces S_t exactly (or within SEAL's tolerance where
 * no double does). Values that will be modswitched to t therefore already carry S_t, and every
 * addition sees equal scales with no scale overrides.
 */
export function assignScales(circuit: Circuit, primes: readonly number[], options: ScaleOptions = {}): Circuit {
  // Constants that round to zero at their encode scale are dropped and the rest scaled again
  // (see passes-drop-zero.ts). Dropping keeps every level and rescale target, so the encode scales
  // of what remains barely move; a second round only catches a constant right at the threshold.
  let current = circuit;
  for (let round = 0; round < MAX_DROP_ROUNDS; round++) {
    const scaled = assignScalesOnce(current, primes, options);
    const zero = zeroEncodedConstants(scaled);
    if (zero.size === 0) return scaled;
    current = dropZeroConstants(current, scaled, zero);
  }
  fail('PARAMS', `constants still encode to zero after ${MAX_DROP_ROUNDS} rounds of dropping them`);
}

const MAX_DROP_ROUNDS = 4;

function assignScalesOnce(circuit: Circuit, primes: readonly number[], options: ScaleOptions): Circuit {
  if (primes.length < circuit.depth) {
    fail('PARAMS', `circuit needs ${circuit.depth} rescale primes, the chain has ${primes.length}`);
  }
  const { shifted, topLevel } = placeOnPrimes(circuit, primes);

  const meanBits = primes.reduce((sum, q) => sum + Math.log2(q), 0) / Math.max(1, primes.length);
  const base = options.baseScale ?? 2 ** Math.round(meanBits);
  const boost = plaintextOnlyInputs(shifted) ? (options.inputBoostBits ?? defaultInputBoostBits(circuit.slots, meanBits)) : 0;
  if (!Number.isInteger(boost) || boost < 0 || boost > MAX_INPUT_BOOST_BITS) fail('BAD_ARGUMENT', `input boost ${boost} bits outside [0, ${MAX_INPUT_BOOST_BITS}]`);
  const groups = rescaleGroups(shifted);
  const order = dependencyOrder(shifted, groups);

  // Most landings can be made bit-exact; where a target falls between two reachable doubles the
  // product is one ulp off, which SEAL's equal-scale check tolerates but a later ct×ct could
  // double. Nudging the base scale moves every target, so a few nudges are tried and the most
  // exact assignment that passes the checker wins.
  // A deep chain of ct×ct products (Newton steps for 1/√v in a LayerNorm) can turn one such ulp
  // into two, which SEAL refuses at the next addition (scaleOps throws there): when none of the
  // first nudges passes, more are tried, one at a time, until one does.
  const attempt = (k: number): { ops: Op[]; inexact: number } | { error: unknown } => {
    try {
      return scaleOps(shifted, order, groups, canonicalScales(stableTopScale(base * (1 + k / 4096), primes, topLevel), primes, topLevel), primes, topLevel, 2 ** boost);
    } catch (e) {
      return { error: e };
    }
  };
  const checked = (tried: { ops: Op[] } | { error: unknown }): Circuit | { error: unknown } => {
    if ('error' in tried) return tried;
    const result: Circuit = { ...circuit, ops: tried.ops, topLevel, primes: [...primes] };
    try {
      checkCircuit(result);
      return result;
    } catch (e) {
      return { error: e };
    }
  };
  const attempts: ({ ops: Op[]; inexact: number } | { error: unknown })[] = [];
  for (let k = 0; k < FIRST_NUDGES; k++) {
    const tried = attempt(k);
    attempts.push(tried);
    if ('inexact' in tried && tried.inexact === 0) break;
  }
  attempts.sort((a, b) => ('inexact' in a ? a.inexact : Infinity) - ('inexact' in b ? b.inexact : Infinity));
  let firstError: unknown = null;
  for (const tried of attempts) {
    const result = checked(tried);
    if (!('error' in result)) return result;
    firstError ??= result.error;
  }
  for (let k = FIRST_NUDGES; k < MAX_NUDGES; k++) {
    const result = checked(attempt(k));
    if (!('error' in result)) return result;
  }
  throw firstError;
}

const FIRST_NUDGES = 8;
const MAX_NUDGES = 128;

/** The circuit's ops with levels raised so its top level is the top of `primes` (the droppable primes, top first). */
function placeOnPrimes(circuit: Circuit, primes: readonly number[]): { shifted: Op[]; topLevel: Level } {
  for (const q of primes) {
    if (!Number.isFinite(q) || q < 2) fail('BAD_ARGUMENT', `rescale prime ${q} is not a usable modulus`);
  }
  const shift = primes.length - circuit.topLevel;
  const shifted = circuit.ops.map((op): Op => {
    if (op.op === 'rescale') return { ...op, level: op.level + shift, target: op.target + shift };
    return { ...op, level: op.level + shift };
  });
  return { shifted, topLevel: primes.length };
}

/**
 * Scales for a circuit whose input and output formats are fixed from outside: a client step's mask
 * and unmask circuits (compiler/client-steps/), which take a segment's result or a fresh
 * ciphertext at `inputScale` and must hand the next party a ciphertext at that same scale. The
 * input carries `inputScale` and every rescale lands back on it (its plaintext products encoded
 * as `assignScales` encodes them, searched to the ulp); checked like any circuit.
 */
export function assignScalesKeeping(circuit: Circuit, primes: readonly number[], inputScale: Scale): Circuit {
  if (primes.length < circuit.depth) fail('PARAMS', `circuit needs ${circuit.depth} rescale primes, the chain has ${primes.length}`);
  const { shifted, topLevel } = placeOnPrimes(circuit, primes);
  const groups = rescaleGroups(shifted);
  const order = dependencyOrder(shifted, groups);
  const landing = new Array<Scale>(topLevel + 1).fill(inputScale);
  const { ops } = scaleOps(shifted, order, groups, landing, primes, topLevel, 1);
  const result: Circuit = { ...circuit, ops, topLevel, primes: [...primes] };
  checkCircuit(result, { rescalesLand: 'on the input scale' });
  return result;
}

/** Scales for every op given the canonical scales; counts the places that are not bit-exact. */
function scaleOps(
  shifted: readonly Op[],
  order: readonly number[],
  groups: Groups,
  canonical: readonly Scale[],
  primes: readonly number[],
  topLevel: Level,
  inputBoost: number,
): { ops: Op[]; inexact: number } {
  const ctx = { topLevel, primes };
  const metas: ValueMeta[] = new Array(shifted.length);
  const ops: Op[] = new Array(shifted.length);
  const solved = new Map<number, Map<Scale, Scale>>();
  const meta = (id: number): ValueMeta => metas[id]!;
  let inexact = 0;
  for (const i of order) {
    const op = shifted[i]!;
    let next: Op;
    switch (op.op) {
      case 'input':
        next = { ...op, scale: canonical[topLevel]! * inputBoost };
        break;
      case 'mulPlain':
      case 'mulScalar': {
        const g = groups.leafGroup.get(i);
        if (g === undefined) throw new Error(`plaintext multiply ${i} is never rescaled`);
        let encode = solved.get(g);
        if (!encode) {
          const rescale = shifted[g] as Extract<Op, { op: 'rescale' }>;
          const lead = groups.lead.get(g) ?? groups.leaves.get(g)![0]!;
          const leaves = [lead, ...groups.leaves.get(g)!.filter((l) => l !== lead)];
          const sources = leaves.map((leaf) => metas[operandsOf(shifted[leaf]!)[0]!]!.scale);
          encode = solveLanding(sources, canonical[rescale.target]!, primeAt(primes, topLevel, rescale.level + 1));
          solved.set(g, encode);
        }
        const s = metas[op.a]!.scale;
        const encodeScale = encode.get(s)!;
        next = { ...op, encodeScale, scale: s * encodeScale };
        break;
      }
      case 'addPlain':
      case 'addScalar':
        next = { ...op, encodeScale: metas[op.a]!.scale, scale: metas[op.a]!.scale };
        break;
      case 'add':
      case 'sub':
      case 'mul':
      case 'neg':
      case 'relin':
      case 'rescale':
      case 'modswitch':
      case 'rotate':
      case 'output':
        next = { ...op, scale: deriveMeta(i, op, meta, ctx).scale };
        break;
      default:
        return unhandledOp(op);
    }
    metas[i] = deriveMeta(i, next, meta, ctx);
    ops[i] = next;
    if (next.op === 'rescale' && next.scale !== canonical[next.target]) inexact++;
    if ((next.op === 'add' || next.op === 'sub') && metas[next.a]!.scale !== metas[next.b]!.scale) inexact++;
  }
  return { ops, inexact };
}

/** Top scale whose canonical chain stays near `base`: computed bottom-up, where the recurrence contracts. */
function stableTopScale(base: number, primes: readonly number[], topLevel: Level): Scale {
  let s = base;
  for (let level = 1; level <= topLevel; level++) s = Math.sqrt(s * primeAt(primes, topLevel, level));
  return s;
}

interface Groups {
  /** Plaintext multiply → the rescale its product feeds. */
  readonly leafGroup: Map<number, number>;
  /** Rescale → its plaintext-multiply leaves. */
  readonly leaves: Map<number, number[]>;
  /** Rescale → the leaf on its leftmost operand path, whose scale the sum keeps. */
  readonly lead: Map<number, number>;
}

/** Each rescale's plaintext-multiply leaves, found by walking back through scale-preserving ops. */
function rescaleGroups(ops: readonly Op[]): Groups {
  const leafGroup = new Map<number, number>();
  const leaves = new Map<number, number[]>();
  const lead = new Map<number, number>();
  ops.forEach((op, i) => {
    if (op.op !== 'rescale') return;
    let left = op.a;
    for (let src = ops[left]!; src.op !== 'mulPlain' && src.op !== 'mulScalar' && src.op !== 'mul' && 'a' in src && src.op !== 'rescale'; src = ops[left]!) left = src.a;
    if (ops[left]!.op === 'mulPlain' || ops[left]!.op === 'mulScalar') lead.set(i, left);
    const found: number[] = [];
    const stack = [op.a];
    const seen = new Set<number>();
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      const src = ops[id]!;
      switch (src.op) {
        case 'mulPlain':
        case 'mulScalar':
          found.push(id);
          break;
        case 'add':
        case 'sub':
        case 'neg':
        case 'rotate':
        case 'relin':
        case 'modswitch':
        case 'addPlain':
        case 'addScalar':
          stack.push(...operandsOf(src));
          break;
        case 'mul':
        case 'input':
        case 'rescale':
        case 'output':
          // ct×ct products, inputs and rescaled values have fixed scales; the checker verifies them.
          break;
        default:
          unhandledOp(src);
      }
    }
    found.sort((a, b) => a - b);
    // A rescale of a rotated copy (CircuitBuilder.rotateUnrescaled) shares every leaf with the
    // original rescale: same level, same target, same operand scales, so the same encode scales
    // land both, and the copy joins the original's group.
    const owner = found.length > 0 ? leafGroup.get(found[0]!) : undefined;
    if (owner !== undefined) {
      const first = ops[owner] as Extract<Op, { op: 'rescale' }>;
      const same = first.level === op.level && first.target === op.target && sameList(leaves.get(owner)!, found);
      if (!same) throw new Error(`plaintext multiply ${found[0]} feeds two different rescales (ops ${owner} and ${i})`);
      return;
    }
    for (const id of found) {
      const other = leafGroup.get(id);
      if (other !== undefined) throw new Error(`plaintext multiply ${id} feeds two different rescales (ops ${other} and ${i})`);
      leafGroup.set(id, i);
    }
    leaves.set(i, found);
  });
  return { leafGroup, leaves, lead };
}

/** Whether every input is read only by plaintext multiplies, directly or through rotations. */
function plaintextOnlyInputs(ops: readonly Op[]): boolean {
  const fromInput = new Uint8Array(ops.length);
  let any = false;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.op === 'input') {
      fromInput[i] = 1;
      any = true;
      continue;
    }
    for (const a of operandsOf(op)) {
      if (!fromInput[a]) continue;
      if (op.op === 'rotate') fromInput[i] = 1;
      else if (op.op !== 'mulPlain' && op.op !== 'mulScalar') return false;
    }
  }
  return any;
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, k) => x === b[k]);
}

/**
 * Op indices in an order where every op comes after its operands and every plaintext multiply
 * after the operands of all the multiplies sharing its rescale (so its group can be solved).
 * Iterative post-order: circuits can be long chains.
 */
function dependencyOrder(ops: readonly Op[], groups: Groups): number[] {
  const deps = (i: number): number[] => {
    const op = ops[i]!;
    const direct = operandsOf(op);
    const g = groups.leafGroup.get(i);
    if (g === undefined) return direct;
    return [...direct, ...groups.leaves.get(g)!.flatMap((leaf) => operandsOf(ops[leaf]!))];
  };
  const state = new Uint8Array(ops.length); // 0 new, 1 on stack, 2 done
  const order: number[] = [];
  for (let root = 0; root < ops.length; root++) {
    if (state[root]) continue;
    const stack: [number, number[]][] = [[root, deps(root)]];
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const next = top[1].pop();
      if (next === undefined) {
        stack.pop();
        state[top[0]] = 2;
        order.push(top[0]);
      } else if (state[next] === 0) {
        state[next] = 1;
        stack.push([next, deps(next)]);
      } else if (state[next] === 1) {
        throw new Error(`circular scale dependency at op ${next}`);
      }
    }
  }
  return order;
}

/**
 * Encode scales for the plaintext multiplies feeding one rescale. SEAL keeps the left operand's
 * scale in an addition, so the product on the leftmost path (`sources[0]`'s operand scale) decides
 * where the rescale lands: its X = fl(s·P) must satisfy fl(X / q) == target exactly — SEAL's own
 * double arithmetic reproducing the target bit for bit. The other products match X exactly where
 * some P allows, else to the nearest double (within SEAL's equal-scale tolerance).
 */
function solveLanding(sources: readonly Scale[], target: Scale, q: number): Map<Scale, Scale> {
  const lead = sources[0]!;
  const candidates = nearbyDoubles(target * q, SEARCH_ULPS).filter((x) => x / q === target);
  let x = target * q;
  let leadP = x / lead;
  search: for (const cx of candidates) {
    for (const p of nearbyDoubles(cx / lead, SEARCH_ULPS)) {
      if (lead * p === cx) {
        x = cx;
        leadP = p;
        break search;
      }
    }
  }
  const encode = new Map<Scale, Scale>([[lead, leadP]]);
  for (const s of new Set(sources)) {
    if (s === lead) continue;
    const near = nearbyDoubles(x / s, SEARCH_ULPS);
    encode.set(s, near.find((p) => s * p === x) ?? near.reduce((best, p) => (Math.abs(s * p - x) < Math.abs(s * best - x) ? p : best)));
  }
  return encode;
}

const SEARCH_ULPS = 64;

/** `start` and the doubles up to `ulps` steps either side, nearest first. */
function nearbyDoubles(start: number, ulps: number): number[] {
  const out = [start];
  let up = start;
  let down = start;
  for (let k = 0; k < ulps; k++) {
    up = nextDouble(up, 1);
    down = nextDouble(down, -1);
    out.push(up, down);
  }
  return out;
}

const bits = new DataView(new ArrayBuffer(8));

/** The adjacent double (positive finite x only). */
function nextDouble(x: number, direction: 1 | -1): number {
  bits.setFloat64(0, x);
  bits.setBigUint64(0, bits.getBigUint64(0) + BigInt(direction));
  return bits.getFloat64(0);
}
