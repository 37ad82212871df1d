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

/** Samples per circuit evaluation: 1 for vector, up to N/2 for batch. */
export function samplesPerEvaluation(circuit: Circuit): number {
  return circuit.layout === 'vector' ? 1 : circuit.slots;
}

export function packSamples(circuit: Circuit, samples: readonly Float64Array[]): PackedGroup[] {
  samples.forEach((s, row) => {
    if (s.length !== circuit.inputSize) fail('BAD_DATA', `row ${row} has ${s.length} values, the model reads ${circuit.inputSize}`);
  });
  const per = samplesPerEvaluation(circuit);
  const groups: PackedGroup[] = [];
  for (let start = 0; start < samples.length; start += per) {
    const chunk = samples.slice(start, start + per);
    groups.push({ inputs: circuit.inputs.map((spec) => packInput(circuit.slots, spec, chunk)), samples: chunk.length });
  }
  return groups;
}

function packInput(slots: number, spec: Circuit['inputs'][number], chunk: readonly Float64Array[]): Float64Array {
  const v = new Float64Array(slots);
  if (spec.kind === 'replicated') {
    const sample = chunk[0]!;
    for (let i = 0; i < slots; i++) {
      const k = i % spec.period;
      if (k < spec.size) v[i] = sample[k]!;
    }
  } else {
    chunk.forEach((sample, s) => {
      v[s] = sample[spec.feature]!;
    });
  }
  return v;
}

/** Per-sample output vectors from one evaluation's decrypted output slot vectors. */
export function unpackOutputs(circuit: Circuit, outputs: readonly Float64Array[], samples: number): Float64Array[] {
  if (outputs.length !== circuit.outputs.length) fail('BAD_ARTIFACT', `expected ${circuit.outputs.length} output ciphertexts, got ${outputs.length}`);
  const rows = Array.from({ length: samples }, () => new Float64Array(circuit.outputSize));
  circuit.outputs.forEach((spec, k) => {
    const slotsOf = outputs[k]!;
    if (spec.kind === 'slots') {
      spec.slots.forEach((slot, e) => {
        rows[0]![spec.elements[e]!] = slotsOf[slot]!;
      });
    } else {
      for (let s = 0; s < samples; s++) rows[s]![spec.element] = slotsOf[s]!;
    }
  });
  return rows;
}

/** A constant's full slot vector (constants are stored at their period). */
export function expandConstant(values: Float64Array, slots: number): Float64Array {
  if (values.length === slots) return values;
  const v = new Float64Array(slots);
  for (let i = 0; i < slots; i += values.length) v.set(values, i);
  return v;
}
