import { fail } from '../errors';
import type { Circuit } from './ir';

/**
 * Client-side packing per layout: samples → the slot vectors of each input ciphertext, and the
 * decrypted output slot vectors → per-sample results. The simulator and the SEAL backend share
 * these, so both read and write slots the same way.
 */

/** One circuit evaluation: a slot vector per circuit input, and how many samples it carries. */
export interface PackedGroup {
  readonly inputs: Float64Array[];
  readonly samples: number;
}

/** Samples per circuit evaluation: k (samples per ciphertext, interleaved) for vector, up to N/2 for batch. */
export function samplesPerEvaluation(circuit: Pick<Circuit, 'layout' | 'slots' | 'samplesPerCiphertext'>): number {
  return circuit.layout === 'vector' ? circuit.samplesPerCiphertext : circuit.slots;
}

export function packSamples(circuit: Circuit, samples: readonly Float64Array[]): PackedGroup[] {
  samples.forEach((s, row) => {
    if (s.length !== circuit.inputSize) fail('BAD_DATA', `row ${row} has ${s.length} values, the model reads ${circuit.inputSize}`);
  });
  const per = samplesPerEvaluation(circuit);
  const groups: PackedGroup[] = [];
  for (let start = 0; start < samples.length; start += per) {
    const chunk = samples.slice(start, start + per);
    groups.push({ inputs: circuit.inputs.map((spec) => packInput(circuit.slots, circuit.samplesPerCiphertext, spec, chunk)), samples: chunk.length });
  }
  return groups;
}

function packInput(slots: number, k: number, spec: Circuit['inputs'][number], chunk: readonly Float64Array[]): Float64Array {
  const v = new Float64Array(slots);
  if (spec.kind === 'replicated') {
    // Sample j of k fills slots s·k + j: its own virtual vector of slots/k slots, replicated.
    chunk.forEach((sample, j) => {
      for (let s = 0; s * k < slots; s++) {
        const e = s % spec.period;
        if (e < spec.size) v[s * k + j] = sample[e]!;
      }
    });
  } else {
    chunk.forEach((sample, s) => {
      v[s] = sample[spec.feature]!;
    });
  }
  return v;
}

/**
 * Where the circuit leaves each sample's outputs: `at(o, slot, sample, element)` for every output
 * element of each of `samples` samples, `slot` indexing output ciphertext o's slot vector. The
 * one place that reads the output layout, for unpacking and packing alike.
 */
function forEachOutputSlot(circuit: Circuit, samples: number, at: (o: number, slot: number, sample: number, element: number) => void): void {
  const k = circuit.samplesPerCiphertext;
  circuit.outputs.forEach((spec, o) => {
    if (spec.kind === 'slots') {
      for (let j = 0; j < samples; j++) spec.slots.forEach((slot, e) => at(o, slot * k + j, j, spec.elements[e]!));
    } else {
      for (let s = 0; s < samples; s++) at(o, s, s, spec.element);
    }
  });
}

/** Per-sample output vectors from one evaluation's decrypted output slot vectors. */
export function unpackOutputs(circuit: Circuit, outputs: readonly Float64Array[], samples: number): Float64Array[] {
  if (outputs.length !== circuit.outputs.length) fail('BAD_ARTIFACT', `expected ${circuit.outputs.length} output ciphertexts, got ${outputs.length}`);
  const rows = Array.from({ length: samples }, () => new Float64Array(circuit.outputSize));
  forEachOutputSlot(circuit, samples, (o, slot, s, element) => {
    rows[s]![element] = outputs[o]![slot]!;
  });
  return rows;
}

/**
 * The inverse of `unpackOutputs`: writes each sample's output elements into the output slot
 * vectors `into` (one per output ciphertext) where the circuit leaves them; other slots keep
 * what they hold. Used to lay a per-element mask over a segment's result.
 */
export function packOutputs(circuit: Circuit, rows: readonly Float64Array[], into: readonly Float64Array[]): void {
  if (into.length !== circuit.outputs.length) fail('BAD_ARTIFACT', `expected ${circuit.outputs.length} output slot vectors, got ${into.length}`);
  forEachOutputSlot(circuit, rows.length, (o, slot, s, element) => {
    into[o]![slot] = rows[s]![element]!;
  });
}

/**
 * A constant's full slot vector. Constants are stored at their period p over the virtual slots
 * of one sample; with k samples interleaved per ciphertext each value fills k adjacent slots, so
 * slot i holds values[⌊i/k⌋ mod p].
 */
export function expandConstant(values: Float64Array, slots: number, samplesPerCiphertext: number): Float64Array {
  const k = samplesPerCiphertext;
  const p = values.length;
  if (p === 0 || slots % (p * k) !== 0) fail('BAD_ARTIFACT', `a constant of length ${p} does not tile ${slots} slots at ${k} samples per ciphertext`);
  if (p === slots) return values;
  const v = new Float64Array(slots);
  if (k === 1) {
    for (let i = 0; i < slots; i += p) v.set(values, i);
    return v;
  }
  for (let i = 0; i < slots; i++) v[i] = values[Math.floor(i / k) % p]!;
  return v;
}
