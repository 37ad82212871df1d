/**
 * The circuit IR: an SSA list of CKKS vector operations over slot vectors of length N/2.
 *
 * Value ids are op indices: op i defines value i (an `output` op defines nothing a later op may
 * read, but keeps the index scheme uniform). Every op records the level, exact scale and
 * ciphertext size of what it produces, so evaluators (simulation, SEAL) and the checker can
 * verify each step against what the compiler planned.
 *
 * Everything here is plain JSON except the constant table (Float64Arrays), so a compiled model can
 * store the ops in manifest.json and the constants in constants.bin.
 */
import { opInfo } from './op-table';

/** Chain index: how many primes a value can still drop by rescaling (0 = only q0 left). */
export type Level = number;
/** Exact CKKS scale as SEAL tracks it (a double); 0 means "not assigned yet" (see assignScales). */
export type Scale = number;
/** Index of the op that defines the value. */
export type ValueId = number;
/** Index into `Circuit.constants`. */
export type ConstId = number;

export type Layout = 'vector' | 'batch';

interface OpMeta {
  /** Level of the value this op produces. */
  readonly level: Level;
  /** Exact scale of the value this op produces. */
  readonly scale: Scale;
  /** Ciphertext polynomial count: 3 after ct×ct until relinearised, else 2. */
  readonly size: 2 | 3;
}

export type Op = OpMeta &
  (
    | { readonly op: 'input'; /** index into Circuit.inputs */ readonly input: number }
    | { readonly op: 'add' | 'sub' | 'mul'; readonly a: ValueId; readonly b: ValueId }
    | { readonly op: 'neg' | 'relin' | 'modswitch'; readonly a: ValueId }
    | {
        readonly op: 'rescale';
        readonly a: ValueId;
        /**
         * The level whose canonical scale this rescale must land on. Usually `level` itself; lower
         * when the value is only read after modswitching down to `target`, so it already carries
         * the scale values at `target` have.
         */
        readonly target: Level;
      }
    | { readonly op: 'rotate'; readonly a: ValueId; /** left rotation: slot i+k moves to slot i */ readonly k: number }
    | {
        readonly op: 'mulPlain' | 'addPlain';
        readonly a: ValueId;
        readonly c: ConstId;
        /** Scale the constant is encoded at; its level is the operand's (= `level`). */
        readonly encodeScale: Scale;
      }
    | {
        readonly op: 'mulScalar' | 'addScalar';
        readonly a: ValueId;
        readonly value: number;
        readonly encodeScale: Scale;
      }
    | { readonly op: 'output'; readonly a: ValueId; /** index into Circuit.outputs */ readonly output: number }
  );

export type OpKind = Op['op'];

/** How the client packs samples into one input ciphertext. */
export type InputSpec =
  /** vector layout: the sample (length `size`, zero-padded to `period`) repeated across all slots. */
  | { readonly kind: 'replicated'; readonly size: number; readonly period: number }
  /** batch layout: slot s holds feature `feature` of sample s. */
  | { readonly kind: 'feature'; readonly feature: number };

/** How to read results back from one output ciphertext. */
export type OutputSpec =
  /** vector layout: output element `elements[k]` of the sample sits in slot `slots[k]`. */
  | { readonly kind: 'slots'; readonly slots: readonly number[]; readonly elements: readonly number[] }
  /** batch layout: slot s holds output element `element` of sample s. */
  | { readonly kind: 'feature'; readonly element: number };

export interface Circuit {
  readonly layout: Layout;
  /** N/2. Every constant's length divides it; rotations are cyclic over it. */
  readonly slots: number;
  /** Smallest slot count this circuit is valid for (the largest replication period it uses). */
  readonly minSlots: number;
  /**
   * vector layout: k samples share each ciphertext, interleaved (sample j in slots s·k + j; see
   * interleave.ts). The ops are a circuit over slots/k virtual slots with rotations scaled by k,
   * and a constant of length p fills slot i with constant[⌊i/k⌋ mod p]. Always 1 in batch layout,
   * which already packs one sample per slot.
   */
  readonly samplesPerCiphertext: number;
  /** Length of the body's input vector and output vector per sample. */
  readonly inputSize: number;
  readonly outputSize: number;
  readonly inputs: readonly InputSpec[];
  readonly outputs: readonly OutputSpec[];
  readonly ops: readonly Op[];
  /**
   * Deduplicated plaintext slot vectors. A constant of length p < slots is periodic: slot i holds
   * constant[⌊i/k⌋ mod p] for k = samplesPerCiphertext (p·k is a power of two dividing `slots`),
   * which keeps constants.bin small.
   */
  readonly constants: readonly Float64Array[];
  /** Left-rotation steps used, sorted ascending, unique, in [1, slots). */
  readonly rotationSteps: readonly number[];
  /** Rescales on the deepest path: the number of droppable primes the parameters must provide. */
  readonly depth: number;
  /** Level of the fresh input ciphertexts (≥ depth; more when the chain has spare primes). */
  readonly topLevel: Level;
  /**
   * Droppable primes (as doubles) once scales are assigned: primes[i] is dropped by a rescale from
   * level topLevel − i, i.e. [q_top, …, q_1]. Null before `assignScales`.
   */
  readonly primes: readonly number[] | null;
}

/** The operand ids an op reads, in order (declared per kind in op-table.ts). */
export function operandsOf(op: Op): ValueId[] {
  const fields = op as unknown as Readonly<Record<'a' | 'b', ValueId>>;
  return opInfo(op).operands.map((k) => fields[k]);
}

/**
 * For each value, the index of the last op that reads it (-1: never read), so an evaluator can
 * free a value once that op has run.
 */
export function lastUses(ops: readonly Op[]): Int32Array {
  const last = new Int32Array(ops.length).fill(-1);
  ops.forEach((op, i) => {
    for (const v of operandsOf(op)) last[v] = i;
  });
  return last;
}

/** For each circuit input k, the index of the `input` op that defines it. */
export function inputOps(circuit: Pick<Circuit, 'ops'>): number[] {
  const out: number[] = [];
  circuit.ops.forEach((op, i) => {
    if (op.op === 'input') out[op.input] = i;
  });
  return out;
}

/** Prime dropped by a rescale that starts at `level`. */
export function primeAt(primes: readonly number[], topLevel: Level, level: Level): number {
  const q = primes[topLevel - level];
  if (q === undefined || level < 1) throw new RangeError(`no droppable prime at level ${level}`);
  return q;
}
