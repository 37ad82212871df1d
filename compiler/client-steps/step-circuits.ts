/**
 * The circuits a client step runs, built like any circuit: ops from CircuitBuilder, scales from
 * `assignScalesKeeping` (every rescale lands back on the input's scale, so what comes out has the
 * format the next party expects), checked by `checkCircuit`. Per ciphertext k:
 *   add      x + v_k                       a refresh mask (v = r) or its removal (v = −r); no op when v = 0
 *   affine   rescale(x·a_k) + c_k          a max pool's mask, a LayerNorm's γ and β: one level (no add when c = 0)
 *   unaffine rescale((x + c_k)·a_k)        its removal on the client's fresh ciphertext: one level
 * One circuit takes every ciphertext of an evaluation that sits at the same level and scale (a
 * circuit reads all its inputs at its top level): one load and one key set per evaluation rather
 * than per ciphertext, and a vector shared by several ciphertexts (a max pool's a and c on the
 * ciphertexts of one window in batch layout) is one constant, encoded once.
 * `base` is a circuit of the model whose primes reach `at.level` (its top at least that high).
 */
import { CircuitBuilder } from '../circuit/builder';
import type { Circuit, Level, Scale } from '../circuit/ir';
import { assignScalesKeeping } from '../circuit/passes-scales';
import { fail } from '../errors';

/** Level and scale of one ciphertext. */
export interface CiphertextAt {
  readonly level: Level;
  readonly scale: Scale;
}

/** One circuit of a step: it reads ciphertexts `ciphertexts` (indices into the step's list) as its inputs, in order, and writes each one's result as the output of the same index. */
export interface StepCircuit {
  readonly circuit: Circuit;
  readonly ciphertexts: readonly number[];
}

export function addCircuits(base: Circuit, ats: readonly CiphertextAt[], values: readonly Float64Array[]): StepCircuit[] {
  return grouped(base, ats, (b, x, k) => plus(base, b, x, values[k]!));
}

export function affineCircuits(base: Circuit, ats: readonly CiphertextAt[], scales: readonly Float64Array[], offsets: readonly Float64Array[]): StepCircuit[] {
  for (const at of ats) if (at.level < 2) fail('BAD_ARTIFACT', `a scaled mask needs a level to spend and one to spare; the result sits at level ${at.level}`);
  return grouped(base, ats, (b, x, k) => plus(base, b, b.rescale(b.mulPlain(x, slotVector(base, scales[k]!))), offsets[k]!));
}

export function unaffineCircuits(base: Circuit, ats: readonly CiphertextAt[], offsets: readonly Float64Array[], scales: readonly Float64Array[]): StepCircuit[] {
  return grouped(base, ats, (b, x, k) => b.rescale(b.mulPlain(b.addPlain(x, slotVector(base, offsets[k]!)), slotVector(base, scales[k]!))));
}

/** The one-ciphertext forms (noise flooding, a masked result's format). */
export function addCircuit(base: Circuit, at: CiphertextAt, values: Float64Array): Circuit {
  return addCircuits(base, [at], [values])[0]!.circuit;
}

export function affineCircuit(base: Circuit, at: CiphertextAt, scales: Float64Array, offsets: Float64Array): Circuit {
  return affineCircuits(base, [at], [scales], [offsets])[0]!.circuit;
}

export function unaffineCircuit(base: Circuit, at: CiphertextAt, offsets: Float64Array, scales: Float64Array): Circuit {
  return unaffineCircuits(base, [at], [offsets], [scales])[0]!.circuit;
}

/** Where a circuit's first output lands (a step circuit's outputs all land alike). */
export function outputOf(c: Circuit): CiphertextAt {
  return outputsOf(c)[0] ?? fail('BAD_ARTIFACT', 'the circuit writes no output');
}

/** Where each of a circuit's outputs lands, in output order. */
export function outputsOf(c: Circuit): CiphertextAt[] {
  const out: CiphertextAt[] = [];
  for (const op of c.ops) if (op.op === 'output') out[op.output] = { level: op.level, scale: op.scale };
  return out;
}

/** One circuit per run of ciphertexts at the same level and scale, ciphertext k going through `body`. */
function grouped(base: Circuit, ats: readonly CiphertextAt[], body: (b: CircuitBuilder, x: number, k: number) => number): StepCircuit[] {
  const primes = base.primes;
  if (!primes) fail('BAD_ARTIFACT', 'the circuit has no scales assigned (primes missing)');
  const groups = new Map<string, number[]>();
  ats.forEach((at, k) => {
    if (at.level > base.topLevel) fail('BAD_ARTIFACT', `a client step at level ${at.level}, above the model's top level ${base.topLevel}`);
    const key = `${at.level}/${at.scale}`;
    groups.set(key, [...(groups.get(key) ?? []), k]);
  });
  return [...groups.values()].map((ciphertexts) => {
    const b = new CircuitBuilder(base.slots);
    const xs = ciphertexts.map((_, j) => b.input({ kind: 'feature', feature: j }));
    ciphertexts.forEach((k, j) => b.output(body(b, xs[j]!, k), { kind: 'feature', element: j }));
    const built = b.finish('batch', ciphertexts.length, ciphertexts.length, 1);
    const at = ats[ciphertexts[0]!]!;
    return { circuit: assignScalesKeeping(built, primes.slice(base.topLevel - at.level), at.scale), ciphertexts };
  });
}

/**
 * x + values, or x itself when every value is 0: SEAL refuses a plaintext of zeros (a softmax step
 * removes nothing from the rows it normalizes; a LayerNorm step's β = 0 on a ciphertext of tokens only).
 */
function plus(base: Circuit, b: CircuitBuilder, x: number, values: Float64Array): number {
  return slotVector(base, values).every((v) => v === 0) ? x : b.addPlain(x, values);
}

function slotVector(base: Circuit, values: Float64Array): Float64Array {
  if (values.length !== base.slots) fail('BAD_ARGUMENT', `a mask has ${values.length} values, the circuit ${base.slots} slots`);
  return values;
}
