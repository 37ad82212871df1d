/**
 * What a kind of client step is made of (one record per kind in ./table.ts). A body with client
 * steps is segments, each after the client step before it:
 *   server: the segment before's result ciphertexts → mask (circuits run through the backend, or
 *           a coefficient mask added through the backend seam: DrawnMask.coefficients)
 *   client: decrypts the masked values, applies the kind's operation (none for a refresh, the
 *           window max for a max pool), encrypts the result fresh as the next segment's inputs
 *   server: unmask (circuits) → the next segment's inputs
 * The client never sends a decrypted value back (CKKS key recovery from decryptions,
 * Li–Micciancio), only fresh encryptions; the server never decrypts.
 */
import type { GroupStep, LayerNormStep, PoolStep } from '../artifact/types';
import type { Circuit } from '../circuit/ir';
import type { CiphertextAt, StepCircuit } from './step-circuits';

/** A client step as the compiled body records it (before each segment after the first). */
export type ClientStep =
  | { readonly kind: 'refresh' }
  | { readonly kind: 'coefficient-refresh' }
  | { readonly kind: 'maxpool'; readonly pool: PoolStep }
  | { readonly kind: 'softmax'; readonly softmax: GroupStep }
  | { readonly kind: 'layernorm'; readonly layernorm: LayerNormStep };
export type ClientStepKind = ClientStep['kind'];

/** What the client holds of a step: no masks, no weights (γ, β); of a max pool its windows, of a softmax its rows, of a LayerNorm its tokens and ε. */
export type ClientKnows =
  | { readonly kind: 'refresh' }
  | { readonly kind: 'coefficient-refresh' }
  | { readonly kind: 'maxpool'; readonly pool: Pick<PoolStep, 'windows'> }
  | { readonly kind: 'softmax'; readonly softmax: Pick<GroupStep, 'groups'> }
  | { readonly kind: 'layernorm'; readonly layernorm: Pick<LayerNormStep, 'groups' | 'epsilon'> };

/** σ, B and a max pool's octaves (SegmentedBody's fields). */
export interface StepBounds {
  /** σ: a mask hides a value |y| ≤ B within 2^−σ statistical distance. */
  readonly maskBits: number;
  /** B: calibration's bound on |value| of every circuit value. */
  readonly maskBound: number;
  /** A max pool's window scale a is log-uniform in [1, 2^octaves]; absent in a body without one. */
  readonly poolScaleOctaves?: number;
}

/** The segments around one step: the one whose result is masked, the one the fresh ciphertexts feed, and the first (it starts at the top level). */
export interface StepSegments {
  readonly from: Circuit;
  readonly to: Circuit;
  readonly top: Circuit;
}

/**
 * One evaluation's mask, as the server draws it: the circuits that put it on and take it off, each
 * over every ciphertext of the evaluation at one level and scale (./step-circuits.ts).
 */
export interface DrawnMask {
  /** Over the result ciphertexts of `from` (indices in output order). */
  readonly mask: readonly StepCircuit[];
  /** Over the input ciphertexts of `to` (indices in input order). */
  readonly unmask: readonly StepCircuit[];
  /**
   * A coefficient-domain mask (./coefficient-mask.ts): integers added to each result
   * ciphertext's plaintext polynomial (`add[k]` on result k, at its level and scale) and to each
   * input ciphertext's (`remove[k]` on input k); the circuits above are then empty.
   */
  readonly coefficients?: { readonly add: readonly CoefficientMask[]; readonly remove: readonly CoefficientMask[] };
}

/** Integers to add to one ciphertext's plaintext polynomial, and where the ciphertext sits. */
export interface CoefficientMask {
  readonly at: CiphertextAt;
  readonly values: readonly bigint[];
}

/**
 * Where a step's mask sits: on the slot values (through the float64 CKKS encoder, so σ costs
 * precision) or on the plaintext polynomial's integer coefficients (no float64, σ costs modulus room only).
 */
export type MaskDomain = 'slots' | 'coefficients';

export interface ClientStepKindRecord<S extends ClientStep, C extends ClientKnows> {
  readonly kind: S['kind'];
  readonly domain: MaskDomain;

  // Cost: what the compiler reserves (compiler/plan/refresh-plan.ts).
  /** Levels the mask spends at the end of the segment before (beyond the spare prime every cut keeps). */
  readonly maskLevels: number;
  /** Levels the unmasking spends at the start of the segment after: it starts this far below the top. */
  readonly unmaskLevels: number;
  /** The octaves its random scales span (SegmentedBody.poolScaleOctaves), or null when it draws none. */
  readonly scaleOctaves: number | null;
  /** log2 of how far beyond 2^σ·B a masked value reaches (modulus room and float64 bits). */
  maskGrowthBits(bounds: StepBounds): number;
  /** Bits beyond σ + ⌈log2 B⌉ of the 53 float64 bits the step's rounding costs. */
  roundingBits(bounds: StepBounds): number;

  // Server.
  /** A fresh mask for one evaluation. */
  draw(segments: StepSegments, step: S, bounds: StepBounds): DrawnMask;
  /** Level and scale of a result ciphertext at `result` once masked (what the client decrypts). */
  maskedAt(from: Circuit, result: CiphertextAt): CiphertextAt;

  // Client.
  /** One evaluation's masked slot vectors of `from` → the slot vectors it encrypts as `to`'s inputs. */
  clientOperation(from: Circuit, to: Circuit, step: C, slotVectors: readonly Float64Array[]): Float64Array[];

  // Float64 semantics (simulation): per sample, mask, client operation and unmask in the clear.
  simulate(rows: readonly Float64Array[], step: S, bounds: StepBounds): Float64Array[];

  // What the client learns, in words (compile, report, the tool description).
  describe(step: S, bounds: StepBounds): string;
  /**
   * What a client that sends back values of its own at this step can learn, in words (the masks
   * hide what it decrypts, not what it returns): a clause after "at <step>, ".
   */
  readonly dishonestClient: string;
}
