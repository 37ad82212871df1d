import { createHash, randomBytes } from 'node:crypto';
import type { Circuit } from '../../compiler/circuit/ir';
import { fail } from '../../compiler/errors';
import {
  checkCircuitFits,
  slotsOf,
  type BackendContext,
  type CiphertextExpectation,
  type ClientKeys,
  type ContextSpec,
  type EvaluationKeyBytes,
  type FheBackend,
  type KeyRequirements,
  type LoadedCircuit,
  type LoadedEvaluationKeys,
} from './backend';
import { simulateCircuit, type SimulateOptions } from './simulate';

/**
 * The simulation behind the backend interface: a "ciphertext" is the slot vector in the clear
 * with the level and scale SEAL would give it, and the server side runs `simulateCircuit`, which
 * checks every op's level, scale and size against the circuit. Client, server and MCP run
 * unchanged on it, without WebAssembly and fast, so their logic can be tested apart from SEAL.
 * It hides nothing: never for private data.
 *
 * Serialized ciphertext (little endian): "DPSM", level u32, scale f64, slot count u32, slots f64
 * each; then, on a ciphertext that carries a coefficient-domain mask, the polynomial's exact
 * integer part as u32 byte count and the N integers in decimal, comma-separated. The simulation's
 * coefficients are a linear stand-in for the canonical embedding: coefficient i < N/2 is
 * round(Δ·slot i), the others 0; the value is the slots plus that part over Δ (folded in when a
 * circuit reads the ciphertext, once the mask is off), so masks of 2^40·B·Δ stay exact integers.
 * Evaluation keys: each part starts with a random nonce (like real key generation, every call
 * makes a different bundle); the Galois part then lists the rotation steps as i32.
 */
export function simulationBackend(options: SimulateOptions = {}): FheBackend {
  return {
    name: 'simulation',
    concurrency: 1,
    wasmHeap: false,
    async createContext(spec) {
      checkSpec(spec);
      return simulationContext(spec, options);
    },
    // Plain JavaScript: nothing can corrupt an engine, so contexts never go stale.
    engineGeneration: () => 0,
    noteFailure: () => false,
    engineStale: () => false,
  };
}

const MAGIC = 'DPSM';
const HEADER_BYTES = 4 + 4 + 8 + 4;
const SECRET_KEY_BYTES = 32;
const NONCE_BYTES = 16;

function checkSpec(spec: ContextSpec): void {
  const n = spec.polyModulusDegree;
  if (!Number.isInteger(n) || n < 1024 || n > 32768 || (n & (n - 1)) !== 0) fail('PARAMS', `polyModulusDegree ${n} is not a power of two in [1024, 32768]`);
  if (spec.coeffModulusBits.length < 2) fail('PARAMS', `the coefficient modulus needs at least 2 primes (one data, one special), got ${spec.coeffModulusBits.length}`);
  if (spec.primes.length !== spec.coeffModulusBits.length) fail('PARAMS', `${spec.primes.length} primes given for ${spec.coeffModulusBits.length} coefficient-modulus bit sizes`);
}

function simulationContext(spec: ContextSpec, options: SimulateOptions): BackendContext {
  const slots = slotsOf(spec);
  return {
    spec,
    slots,
    clientKeys: (saved) => simulationClientKeys(spec, saved),
    // A simulation "key" is 32 bytes; a seed gives the same one everywhere.
    derivedClientKeys: (seed) => simulationClientKeys(spec, new Uint8Array(createHash('sha256').update('deeppowers/simulation-key/v1').update(seed).digest())),
    loadCircuit: (circuit) => simulationCircuit(spec, circuit, options),
    addCoefficients(bytes, want, coefficients) {
      const ct = readCiphertext(bytes, want, slots);
      if (coefficients.length !== 2 * slots) fail('BAD_ARGUMENT', `${coefficients.length} coefficients for a polynomial of degree ${2 * slots}`);
      const exact = ct.coefficients ?? new Array<bigint>(2 * slots).fill(0n);
      return writeCiphertext(ct.level, ct.scale, ct.values, exact.map((c, i) => c + coefficients[i]!));
    },
    dispose: () => {},
  };
}

function simulationClientKeys(spec: ContextSpec, saved: Uint8Array | undefined): ClientKeys {
  if (saved && saved.length !== SECRET_KEY_BYTES) {
    fail('BAD_CIPHERTEXT', `the secret key cannot be loaded for parameter set ${spec.parameterId}: ${saved.length} bytes, a simulation key has ${SECRET_KEY_BYTES}`);
  }
  const secretKey = saved ? Uint8Array.from(saved) : new Uint8Array(randomBytes(SECRET_KEY_BYTES));
  const slots = slotsOf(spec);
  return {
    exportSecretKey: () => Uint8Array.from(secretKey),
    evaluationKeys: (needs) => ({
      relin: needs.relin ? new Uint8Array(randomBytes(NONCE_BYTES)) : null,
      galois: needs.rotationSteps.length > 0 ? galoisKeyBytes(needs.rotationSteps) : null,
    }),
    encrypt(values, level, scale) {
      if (values.length > slots) fail('BAD_ARGUMENT', `${values.length} values do not fit ${slots} slots`);
      const padded = new Float64Array(slots);
      padded.set(values);
      return writeCiphertext(level, scale, padded);
    },
    decrypt: (bytes, want) => folded(readCiphertext(bytes, want, slots)),
    decryptCoefficients(bytes, want) {
      const ct = readCiphertext(bytes, want, slots);
      return Array.from({ length: 2 * slots }, (_, i) => (i < slots ? BigInt(Math.round(ct.values[i]! * ct.scale)) : 0n) + (ct.coefficients?.[i] ?? 0n));
    },
    encryptCoefficients(coefficients, level, scale) {
      if (coefficients.length !== 2 * slots) fail('BAD_ARGUMENT', `${coefficients.length} coefficients for a polynomial of degree ${2 * slots}`);
      return writeCiphertext(level, scale, new Float64Array(slots), coefficients);
    },
    dispose: () => {},
  };
}

function simulationCircuit(spec: ContextSpec, circuit: Circuit, options: SimulateOptions): LoadedCircuit {
  checkCircuitFits(spec, circuit);
  const input = circuit.ops.find((op) => op.op === 'input');
  if (!input) fail('BAD_ARTIFACT', 'the circuit has no inputs');
  const needs: KeyRequirements = { relin: circuit.ops.some((op) => op.op === 'relin'), rotationSteps: circuit.rotationSteps };
  const results: { level: number; scale: number }[] = [];
  for (const op of circuit.ops) if (op.op === 'output') results[op.output] = { level: op.level, scale: op.scale };
  const loaded = new WeakSet<LoadedEvaluationKeys>();
  return {
    needs,
    loadEvaluationKeys(bytes) {
      checkEvaluationKeys(bytes, needs);
      const handle: LoadedEvaluationKeys = { dispose: () => {} };
      loaded.add(handle);
      return handle;
    },
    async execute(inputs, keys, firstInputIndex = 0) {
      if (!loaded.has(keys)) fail('BAD_ARGUMENT', 'these evaluation keys were loaded for another circuit');
      if (inputs.length !== circuit.inputs.length) fail('BAD_CIPHERTEXT', `the model takes ${circuit.inputs.length} input ciphertexts, got ${inputs.length}`);
      const slots = inputs.map((bytes, i) => folded(readCiphertext(bytes, { level: circuit.topLevel, scale: input.scale, label: `input ciphertext ${firstInputIndex + i}` }, circuit.slots)));
      return simulateCircuit(circuit, slots, options).map((values, k) => writeCiphertext(results[k]!.level, results[k]!.scale, values));
    },
    dispose: () => {},
  };
}

function checkEvaluationKeys(bytes: EvaluationKeyBytes, needs: KeyRequirements): void {
  if (needs.relin && !bytes.relin) fail('BAD_CIPHERTEXT', 'the evaluation keys lack the relinearization key this model needs');
  const steps = [...new Set(needs.rotationSteps.filter((s) => s !== 0))].sort((a, b) => a - b);
  if (steps.length === 0) return;
  if (!bytes.galois) fail('BAD_CIPHERTEXT', `the evaluation keys lack the Galois keys for rotations [${steps.join(', ')}]`);
  const listed = bytes.galois.length - NONCE_BYTES;
  if (listed < 0 || listed % 4 !== 0) fail('BAD_CIPHERTEXT', 'the Galois keys cannot be loaded: not a list of simulated rotation steps');
  const view = new DataView(bytes.galois.buffer, bytes.galois.byteOffset + NONCE_BYTES, listed);
  const have = new Set(Array.from({ length: listed / 4 }, (_, i) => view.getInt32(4 * i, true)));
  const missing = steps.filter((s) => !have.has(s));
  if (missing.length > 0) fail('BAD_CIPHERTEXT', `the Galois keys lack rotation steps [${missing.join(', ')}] this model uses`);
}

function galoisKeyBytes(steps: readonly number[]): Uint8Array {
  const out = new Uint8Array(NONCE_BYTES + 4 * steps.length);
  out.set(randomBytes(NONCE_BYTES), 0);
  const view = new DataView(out.buffer);
  steps.forEach((s, i) => view.setInt32(NONCE_BYTES + 4 * i, s, true));
  return out;
}

function writeCiphertext(level: number, scale: number, values: Float64Array, coefficients?: readonly bigint[]): Uint8Array {
  const exact = coefficients ? new TextEncoder().encode(coefficients.join(',')) : new Uint8Array(0);
  const out = new Uint8Array(HEADER_BYTES + 8 * values.length + (coefficients ? 4 + exact.length : 0));
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(4, level, true);
  view.setFloat64(8, scale, true);
  view.setUint32(16, values.length, true);
  values.forEach((v, i) => view.setFloat64(HEADER_BYTES + 8 * i, v, true));
  if (coefficients) {
    const at = HEADER_BYTES + 8 * values.length;
    view.setUint32(at, exact.length, true);
    out.set(exact, at + 4);
  }
  return out;
}

const SCALE_TOLERANCE = 1e-9;

interface SimulatedCiphertext {
  readonly level: number;
  readonly scale: number;
  readonly values: Float64Array;
  /** The exact integer part a coefficient mask left (N coefficients), if any. */
  readonly coefficients?: bigint[];
}

/** The slot values of a simulated ciphertext, its integer part (the stand-in embedding's first N/2 coefficients) folded in. */
function folded(ct: SimulatedCiphertext): Float64Array {
  const { values, coefficients, scale } = ct;
  return coefficients ? values.map((v, i) => v + Number(coefficients[i]!) / scale) : values;
}

function readCiphertext(bytes: Uint8Array, want: CiphertextExpectation, slots: number): SimulatedCiphertext {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const slotBytes = HEADER_BYTES + 8 * slots;
  const ok = bytes.length >= slotBytes && new TextDecoder().decode(bytes.subarray(0, 4)) === MAGIC && view.getUint32(16, true) === slots;
  if (!ok) fail('BAD_CIPHERTEXT', `${want.label} is not a simulated ciphertext of ${slots} slots`);
  let coefficients: bigint[] | undefined;
  if (bytes.length > slotBytes) {
    const length = bytes.length >= slotBytes + 4 ? view.getUint32(slotBytes, true) : -1;
    const text = length >= 0 && bytes.length === slotBytes + 4 + length ? new TextDecoder().decode(bytes.subarray(slotBytes + 4)) : '';
    if (!/^-?[0-9]+(,-?[0-9]+)*$/.test(text)) fail('BAD_CIPHERTEXT', `${want.label} is not a simulated ciphertext of ${slots} slots`);
    coefficients = text.split(',').map((c) => BigInt(c));
    if (coefficients.length !== 2 * slots) fail('BAD_CIPHERTEXT', `${want.label} carries ${coefficients.length} coefficients, not ${2 * slots}`);
  }
  const level = view.getUint32(4, true);
  if (level !== want.level) fail('BAD_CIPHERTEXT', `${want.label} is at level ${level}, expected ${want.level}`);
  const scale = view.getFloat64(8, true);
  if (!(Math.abs(scale - want.scale) <= SCALE_TOLERANCE * want.scale)) {
    fail('BAD_CIPHERTEXT', `${want.label} has scale 2^${Math.log2(scale).toFixed(4)}, expected 2^${Math.log2(want.scale).toFixed(4)}`);
  }
  const values = Float64Array.from({ length: slots }, (_, i) => view.getFloat64(HEADER_BYTES + 8 * i, true));
  return { level, scale, values, ...(coefficients ? { coefficients } : {}) };
}
