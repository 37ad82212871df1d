import { fail } from '../errors';
import type { CkksParameters } from './types';

/**
 * Byte sizes of SEAL 4.1 objects, from its serialization layout (compression 'none'); the tests
 * check them byte-exactly against node-seal `saveToArray`. zstd saves a further ~10–20 % on
 * uniformly random RNS data and is not modelled, so these are upper bounds for zstd output.
 *
 * Layout (little-endian):
 * - every `save()` starts with a 16-byte SEALHeader;
 * - a ciphertext (also a public key, and each part of a key-switching key) adds parms_id (32),
 *   is_ntt_form (1), size, N, prime count (3 × 8), scale (8), correction factor (8), then its
 *   coefficient array as a nested save (16-byte header + 8-byte length) and size × primes × N words;
 * - a seeded ciphertext (symmetric encryption, seeded keys) stores only the first polynomial plus
 *   the PRNG info: a nested save of type (1) and a 512-bit seed (64);
 * - a plaintext: parms_id (32), coefficient count (8), scale (8), nested array header (16 + 8), data;
 * - key-switching keys: parms_id (32), an outer count (8), then per outer slot a count (8) and its
 *   keys. Relin keys have one slot; Galois keys have N slots (indexed (g − 1) / 2), mostly empty.
 *   Each key holds one size-2 ciphertext over all k primes per data prime (k − 1 of them).
 */
const HEADER = 16;
const CIPHERTEXT_OVERHEAD = HEADER + 32 + 1 + 3 * 8 + 8 + 8 + HEADER + 8;
const SEED_OVERHEAD = HEADER + 1 + 64;
const PLAINTEXT_OVERHEAD = HEADER + 32 + 8 + 8 + HEADER + 8;
const KSWITCH_OVERHEAD = HEADER + 32 + 8;
const WORD = 8;

/** The 4 GiB wasm32 address space node-seal's module may grow to (MAXIMUM_MEMORY). */
export const WASM_HEAP_BYTES = 4 * 1024 ** 3;

export interface SerializeOptions {
  /** Seeded form: the second polynomial replaced by a PRNG seed (SEAL's Serializable objects). */
  readonly seeded?: boolean;
}

function primeCount(params: CkksParameters): number {
  return params.coeffModulusBits.length;
}

function checkLevel(params: CkksParameters, level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > params.levels) {
    fail('BAD_ARGUMENT', `level ${level} is outside [0, ${params.levels}] for these parameters`);
  }
}

/** A ciphertext with `polys` polynomials over `primes` primes. */
function ciphertextOver(params: CkksParameters, primes: number, polys: number, seeded: boolean): number {
  const words = (seeded ? 1 : polys) * primes * params.polyModulusDegree;
  return CIPHERTEXT_OVERHEAD + (seeded ? SEED_OVERHEAD : 0) + words * WORD;
}

/**
 * A ciphertext at `level` (level + 1 primes). `size` 3 is an unrelinearized product. Only fresh,
 * symmetric-key encryptions can be seeded, and only when size is 2.
 */
export function ciphertextBytes(params: CkksParameters, level: number, options: SerializeOptions & { size?: number } = {}): number {
  checkLevel(params, level);
  const size = options.size ?? 2;
  if (options.seeded && size !== 2) fail('BAD_ARGUMENT', 'only size-2 ciphertexts can be seeded');
  return ciphertextOver(params, level + 1, size, options.seeded ?? false);
}

/** A CKKS plaintext encoded at `level` (NTT form over level + 1 primes). */
export function plaintextBytes(params: CkksParameters, level: number): number {
  checkLevel(params, level);
  return plaintextBytesAt(params.polyModulusDegree, level);
}

/** `plaintextBytes` for callers that hold only N and a level (the SEAL backend's cache). */
export function plaintextBytesAt(polyModulusDegree: number, level: number): number {
  return PLAINTEXT_OVERHEAD + (level + 1) * polyModulusDegree * WORD;
}

/**
 * Most bytes of broadcast scalars (mulScalar/addScalar constants) the SEAL backend keeps encoded.
 * In the batch layout every distinct weight is a scalar and each one a full-slot plaintext
 * (~1 MiB at N = 16384, top level), so a wide MLP would need gigabytes; past this budget scalars
 * are encoded for each use and freed (~4 ms each at N = 16384, next to ~2.7 ms for the multiply).
 */
export const SCALAR_PLAINTEXT_BUDGET_BYTES = 1024 ** 3;

export function publicKeyBytes(params: CkksParameters, options: SerializeOptions = {}): number {
  return ciphertextOver(params, primeCount(params), 2, options.seeded ?? false);
}

/** One key-switching key: a size-2 ciphertext at the key level for each data prime. */
function switchKeyBytes(params: CkksParameters, seeded: boolean): number {
  const k = primeCount(params);
  return (k - 1) * ciphertextOver(params, k, 2, seeded);
}

export function relinKeysBytes(params: CkksParameters, options: SerializeOptions = {}): number {
  return KSWITCH_OVERHEAD + WORD + switchKeyBytes(params, options.seeded ?? false);
}

/** Galois keys for `steps` rotation steps (default: the parameters' own step set). */
export function galoisKeysBytes(params: CkksParameters, options: SerializeOptions & { steps?: number } = {}): number {
  const steps = options.steps ?? params.rotationSteps.length;
  return KSWITCH_OVERHEAD + params.polyModulusDegree * WORD + steps * switchKeyBytes(params, options.seeded ?? false);
}

export interface KeySizes {
  readonly publicKey: number;
  readonly relinKeys: number;
  /** One Galois key (one rotation step). */
  readonly galoisKeyEach: number;
  /** The Galois key set for every rotation step of the parameters. */
  readonly galoisKeys: number;
  /** What a client uploads to the server: relin keys (when used) + Galois keys. */
  readonly evaluationKeys: number;
}

export function keySizes(params: CkksParameters, options: SerializeOptions & { relin?: boolean } = {}): KeySizes {
  const seeded = options.seeded ?? false;
  const relinKeys = options.relin === false ? 0 : relinKeysBytes(params, { seeded });
  const galoisKeys = params.rotationSteps.length === 0 ? 0 : galoisKeysBytes(params, { seeded });
  return {
    publicKey: publicKeyBytes(params, { seeded }),
    relinKeys,
    galoisKeyEach: switchKeyBytes(params, seeded),
    galoisKeys,
    evaluationKeys: relinKeys + galoisKeys,
  };
}

export interface RunMemoryRequest {
  /** Whether the circuit multiplies ciphertexts (needs relin keys). */
  readonly relin: boolean;
  /** Most ciphertexts alive at once during evaluation (counted at the top level, size 3 to be safe). */
  readonly liveCiphertexts: number;
  /** Pre-encoded plaintext constants kept in the cache, by the level each is encoded at. */
  readonly plaintexts: readonly { readonly count: number; readonly level: number }[];
  /**
   * Distinct broadcast scalars (value, level, encode scale), by level: cached up to
   * SCALAR_PLAINTEXT_BUDGET_BYTES, the rest encoded per use (one transient plaintext at a time).
   */
  readonly scalarPlaintexts?: readonly { readonly count: number; readonly level: number }[];
}

export interface RunMemoryEstimate {
  /** The SEAL context (NTT tables and RNS tools of every level) and the client's secret and public keys. */
  readonly context: number;
  /** The evaluation keys the server holds (relin + Galois), once, whatever the number of segments. */
  readonly keys: number;
  /** What making and serializing the Galois key set takes on top of the keys (see KEY_GENERATION_FACTOR). */
  readonly keyGeneration: number;
  readonly ciphertexts: number;
  readonly plaintexts: number;
  /** SEAL's key-switching and multiply temporaries, plus the module's own static memory. */
  readonly workspace: number;
  readonly total: number;
  /** HEAP_BUDGET_BYTES: what a plan may use of node-seal's heap. */
  readonly limit: number;
  readonly fits: boolean;
}

const MODULE_BASELINE = 32 * 1024 ** 2;

/**
 * Bytes per N·k² (k primes, special included) of a SEAL context with the client's secret and
 * public keys: measured 42–51 with node-seal 7 (heap after createContext + KeyGenerator, N = 16384
 * and 32768, k = 9 and 17; `sealHeapBytes`); every level's context holds NTT tables and RNS tools
 * for its primes, so it grows with N·k².
 */
const CONTEXT_BYTES_PER_NK2 = 56;

/**
 * Peak heap of a Galois key set's generation over the keys' own size: node-seal builds the set,
 * copies it across the binding (2.3× its size measured at N = 16384 with 16 steps) and serializes
 * it (another 1.1×); measured 2.2–3.4× over N = 16384/32768 and 2–16 steps. That memory is free
 * again once the bytes are out, but only for objects that fit the holes it leaves, so one process
 * that makes the keys and then evaluates (predict --mode fhe, a test) is counted with both.
 */
export const KEY_GENERATION_FACTOR = 3.5;

/**
 * What a plan may use of node-seal's 4 GiB heap: the estimate below is an upper bound from
 * measured factors, and the rest covers the heap's growth steps (up to 96 MiB each) and
 * fragmentation. The one place the compiler's memory budget is declared: the planner refuses
 * parameters over it and cuts the body instead (plan/choose-plan.ts).
 */
export const HEAP_BUDGET_BYTES = 3.5 * 1024 ** 3;

/**
 * Peak WASM heap of one process that makes the keys, loads them and evaluates (the client and
 * the server in one node-seal instance, as `predict --mode fhe` runs). In memory SEAL objects take
 * the same words as their uncompressed serialization, so the byte formulas above serve for both.
 */
export function estimateRunMemory(params: CkksParameters, request: RunMemoryRequest): RunMemoryEstimate {
  const k = primeCount(params);
  const n = params.polyModulusDegree;
  const context = CONTEXT_BYTES_PER_NK2 * n * k * k;
  const relinKeys = request.relin ? relinKeysBytes(params) : 0;
  const galoisKeys = params.rotationSteps.length === 0 ? 0 : galoisKeysBytes(params);
  const keys = relinKeys + galoisKeys;
  const keyGeneration = Math.max(relinKeys, galoisKeys) * KEY_GENERATION_FACTOR;
  const ciphertexts = request.liveCiphertexts * ciphertextBytes(params, params.levels, { size: 3 });
  let plaintexts = 0;
  for (const { count, level } of request.plaintexts) plaintexts += count * plaintextBytes(params, level);
  let scalars = 0;
  for (const { count, level } of request.scalarPlaintexts ?? []) scalars += count * plaintextBytes(params, level);
  plaintexts += scalars > SCALAR_PLAINTEXT_BUDGET_BYTES ? SCALAR_PLAINTEXT_BUDGET_BYTES + plaintextBytes(params, params.levels) : scalars;
  const workspace = MODULE_BASELINE + 4 * 3 * k * n * WORD;
  const total = context + keys + keyGeneration + ciphertexts + plaintexts + workspace;
  return { context, keys, keyGeneration, ciphertexts, plaintexts, workspace, total, limit: HEAP_BUDGET_BYTES, fits: total <= HEAP_BUDGET_BYTES };
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** One line: what a run of `params` needs of the heap, against the budget. */
export function describeRunMemory(params: CkksParameters, estimate: RunMemoryEstimate): string {
  return (
    `about ${gib(estimate.total)} of WASM memory at N=${params.polyModulusDegree} (evaluation keys ${gib(estimate.keys)} for ${params.rotationSteps.length} rotation steps, ` +
    `${gib(estimate.keyGeneration)} more to make them, context ${gib(estimate.context)}, plaintexts ${gib(estimate.plaintexts)}, ciphertexts ${gib(estimate.ciphertexts)}), ` +
    `over the ${gib(HEAP_BUDGET_BYTES)} budget of node-seal's ${gib(WASM_HEAP_BYTES)} heap`
  );
}

/** PARAMS error when a run would not fit the heap budget; returns the estimate otherwise. */
export function assertFitsHeap(params: CkksParameters, request: RunMemoryRequest): RunMemoryEstimate {
  const estimate = estimateRunMemory(params, request);
  if (!estimate.fits) {
    fail('PARAMS', `an encrypted run needs ${describeRunMemory(params, estimate)}: use the batch layout (no rotations), fewer activation layers or lower-degree activations (a smaller polynomial degree)`);
  }
  return estimate;
}
