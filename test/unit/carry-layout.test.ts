import { describe, expect, test } from 'vitest';
import { CircuitBuilder } from '../../compiler/circuit/builder';
import { carryRefusal } from '../../compiler/circuit/carry-layout';
import type { Circuit, ValueId } from '../../compiler/circuit/ir';
import { simulateCircuit } from '../../runtime/backends/simulate';
import { packSamples } from '../../compiler/circuit/packing';

/**
 * When a coefficient-masked refresh may carry a segment's result slot for slot to the next
 * segment (the client cannot repack): on small hand-built circuits whose answer is known, and each
 * acceptance checked by running the next segment on the carried slots (padding full of garbage)
 * and on the client's repacking, which must agree where the outputs are read.
 */
const SLOTS = 16;

/** A vector-layout segment reading an n-vector replicated with `period`, body `f`, writing `outSlots` in order. */
function vector(n: number, period: number, f: (b: CircuitBuilder, x: ValueId) => ValueId, outSlots: number[]): Circuit {
  const b = new CircuitBuilder(SLOTS);
  const x = b.input({ kind: 'replicated', size: n, period });
  b.output(f(b, x), { kind: 'slots', slots: outSlots, elements: outSlots.map((_, e) => e) });
  return b.finish('vector', n, outSlots.length, period);
}

const first3 = [0, 1, 2];
/** Ends with garbage (7) in each period's padding slot 3, as an activation leaves p(0) there. */
const producer = vector(3, 4, (b, x) => b.addPlain(b.rescale(b.mulPlain(x, Float64Array.of(2, 2, 2, 0))), Float64Array.of(0, 0, 0, 7)), first3);

/** The next segment on `slots` (one ciphertext), read at its output slots. */
function run(c: Circuit, slots: Float64Array): number[] {
  const out = simulateCircuit(c, [slots])[0]!;
  const spec = c.outputs[0]!;
  return spec.kind === 'slots' ? spec.slots.map((s) => out[s]!) : Array.from(out);
}

describe('carryRefusal', () => {
  test("a next segment whose first product has zero columns at the padding ignores the producer's garbage: carried", () => {
    // y_i = Σ_j W_ij x_j by diagonals over period 4 (the last column of W zero, as padding is).
    const consumer = vector(3, 4, (b, x) => b.rescale(b.add(b.mulPlain(x, Float64Array.of(1, 2, 3, 0)), b.mulPlain(b.rotate(x, 1), Float64Array.of(1, 1, 0, 0)))), first3);
    expect(carryRefusal(producer, consumer)).toBeNull();
    const sample = Float64Array.of(0.5, -1, 2);
    const carried = simulateCircuit(producer, packSamples(producer, [sample])[0]!.inputs)[0]!;
    expect(carried[3]).toBe(7); // the garbage is there
    const repacked = packSamples(consumer, [sample.map((v) => 2 * v)])[0]!.inputs[0]!;
    expect(run(consumer, carried)).toEqual(run(consumer, repacked));
  });

  test('a next segment that rotates padding into a slot it outputs is refused, naming the padding', () => {
    // Slot 2 of x + rotate(x, 1) reads slot 3: the padding.
    const consumer = vector(3, 4, (b, x) => b.add(x, b.rotate(x, 1)), first3);
    expect(carryRefusal(producer, consumer)).toMatch(/depends on the padding slots of its input \(slot 2\)/);
    // The refusal is right: carried and repacked runs differ there.
    const sample = Float64Array.of(0.5, -1, 2);
    const carried = simulateCircuit(producer, packSamples(producer, [sample])[0]!.inputs)[0]!;
    const repacked = packSamples(consumer, [sample.map((v) => 2 * v)])[0]!.inputs[0]!;
    expect(run(consumer, carried)[2]).not.toBe(run(consumer, repacked)[2]);
  });

  test('a result that repeats every 8 slots does not carry to a segment reading period 4', () => {
    const wide = vector(3, 4, (b, x) => b.rescale(b.mulPlain(x, Float64Array.of(1, 1, 1, 0, 2, 2, 2, 0))), first3);
    const consumer = vector(3, 4, (b, x) => b.rescale(b.mulPlain(x, Float64Array.of(1, 1, 1, 0))), first3);
    expect(carryRefusal(wide, consumer)).toMatch(/repeats every 8 slots, the next segment reads period 4/);
  });

  test('folds x + rotate(x, k) shorten the period whatever their order: period 8 folded by 2 then 4 repeats every 2', () => {
    const folded = vector(8, 8, (b, x) => {
      const y = b.add(x, b.rotate(x, 2));
      return b.add(y, b.rotate(y, 4));
    }, [0, 1]);
    const reads2 = vector(2, 2, (b, x) => b.rescale(b.mulScalar(x, 3)), [0, 1]);
    expect(carryRefusal(folded, reads2)).toBeNull();
    // Independent check: the folded result really repeats every 2 slots.
    const out = simulateCircuit(folded, [Float64Array.from({ length: SLOTS }, (_, i) => (i % 8) + 1)])[0]!;
    for (let i = 0; i + 2 < SLOTS; i++) expect(out[i + 2]).toBeCloseTo(out[i]!, 12);
    // One fold by 2 alone leaves period 8.
    const once = vector(8, 8, (b, x) => b.add(x, b.rotate(x, 2)), [0, 1]);
    expect(carryRefusal(once, reads2)).toMatch(/repeats every 8 slots/);
  });

  test('batch layout: carried when ciphertext k holds the feature the next segment reads as k, refused when swapped', () => {
    const batch = (outs: number[]) => {
      const b = new CircuitBuilder(SLOTS);
      const xs = [0, 1].map((i) => b.input({ kind: 'feature', feature: i }));
      outs.forEach((e, k) => b.output(b.rescale(b.mulScalar(xs[k]!, 1)), { kind: 'feature', element: e }));
      return b.finish('batch', 2, 2, 1);
    };
    expect(carryRefusal(batch([0, 1]), batch([0, 1]))).toBeNull();
    expect(carryRefusal(batch([1, 0]), batch([0, 1]))).toMatch(/ciphertext 0 holds another element/);
  });
});
