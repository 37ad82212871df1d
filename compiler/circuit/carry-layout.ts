/**
 * Whether a client step can carry a segment's result slots to the next segment as they are (a
 * coefficient-masked refresh cannot repack: the client never decodes the values). The client's
 * repack (compiler/client-steps/repack.ts) unpacks the result and packs it again as the next segment's inputs; carrying
 * is sound when the next segment computes, at every slot anything after it reads, the same as it
 * would on the repacked inputs:
 *   batch layout:  result ciphertext k holds the element the next segment reads as feature k, in
 *                  every slot (one sample per slot, all of an evaluation's samples): the repack is
 *                  the identity.
 *   vector layout: the result is the vector replicated with the period the next segment reads
 *                  (checked by the period of every value of the segment: its input's, its
 *                  constants', kept by rotations, shortened by folds x + rotate(x, k)), its elements in order in the first period; the
 *                  slots past the vector's size in each period (the repack's zero padding) hold
 *                  whatever the activation left there, so the next segment is checked to ignore
 *                  them: a taint from those slots, moved by rotations and cleared only by a
 *                  product with a plaintext that is 0 there, must not reach any slot its outputs
 *                  are read at (an affine map's zero columns, as inside one circuit).
 */
import type { Circuit, Op } from './ir';
import { expandConstant } from './packing';

/** Why `from`'s result cannot go to `to` as it is (null: it can). */
export function carryRefusal(from: Circuit, to: Circuit): string | null {
  if (from.layout !== to.layout) return `the segments' layouts differ (${from.layout}, ${to.layout})`;
  if (from.slots !== to.slots) return 'the segments have different slot counts';
  if (from.outputs.length !== to.inputs.length) return `the segment writes ${from.outputs.length} ciphertexts, the next reads ${to.inputs.length}`;
  if (from.samplesPerCiphertext !== 1 || to.samplesPerCiphertext !== 1) return 'samples are interleaved in the slots';
  return from.layout === 'batch' ? batchRefusal(from, to) : vectorRefusal(from, to);
}

function batchRefusal(from: Circuit, to: Circuit): string | null {
  for (let k = 0; k < to.inputs.length; k++) {
    const out = from.outputs[k]!;
    const input = to.inputs[k]!;
    if (out.kind !== 'feature' || input.kind !== 'feature' || out.element !== input.feature) return `ciphertext ${k} holds another element than the next segment reads there`;
  }
  return null;
}

function vectorRefusal(from: Circuit, to: Circuit): string | null {
  const periods = valuePeriods(from);
  for (let k = 0; k < to.inputs.length; k++) {
    const out = from.outputs[k]!;
    const input = to.inputs[k]!;
    if (out.kind !== 'slots' || input.kind !== 'replicated') return `ciphertext ${k} is not a replicated vector`;
    if (out.slots.length !== input.size || out.slots.some((s, e) => s !== e || out.elements[e] !== e)) return `ciphertext ${k}'s elements do not sit in order in the first ${input.size} slots`;
    const op = from.ops.find((o) => o.op === 'output' && o.output === k)!;
    const period = periods[(op as Extract<Op, { op: 'output' }>).a]!;
    if (input.period % period !== 0) return `ciphertext ${k} repeats every ${period} slots, the next segment reads period ${input.period}`;
  }
  return paddingReaches(to);
}

/**
 * Each value's period: a power of two its slots repeat with (an input's replication period, a
 * constant's stored length; the larger of two operands'; a rotation keeps it). A fold, an affine
 * map's sum x + rotate(x, k) of the copies of a shorter vector, can shorten it: such a value is
 * tracked as the sum of rotations of one value of period p by a multiset S of shifts, and repeats
 * every t slots where S + t = S (mod p).
 */
function valuePeriods(c: Circuit): number[] {
  const out: number[] = [];
  /** For a fold: the period p of the value whose rotations it sums, and the shifts (counts per shift mod p). */
  const folds = new Map<number, { p: number; shifts: Uint32Array }>();
  c.ops.forEach((op, i) => {
    switch (op.op) {
      case 'input': {
        const spec = c.inputs[op.input]!;
        out[i] = spec.kind === 'replicated' ? spec.period : c.slots;
        break;
      }
      case 'add': {
        const fold = foldOf(c, op.a, op.b, out, folds) ?? foldOf(c, op.b, op.a, out, folds);
        if (fold) {
          folds.set(i, fold);
          out[i] = periodOf(fold);
        } else out[i] = Math.max(out[op.a]!, out[op.b]!);
        break;
      }
      case 'sub':
      case 'mul':
        out[i] = Math.max(out[op.a]!, out[op.b]!);
        break;
      case 'mulPlain':
      case 'addPlain':
        out[i] = Math.max(out[op.a]!, c.constants[op.c]!.length);
        break;
      case 'neg':
      case 'relin':
      case 'modswitch':
      case 'rescale': {
        // Linear, slot by slot: a fold stays one.
        const fold = folds.get(op.a);
        if (fold) folds.set(i, fold);
        out[i] = out[op.a]!;
        break;
      }
      case 'rotate':
      case 'mulScalar':
      case 'addScalar':
      case 'output':
        out[i] = out[op.a]!;
        break;
    }
  });
  return out;
}

/** x + rotate(x, k) as a fold (the shifts of x's own fold, or {0}, and those shifted by k), else null. */
function foldOf(c: Circuit, x: number, rotated: number, periods: readonly number[], folds: ReadonlyMap<number, { p: number; shifts: Uint32Array }>): { p: number; shifts: Uint32Array } | null {
  const r = c.ops[rotated]!;
  if (r.op !== 'rotate' || r.a !== x) return null;
  const base = folds.get(x) ?? { p: periods[x]!, shifts: Uint32Array.from({ length: periods[x]! }, (_, s) => (s === 0 ? 1 : 0)) };
  const { p } = base;
  const k = ((r.k % p) + p) % p;
  const shifts = base.shifts.slice();
  base.shifts.forEach((n, s) => (shifts[(s + k) % p]! += n));
  return { p, shifts };
}

/** The smallest power of two t dividing p with S + t = S (mod p). */
function periodOf({ p, shifts }: { p: number; shifts: Uint32Array }): number {
  for (let t = 1; t < p; t *= 2) if (shifts.every((n, s) => n === shifts[(s + t) % p])) return t;
  return p;
}

/** Why the padding slots of `to`'s inputs reach a slot its outputs are read at (null: they do not). */
function paddingReaches(to: Circuit): string | null {
  const n = to.slots;
  const taint: Uint8Array[] = [];
  const periods = valuePeriods(to);
  for (let i = 0; i < to.ops.length; i++) {
    const op = to.ops[i]!;
    switch (op.op) {
      case 'input': {
        const spec = to.inputs[op.input]!;
        const t = new Uint8Array(n);
        if (spec.kind === 'replicated') for (let s = 0; s < n; s++) t[s] = s % spec.period >= spec.size ? 1 : 0;
        taint[i] = t;
        break;
      }
      case 'add':
      case 'sub':
      case 'mul':
        taint[i] = taint[op.a]!.map((v, s) => v | taint[op.b]![s]!);
        break;
      case 'mulPlain': {
        const constant = expandConstant(to.constants[op.c]!, n, 1);
        taint[i] = taint[op.a]!.map((v, s) => (constant[s] === 0 ? 0 : v));
        break;
      }
      case 'mulScalar':
        taint[i] = op.value === 0 ? new Uint8Array(n) : taint[op.a]!;
        break;
      case 'rotate': {
        const a = taint[op.a]!;
        const k = ((op.k % n) + n) % n;
        taint[i] = a.map((_, s) => a[(s + k) % n]!);
        break;
      }
      case 'addPlain':
      case 'addScalar':
      case 'neg':
      case 'relin':
      case 'modswitch':
      case 'rescale':
        taint[i] = taint[op.a]!;
        break;
      case 'output': {
        const spec = to.outputs[op.output]!;
        const t = taint[op.a]!;
        // Read at its slots in every period (a carried result's later copies are read too).
        const period = periods[op.a]!;
        const read = spec.kind === 'slots' ? spec.slots : [...Array(n).keys()];
        for (const s of read) for (let at = s % period; at < n; at += period) if (t[at]) return `the next segment's output ${op.output} depends on the padding slots of its input (slot ${at})`;
        taint[i] = t;
        break;
      }
    }
  }
  return null;
}
