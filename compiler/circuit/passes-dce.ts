/**
 * Dead-code elimination on the circuit IR.
 *
 * Before → after (outputs: %3):
 *   %0 = input 0   %1 = rotate %0 by 4   %2 = mulPlain %0, c1   %3 = output %2      constants c0, c1
 *   %0 = input 0   %1 = mulPlain %0, c0   %2 = output %1                           constants c0 (the old c1)
 */
import { operandsOf, type Op, type ValueId } from './ir';
import { unhandledOp } from './op-table';

/**
 * Dead-code elimination: keep the ops the outputs depend on (and every input, so the input list
 * the client packs never changes), renumber values densely, and keep only the constants still
 * referenced (renumbered in first-use order, which keeps the result deterministic).
 */
export function eliminateDeadCode(
  ops: readonly Op[],
  constants: readonly Float64Array[],
): { ops: Op[]; constants: Float64Array[] } {
  const live = new Uint8Array(ops.length);
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i]!;
    if (op.op === 'output' || op.op === 'input') live[i] = 1;
    if (!live[i]) continue;
    for (const a of operandsOf(op)) live[a] = 1;
  }
  const newId = new Map<ValueId, ValueId>();
  const constId = new Map<number, number>();
  const keptConstants: Float64Array[] = [];
  const out: Op[] = [];
  const remap = (id: ValueId): ValueId => {
    const n = newId.get(id);
    if (n === undefined) throw new Error(`op refers to dead or later value ${id}`);
    return n;
  };
  for (let i = 0; i < ops.length; i++) {
    if (!live[i]) continue;
    const op = ops[i]!;
    let next: Op;
    switch (op.op) {
      case 'input':
        next = op;
        break;
      case 'add':
      case 'sub':
      case 'mul':
        next = { ...op, a: remap(op.a), b: remap(op.b) };
        break;
      case 'mulPlain':
      case 'addPlain': {
        let c = constId.get(op.c);
        if (c === undefined) {
          c = keptConstants.length;
          keptConstants.push(constants[op.c]!);
          constId.set(op.c, c);
        }
        next = { ...op, a: remap(op.a), c };
        break;
      }
      case 'neg':
      case 'relin':
      case 'modswitch':
      case 'rescale':
      case 'rotate':
      case 'mulScalar':
      case 'addScalar':
      case 'output':
        next = { ...op, a: remap(op.a) };
        break;
      default:
        return unhandledOp(op);
    }
    newId.set(i, out.length);
    out.push(next);
  }
  return { ops: out, constants: keptConstants };
}
