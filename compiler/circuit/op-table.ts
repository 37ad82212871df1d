import type { Op, OpKind } from './ir';

/**
 * What each circuit op kind is, declared once: the ciphertext values it reads, the plaintext it
 * encodes, what it costs in the latency estimate and which fields its JSON form carries. The
 * table is keyed by every `OpKind`, so a new kind in ir.ts that is not declared here fails
 * type-checking; the level/scale/size rule of each kind is `deriveMeta` in op-rules.ts, whose
 * switch returns a value for every kind (a missing case fails type-checking too).
 */

/** The op of one kind. */
export type OpOf<K extends OpKind> = Op & { readonly op: K };

/** Latency-estimate bucket of an op (see count.ts); input and output cost nothing on the server. */
export type CostKind = 'rotate' | 'relin' | 'mulCt' | 'mulPt' | 'rescale' | 'modswitch' | 'add';

export interface OpKindInfo<K extends OpKind> {
  /** Ciphertext operands, in order: none (input), `a`, or `a` and `b`. */
  readonly operands: readonly Extract<keyof OpOf<K>, 'a' | 'b'>[];
  /** The plaintext the op encodes at run time: a constant from the table, a scalar, or none. */
  readonly plaintext: 'constant' | 'scalar' | null;
  readonly cost: CostKind | null;
  /** Fields of the JSON form besides op, level, scale and size. */
  readonly fields: readonly (keyof OpOf<K> & string)[];
}

export const OP_TABLE: { readonly [K in OpKind]: OpKindInfo<K> } = {
  input: { operands: [], plaintext: null, cost: null, fields: ['input'] },
  add: { operands: ['a', 'b'], plaintext: null, cost: 'add', fields: ['a', 'b'] },
  sub: { operands: ['a', 'b'], plaintext: null, cost: 'add', fields: ['a', 'b'] },
  mul: { operands: ['a', 'b'], plaintext: null, cost: 'mulCt', fields: ['a', 'b'] },
  neg: { operands: ['a'], plaintext: null, cost: 'add', fields: ['a'] },
  relin: { operands: ['a'], plaintext: null, cost: 'relin', fields: ['a'] },
  modswitch: { operands: ['a'], plaintext: null, cost: 'modswitch', fields: ['a'] },
  rescale: { operands: ['a'], plaintext: null, cost: 'rescale', fields: ['a', 'target'] },
  rotate: { operands: ['a'], plaintext: null, cost: 'rotate', fields: ['a', 'k'] },
  mulPlain: { operands: ['a'], plaintext: 'constant', cost: 'mulPt', fields: ['a', 'c', 'encodeScale'] },
  addPlain: { operands: ['a'], plaintext: 'constant', cost: 'add', fields: ['a', 'c', 'encodeScale'] },
  mulScalar: { operands: ['a'], plaintext: 'scalar', cost: 'mulPt', fields: ['a', 'value', 'encodeScale'] },
  addScalar: { operands: ['a'], plaintext: 'scalar', cost: 'add', fields: ['a', 'value', 'encodeScale'] },
  output: { operands: ['a'], plaintext: null, cost: null, fields: ['a', 'output'] },
};

export const OP_KINDS = Object.keys(OP_TABLE) as OpKind[];

/** The table entry of `op`'s kind. */
export function opInfo<K extends OpKind>(op: OpOf<K>): OpKindInfo<K> {
  return OP_TABLE[op.op as K];
}

/** For a switch over op kinds that must handle every kind: the compiler rejects a call reached by a kind left out. */
export function unhandledOp(op: never): never {
  throw new Error(`unhandled circuit op ${JSON.stringify(op)}`);
}
