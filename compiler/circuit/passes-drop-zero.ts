/**
 * Plaintext terms that encode to zero, dropped from the circuit.
 *
 * Before → after (every |c1[i]|·P < 0.5 at its encode scale P):
 *   %1 = mulPlain %0, c0   %2 = mulPlain %0, c1   %3 = add %1, %2   %4 = rescale %3
 *   %1 = mulPlain %0, c0   %2 = rescale %1
 */
import { NEAR_ZERO_WEIGHT } from './builder';
import type { Circuit, Op, ValueId } from './ir';
import { unhandledOp } from './op-table';
import { eliminateDeadCode } from './passes-dce';

/**
 * Plaintext constants that round to zero at their encode scale (every |c|·P < 0.5). SEAL refuses
 * a multiply by an all-zero plaintext (the product would be transparent), and adding one changes
 * nothing. Dropping such a term errs by |c| < 0.5/P, no more than the rounding every encoded
 * constant already carries, so the promised precision, the levels and the depth stay as they were.
 */
export function zeroEncodedConstants(circuit: Circuit): Set<ValueId> {
  const zero = new Set<ValueId>();
  circuit.ops.forEach((op, i) => {
    if (op.op === 'mulScalar' || op.op === 'addScalar') {
      if (Math.abs(op.value) * op.encodeScale < 0.5) zero.add(i);
    } else if (op.op === 'mulPlain' || op.op === 'addPlain') {
      const values = circuit.constants[op.c]!;
      if (values.every((v) => Math.abs(v) * op.encodeScale < 0.5)) zero.add(i);
    }
  });
  return zero;
}

/** A dropped product: nothing, until some op needs it as a ciphertext (then a near-zero stand-in). */
interface Zero {
  readonly zero: true;
  /** The dropped multiply whose operand and encode scale a stand-in reuses. */
  readonly leaf: ValueId;
  /** Level the zero sits at (a modswitch may have moved it below its leaf). */
  readonly level: number;
}

type Mapped = ValueId | Zero;

type PlainProduct = Op & { readonly op: 'mulScalar' | 'mulPlain'; readonly a: ValueId; readonly encodeScale: number };

const isZero = (m: Mapped): m is Zero => typeof m !== 'number';

/**
 * `circuit` (its unscaled ops, levels absolute) without the constants `zero` names, judged on
 * `scaled` (the same ops with scales assigned). A dropped addition of a constant is its operand.
 * A dropped product vanishes from the sum it feeds (a − 0 = a, 0 − b = −b, rotations of zero are
 * zero); where a zero must still be a ciphertext — a sum whose every term dropped, whose rescale
 * has to carry the layer's bias — it becomes x·w for the dropped term's operand x, w the larger of
 * the builder's near-zero weight and 1/P, so that it encodes to a nonzero plaintext (see
 * CircuitBuilder.nearZero). Same level, same rescale target, so no scale or depth changes.
 */
export function dropZeroConstants(circuit: Circuit, scaled: Circuit, zero: ReadonlySet<ValueId>): Circuit {
  const src = circuit.ops;
  const out: Op[] = [];
  const map: Mapped[] = new Array(src.length);
  const push = (op: Op): ValueId => {
    out.push(op);
    return out.length - 1;
  };
  const materialize = (z: Zero): ValueId => {
    const leaf = src[z.leaf] as PlainProduct;
    const a = map[leaf.a] as ValueId;
    const encodeScale = (scaled.ops[z.leaf] as PlainProduct).encodeScale;
    const weight = Math.max(NEAR_ZERO_WEIGHT, 1 / encodeScale);
    let v = push({ op: 'mulScalar', a, value: weight, encodeScale: 0, level: leaf.level, scale: 0, size: leaf.size });
    for (let level = leaf.level - 1; level >= z.level; level--) v = push({ op: 'modswitch', a: v, level, scale: 0, size: leaf.size });
    return v;
  };
  const live = (m: Mapped): ValueId => (isZero(m) ? materialize(m) : m);

  src.forEach((op, i) => {
    if (zero.has(i)) {
      if (op.op === 'mulScalar' || op.op === 'mulPlain') map[i] = { zero: true, leaf: i, level: op.level };
      else if (op.op === 'addScalar' || op.op === 'addPlain') map[i] = map[op.a]!;
      else throw new Error(`op ${i} (${op.op}) has no constant to drop`);
      return;
    }
    switch (op.op) {
      case 'input':
        map[i] = push(op);
        return;
      case 'add':
      case 'sub': {
        const a = map[op.a]!;
        const b = map[op.b]!;
        if (isZero(a) && isZero(b)) map[i] = a;
        else if (isZero(b)) map[i] = a;
        else if (isZero(a)) map[i] = op.op === 'add' ? b : push({ op: 'neg', a: b, level: op.level, scale: 0, size: out[b]!.size });
        else map[i] = push({ ...op, a, b });
        return;
      }
      case 'neg':
      case 'rotate': {
        const a = map[op.a]!;
        map[i] = isZero(a) ? a : push({ ...op, a });
        return;
      }
      case 'modswitch': {
        const a = map[op.a]!;
        map[i] = isZero(a) ? { ...a, level: op.level } : push({ ...op, a });
        return;
      }
      case 'mul':
        map[i] = push({ ...op, a: live(map[op.a]!), b: live(map[op.b]!) });
        return;
      case 'relin':
      case 'rescale':
      case 'mulPlain':
      case 'addPlain':
      case 'mulScalar':
      case 'addScalar':
      case 'output':
        map[i] = push({ ...op, a: live(map[op.a]!) });
        return;
      default:
        unhandledOp(op);
    }
  });
  const dce = eliminateDeadCode(out, circuit.constants);
  return { ...circuit, ops: dce.ops, constants: dce.constants };
}

