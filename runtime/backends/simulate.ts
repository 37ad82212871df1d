import { fail } from '../../compiler/errors';
import { lastUses, operandsOf, type Circuit } from '../../compiler/circuit/ir';
import { areClose, deriveMeta, type ValueMeta } from '../../compiler/circuit/op-rules';
import { expandConstant, packSamples, unpackOutputs } from '../../compiler/circuit/packing';
import { gaussian, mulberry32 } from './seeded-random';

/**
 * The simulation backend: runs a circuit on float64 slot vectors with CKKS slot semantics.
 * Rotations are cyclic over all N/2 slots (left: slot i+k moves to slot i, as SEAL's
 * rotate_vector), and at every op the level, size and scale SEAL would compute are checked against
 * the circuit — a layout or depth bug throws here before anything is encrypted. Scalar constants
 * are rounded to their encoding scale exactly as SEAL encodes them; other CKKS noise is off unless
 * a noise model is given.
 */

/**
 * Rough Gaussian stand-ins for CKKS noise, as standard deviations in units of the scale (a value at
 * scale Δ gets std/Δ added per slot). Defaults follow the usual canonical-embedding estimates for
 * ternary secrets and σ = 3.2; they are for spotting precision problems, not for security.
 */
export interface NoiseModel {
  readonly ringDegree: number;
  readonly seed?: number;
  /** Fresh public-key encryption. */
  readonly fresh?: number;
  /** Rounding in a rescale. */
  readonly rescale?: number;
  /** Key switching in relinearisation and rotation. */
  readonly keySwitch?: number;
  /** Rounding a plaintext vector to integer coefficients at its encoding scale. */
  readonly encode?: number;
}

export interface SimulateOptions {
  readonly noise?: NoiseModel;
}

/** Runs one evaluation: a slot vector per circuit input in, a slot vector per circuit output out. */
export function simulateCircuit(circuit: Circuit, inputs: readonly Float64Array[], options: SimulateOptions = {}): Float64Array[] {
  const slots = circuit.slots;
  if (inputs.length !== circuit.inputs.length) fail('BAD_ARGUMENT', `circuit reads ${circuit.inputs.length} inputs, got ${inputs.length}`);
  inputs.forEach((v, k) => {
    if (v.length !== slots) fail('BAD_ARGUMENT', `input ${k} has ${v.length} slots, the circuit uses ${slots}`);
  });
  if (options.noise && circuit.primes === null) fail('BAD_ARGUMENT', 'the noise model needs a circuit with assigned scales');
  const noise = options.noise ? noiseSource(options.noise) : null;
  // Values and expanded constants are dropped after their last use: a deep batch-layout circuit
  // holds thousands of N/2-slot vectors over its run, few of them at once.
  const lastUse = lastUses(circuit.ops);
  const constantLastUse = new Int32Array(circuit.constants.length).fill(-1);
  circuit.ops.forEach((op, i) => {
    if (op.op === 'mulPlain' || op.op === 'addPlain') constantLastUse[op.c] = i;
  });
  const expanded: (Float64Array | undefined)[] = new Array(circuit.constants.length);
  const constant = (c: number): Float64Array => (expanded[c] ??= expandConstant(circuit.constants[c]!, slots, circuit.samplesPerCiphertext));
  const ctx = { topLevel: circuit.topLevel, primes: circuit.primes };
  const metas: ValueMeta[] = [];
  const values: (Float64Array | undefined)[] = [];
  const outputs: Float64Array[] = new Array(circuit.outputs.length);
  const scaled = circuit.primes !== null;

  circuit.ops.forEach((op, i) => {
    const meta = deriveMeta(i, op, (id) => metas[id]!, ctx);
    if (meta.level !== op.level || meta.size !== op.size || (scaled && !areClose(meta.scale, op.scale))) {
      fail(
        'BAD_ARTIFACT',
        `circuit op ${i} (${op.op}): SEAL would give level ${meta.level}, size ${meta.size}, scale 2^${Math.log2(meta.scale)}; ` +
          `the circuit says level ${op.level}, size ${op.size}, scale 2^${Math.log2(op.scale)}`,
      );
    }
    metas.push(meta);
    const v = (id: number): Float64Array => values[id]!;
    let out: Float64Array;
    switch (op.op) {
      case 'input':
        out = Float64Array.from(inputs[op.input]!);
        noise?.add(out, noise.fresh + noise.encode, meta.scale);
        break;
      case 'add':
        out = zip(v(op.a), v(op.b), (x, y) => x + y);
        break;
      case 'sub':
        out = zip(v(op.a), v(op.b), (x, y) => x - y);
        break;
      case 'mul':
        out = zip(v(op.a), v(op.b), (x, y) => x * y);
        break;
      case 'neg':
        out = v(op.a).map((x) => -x);
        break;
      case 'relin':
        out = Float64Array.from(v(op.a));
        noise?.add(out, noise.keySwitch, meta.scale);
        break;
      case 'rescale':
        out = Float64Array.from(v(op.a));
        noise?.add(out, noise.rescale, meta.scale);
        break;
      case 'modswitch':
        out = v(op.a);
        break;
      case 'rotate': {
        const a = v(op.a);
        out = new Float64Array(slots);
        for (let s = 0; s < slots; s++) out[s] = a[(s + op.k) % slots]!;
        noise?.add(out, noise.keySwitch, meta.scale);
        break;
      }
      case 'mulPlain': {
        const c = constant(op.c);
        out = v(op.a).map((x, s) => x * c[s]!);
        if (noise) noise.add(out, noise.encode, op.encodeScale);
        break;
      }
      case 'addPlain': {
        const c = constant(op.c);
        out = v(op.a).map((x, s) => x + c[s]!);
        if (noise) noise.add(out, noise.encode, op.encodeScale);
        break;
      }
      case 'mulScalar': {
        const c = encodedScalar(op.value, op.encodeScale);
        out = v(op.a).map((x) => x * c);
        break;
      }
      case 'addScalar': {
        const c = encodedScalar(op.value, op.encodeScale);
        out = v(op.a).map((x) => x + c);
        break;
      }
      case 'output':
        out = v(op.a);
        outputs[op.output] = out;
        break;
    }
    values.push(out);
    for (const id of operandsOf(op)) if (lastUse[id] === i) values[id] = undefined;
    if ((op.op === 'mulPlain' || op.op === 'addPlain') && constantLastUse[op.c] === i) expanded[op.c] = undefined;
  });
  return outputs;
}

/** Runs samples through the circuit: packs them per layout, evaluates each group, unpacks rows. */
export function simulateSamples(circuit: Circuit, samples: readonly Float64Array[], options: SimulateOptions = {}): Float64Array[] {
  const rows: Float64Array[] = [];
  for (const group of packSamples(circuit, samples)) {
    rows.push(...unpackOutputs(circuit, simulateCircuit(circuit, group.inputs, options), group.samples));
  }
  return rows;
}

/** SEAL encodes a scalar as round(value·scale) in every coefficient residue. */
function encodedScalar(value: number, encodeScale: number): number {
  return encodeScale > 0 ? Math.round(value * encodeScale) / encodeScale : value;
}

function zip(a: Float64Array, b: Float64Array, f: (x: number, y: number) => number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f(a[i]!, b[i]!);
  return out;
}

interface NoiseSource {
  readonly fresh: number;
  readonly rescale: number;
  readonly keySwitch: number;
  readonly encode: number;
  add(v: Float64Array, std: number, scale: number): void;
}

function noiseSource(model: NoiseModel): NoiseSource {
  const n = model.ringDegree;
  const sigma = 3.2;
  // Coefficient-domain errors spread over the canonical embedding pick up a factor √N per slot;
  // terms multiplied by a ternary secret (≈ 2N/3 nonzero coefficients) pick up √(2N/3).
  const secretSpread = Math.sqrt(1 + (2 * n) / 3);
  const slotSpread = Math.sqrt(n);
  const rounding = Math.sqrt(1 / 12);
  const fresh = model.fresh ?? slotSpread * sigma * Math.sqrt(1 + 2 * ((2 * n) / 3));
  const rescale = model.rescale ?? slotSpread * rounding * secretSpread;
  const keySwitch = model.keySwitch ?? rescale;
  const encode = model.encode ?? slotSpread * rounding;
  const normal = gaussian(mulberry32(model.seed ?? 1));
  return {
    fresh,
    rescale,
    keySwitch,
    encode,
    add(v, std, scale) {
      const s = std / scale;
      for (let i = 0; i < v.length; i++) v[i] += s * normal();
    },
  };
}
