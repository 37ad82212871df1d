/**
 * The circuits a client step runs on one ciphertext, built like any circuit: ops from
 * CircuitBuilder, scales from `assignScalesKeeping` (every rescale lands back on the input's
 * scale, so what comes out has the format the next party expects), checked by `checkCircuit`.
 *   add      x + v                       a refresh mask (v = r) or its removal (v = −r); no op when v = 0
 *   affine   rescale(x·a) + c            a max pool's mask: one level
 *   unaffine rescale((x + c)·a)          its removal on the client's fresh ciphertext: one level
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

export function addCircuit(base: Circuit, at: CiphertextAt, values: Float64Array): Circuit {
  // x + 0 is x: SEAL refuses a plaintext of zeros (a softmax step removes nothing from the rows it normalizes).
  return oneCiphertext(base, at, (b, x) => (slotVector(base, values).every((v) => v === 0) ? x : b.addPlain(x, values)));
}

export function affineCircuit(base: Circuit, at: CiphertextAt, scales: Float64Array, offsets: Float64Array): Circuit {
  if (at.level < 2) fail('BAD_ARTIFACT', `a scaled mask needs a level to spend and one to spare; the result sits at level ${at.level}`);
  return oneCiphertext(base, at, (b, x) => b.addPlain(b.rescale(b.mulPlain(x, slotVector(base, scales))), slotVector(base, offsets)));
}

export function unaffineCircuit(base: Circuit, at: CiphertextAt, offsets: Float64Array, scales: Float64Array): Circuit {
  return oneCiphertext(base, at, (b, x) => b.rescale(b.mulPlain(b.addPlain(x, slotVector(base, offsets)), slotVector(base, scales))));
}

/** Where a circuit's one output lands. */
export function outputOf(c: Circuit): CiphertextAt {
  const out = c.ops.find((op) => op.op === 'output');
  if (!out) fail('BAD_ARTIFACT', 'the circuit writes no output');
  return { level: out.level, scale: out.scale };
}

function oneCiphertext(base: Circuit, at: CiphertextAt, body: (b: CircuitBuilder, x: number) => number): Circuit {
  if (!base.primes) fail('BAD_ARTIFACT', 'the circuit has no scales assigned (primes missing)');
  if (at.level > base.topLevel) fail('BAD_ARTIFACT', `a client step at level ${at.level}, above the model's top level ${base.topLevel}`);
  const b = new CircuitBuilder(base.slots);
  const x = b.input({ kind: 'feature', feature: 0 });
  b.output(body(b, x), { kind: 'feature', element: 0 });
  const built = b.finish('batch', 1, 1, 1);
  return assignScalesKeeping(built, base.primes.slice(base.topLevel - at.level), at.scale);
}

function slotVector(base: Circuit, values: Float64Array): Float64Array {
  if (values.length !== base.slots) fail('BAD_ARGUMENT', `a mask has ${values.length} values, the circuit ${base.slots} slots`);
  return values;
}
