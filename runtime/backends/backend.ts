/**
 * The seam between encrypted inference (client, server, MCP) and whatever computes on
 * ciphertexts. Client and server hold a `FheBackend` and never a backend's own objects: what
 * crosses the seam is parameters, circuits, slot vectors and serialized bytes, so a backend that
 * runs elsewhere (worker threads, a GPU, native SEAL) plugs in by implementing these
 * interfaces, and the wire envelope (runtime/wire) stays the same whichever backend made the parts.
 *
 * Two implementations: SEAL (backends/seal/backend.ts), the real one, and simulation
 * (backends/simulation-backend.ts), which carries slot vectors in the clear and checks every op
 * against the circuit, for tests and development.
 */
import type { Circuit } from '../../compiler/circuit/ir';
import { fail } from '../../compiler/errors';
import { parameterId } from '../../compiler/params/parameter-id';
import type { CkksParameters } from '../../compiler/params/types';

/**
 * What a backend needs from the compiler's parameter choice. Primes are the exact values the
 * compiler computed its scales with; the backend must produce the very same ones or every
 * exact-scale computation in the circuit is off.
 */
export interface ContextSpec {
  /** Ring dimension N (a power of two); N/2 slots. */
  readonly polyModulusDegree: number;
  /** Bit sizes of the coefficient-modulus primes, first (data) to last (special key-switching prime). */
  readonly coeffModulusBits: readonly number[];
  /** The primes themselves, in the same order, as decimal strings or bigints. */
  readonly primes: readonly (string | bigint)[];
  /** Stable identifier of this parameter set; carried in every envelope. */
  readonly parameterId: string;
}

/** The backend's view of the compiler's parameter choice (its id is the one envelopes carry). */
export function contextSpecOf(params: Pick<CkksParameters, 'polyModulusDegree' | 'coeffModulusBits' | 'primes'>): ContextSpec {
  return {
    polyModulusDegree: params.polyModulusDegree,
    coeffModulusBits: params.coeffModulusBits,
    primes: params.primes,
    parameterId: parameterId(params),
  };
}

/** Slots of a context: N/2. */
export function slotsOf(spec: ContextSpec): number {
  return spec.polyModulusDegree / 2;
}

/** The top data level of a context: one below the prime count (the last prime is the special one). */
export function maxLevelOf(spec: ContextSpec): number {
  return spec.coeffModulusBits.length - 2;
}

export { maxEncodable } from '../../compiler/params/encodable';

/**
 * Check that a circuit can run on a context at all: same slot count, the same droppable primes
 * the compiler assigned scales with, a top level the chain has. Every backend does this once
 * when a circuit is loaded.
 */
export function checkCircuitFits(spec: ContextSpec, circuit: Circuit): void {
  const slots = slotsOf(spec);
  const maxLevel = maxLevelOf(spec);
  if (circuit.slots !== slots) fail('BAD_ARTIFACT', `the circuit is laid out for ${circuit.slots} slots, the parameters give ${slots}`);
  if (circuit.topLevel > maxLevel) fail('BAD_ARTIFACT', `the circuit starts at level ${circuit.topLevel}, the parameters reach only ${maxLevel}`);
  if (!circuit.primes) fail('BAD_ARTIFACT', 'the circuit has no scales assigned (primes missing)');
  for (let level = circuit.topLevel; level >= 1; level--) {
    const planned = circuit.primes[circuit.topLevel - level];
    const actual = Number(BigInt(spec.primes[level]!));
    if (planned !== actual) fail('BAD_ARTIFACT', `the circuit's prime at level ${level} is ${planned}, the parameters' is ${actual}`);
  }
}

/** Which evaluation keys a circuit needs: relinearization only with ct×ct products, Galois keys for exactly its rotation steps. */
export interface KeyRequirements {
  readonly relin: boolean;
  readonly rotationSteps: readonly number[];
}

/** Serialized evaluation keys: all the server ever receives from the client. */
export interface EvaluationKeyBytes {
  readonly relin: Uint8Array | null;
  readonly galois: Uint8Array | null;
}

/** Where a loaded ciphertext must sit: a fresh input at the circuit's top level, a result at its output level. */
export interface CiphertextExpectation {
  readonly level: number;
  readonly scale: number;
  /** Names the part in messages, e.g. "input ciphertext 3". */
  readonly label: string;
}

export interface FheBackend {
  /** Short name for messages and reports, e.g. "seal". */
  readonly name: string;
  /**
   * Evaluations it runs at once (threads): callers with several independent evaluations keep
   * this many in flight. 1 for a backend that runs on the calling thread.
   */
  readonly concurrency: number;
  /** Whether it runs in node-seal's WebAssembly heap, so a plan over the heap budget cannot run on it. */
  readonly wasmHeap: boolean;
  /** A context for one parameter set; refuses parameters it cannot reproduce exactly (PARAMS). */
  createContext(spec: ContextSpec): Promise<BackendContext>;
  /**
   * The engine instance contexts are made from now. A fatal engine failure (a WebAssembly trap
   * in SEAL, which unwinds nothing and leaves its heap suspect) makes a long-lived process drop
   * every context made under the old instance: see `engineStale`.
   */
  engineGeneration(): number;
  /** Records `e` if it was a fatal engine failure; returns whether the engine is now marked failed. */
  noteFailure(e: unknown): boolean;
  /**
   * Before using contexts made under generation `madeIn`: starts a fresh engine if the current
   * one failed, and says whether those contexts belong to a dropped engine and must be made again.
   */
  engineStale(madeIn: number): boolean;
}

/** One parameter set, live. Everything made from it is freed before it. */
export interface BackendContext {
  readonly spec: ContextSpec;
  readonly slots: number;
  /** Client side: a fresh secret key, or the one saved by `ClientKeys.exportSecretKey`. */
  clientKeys(savedSecretKey?: Uint8Array): ClientKeys;
  /** Client side: the secret key derived from a seed of at least 256 bits; the same seed gives the same key on any machine. */
  derivedClientKeys(seed: Uint8Array): ClientKeys;
  /** Server side: a circuit checked against this context (slots, primes, levels), ready to run. */
  loadCircuit(circuit: Circuit): LoadedCircuit;
  /**
   * Server side: the ciphertext (where `want` says) plus the plaintext whose polynomial has the
   * integer coefficients `coefficients` (N of them, at the ciphertext's level and scale): a
   * coefficient-domain mask put on or taken off (compiler/client-steps/coefficient-mask.ts).
   */
  addCoefficients(ciphertext: Uint8Array, want: CiphertextExpectation, coefficients: readonly bigint[]): Uint8Array;
  dispose(): void;
}

/** The secret key and what only its holder can do. Nothing here returns the key except `exportSecretKey`. */
export interface ClientKeys {
  /** Secret key bytes for the client's own keystore (which encrypts them at rest). */
  exportSecretKey(): Uint8Array;
  /** Evaluation keys derived from the secret key; each call makes new ones (key generation is randomized). */
  evaluationKeys(needs: KeyRequirements): EvaluationKeyBytes;
  /** Serialized ciphertext of `values` (length ≤ slots, rest zero) at `level` and `scale`. */
  encrypt(values: Float64Array, level: number, scale: number): Uint8Array;
  /** All slots of a serialized ciphertext, which must sit where `want` says. */
  decrypt(ciphertext: Uint8Array, want: CiphertextExpectation): Float64Array;
  /** The decrypted plaintext polynomial's integer coefficients (N, each centered mod the level's modulus), exactly: no decoding. */
  decryptCoefficients(ciphertext: Uint8Array, want: CiphertextExpectation): bigint[];
  /** Serialized ciphertext of the plaintext whose polynomial has these integer coefficients (each reduced mod the level's primes), at `level` and `scale`. */
  encryptCoefficients(coefficients: readonly bigint[], level: number, scale: number): Uint8Array;
  dispose(): void;
}

/** Evaluation keys loaded for one circuit; only the circuit that loaded them can use them. */
export interface LoadedEvaluationKeys {
  dispose(): void;
}

export interface LoadedCircuit {
  /** The evaluation keys this circuit uses. */
  readonly needs: KeyRequirements;
  /** Load and check serialized evaluation keys against `needs` (BAD_CIPHERTEXT when one is missing or malformed). */
  loadEvaluationKeys(bytes: EvaluationKeyBytes): LoadedEvaluationKeys;
  /**
   * One circuit evaluation: one serialized ciphertext per circuit input (fresh, at the top level
   * and the input scale) in, one per circuit output out. `firstInputIndex` numbers the inputs in
   * error messages ("input ciphertext 7") when they are part of a larger request.
   */
  execute(inputs: readonly Uint8Array[], keys: LoadedEvaluationKeys, firstInputIndex?: number): Promise<Uint8Array[]>;
  dispose(): void;
}
