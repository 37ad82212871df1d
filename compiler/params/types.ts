/**
 * A CKKS parameter set exactly as SEAL will build it. Plain JSON (numbers and strings) so it can
 * go into the compiled model's manifest unchanged.
 *
 * Levels: a value at level ℓ can still be rescaled ℓ times and holds ℓ + 1 primes
 * (q0 … qℓ). A fresh ciphertext is at level `levels` (SEAL's first_context_data, chain index
 * `levels`); keys live at the key level, which adds the special prime.
 */
export interface CkksParameters {
  readonly scheme: 'ckks';
  /** N; the ring is Z[X]/(X^N + 1). */
  readonly polyModulusDegree: number;
  /** Bit sizes passed to `CoeffModulus.Create`: [first, scaleBits × levels, special]. */
  readonly coeffModulusBits: readonly number[];
  /** The primes SEAL picks for those sizes, in chain order, as exact decimal strings. */
  readonly primes: readonly string[];
  /** The same primes as doubles, for scale arithmetic (exact to ~1e-16 relative). */
  readonly primesApprox: readonly number[];
  /** log2 of the default scale Δ; rescale primes are ≈ 2^scaleBits. */
  readonly scaleBits: number;
  /** Bits of the first prime above the scale, for the integer part of outputs (sign and guard included). */
  readonly outputBits: number;
  /** Rescales a fresh ciphertext can take (= number of scale primes). */
  readonly levels: number;
  readonly securityBits: 128;
  /** SEAL's 128-bit bound on the total modulus bits at this N. */
  readonly maxBitCount: number;
  /** Sum of the prime sizes; SEAL's own check (bit length of the product) is never larger. */
  readonly totalBits: number;
  /** N / 2 complex slots. */
  readonly slots: number;
  /** Left-rotation steps the circuit uses, normalised to [1, slots), sorted, unique. */
  readonly rotationSteps: readonly number[];
  /** SEAL Galois elements 3^step mod 2N for `rotationSteps`, same order. */
  readonly galoisElements: readonly number[];
  /** Fractional bits the outputs should keep under the noise heuristic (see select.ts). */
  readonly expectedPrecisionBits: number;
}

export interface ParameterRequest {
  /** Rescales the circuit consumes on its deepest path (ct×pt and ct×ct alike). */
  readonly depth: number;
  /** Slots the chosen layout occupies; N/2 must be at least this. */
  readonly slotsNeeded: number;
  /** Rotation steps the circuit uses (any sign; normalised against the chosen slot count). */
  readonly rotationSteps?: readonly number[];
  /** Force the scale (bits); otherwise chosen by the policy in select.ts. */
  readonly scaleBits?: number;
  /**
   * Bits above the scale for the integer part of every output and intermediate value, including
   * sign and guard (see `outputBitsForMagnitude`). Default 20.
   */
  readonly outputBits?: number;
  /**
   * The first prime q0 at least this many bits (its outputBits grown to reach it, at most
   * MAX_PRIME_BITS): a client step's mask must fit under q0 and the spare prime a cut keeps
   * (compiler/plan/refresh-plan.ts, maskFirstPrimeBits). Default: scale + outputBits.
   */
  readonly firstPrimeBits?: number;
  /** Fractional bits the outputs need (see `precisionBitsForError`). Default 10 (≈ 1e-3). */
  readonly precisionBits?: number;
  /**
   * Keep precisionBits after the circuit's noise growth (expectedPrecisionBits ≥ precisionBits),
   * moving to a larger N when needed; default false: the bare floor, and expectedPrecisionBits
   * says what is left.
   */
  readonly strictPrecision?: boolean;
  /** Use exactly this N; refused with a PARAMS error if the chain or the layout does not fit it. */
  readonly preferN?: number;
}
