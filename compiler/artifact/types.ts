import type { PrecisionPromise } from '../approx/precision-target';
import type { LatencyEstimate, OpCounts } from '../circuit/count';
import type { SplitModel } from '../chain/stages';
import type { Circuit } from '../circuit/ir';
import type { ValueInfo } from '../graph/graph';
import type { DType } from '../graph/tensor';
import type { CkksParameters } from '../params/types';
import type { ActivationUse } from '../activations/registry';
import type { QuantizationSummary } from '../quantize/summary';
import type { JsonObject } from './json-text';

/**
 * A compiled model in memory: what the compile pipeline produces, what `writeCompiledModel`
 * stores (manifest.json + constants.bin) and `readCompiledModel` gives back, and what the client
 * and server views are cut from. Nothing in it depends on where or when it was compiled, so the
 * same model and options give the same bytes.
 */

export const ARTIFACT_FORMAT = 'deeppowers-compiled';
export const ARTIFACT_FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
export const CONSTANTS_FILE = 'constants.bin';
/**
 * The ONNX file a compiled model directory keeps beside the two above (what `deeppowers compile`
 * and the package's compile() copy in; its SHA-256 is the manifest's source.sha256), so that
 * `report` runs the float64 reference from the directory alone.
 */
export const SOURCE_MODEL_FILE = 'source.onnx';

/** The ONNX file the model was compiled from. */
export interface SourceModel {
  /** Graph name, or the file's base name without extension when the graph has none. */
  readonly name: string;
  /** Base name of the ONNX file (never a path: the artifact must not depend on where it was built). */
  readonly sourceFile: string;
  /** SHA-256 (hex) of the ONNX file's bytes. */
  readonly sha256: string;
  readonly producer: string;
  readonly irVersion: number;
  /** Opset per domain ('ai.onnx', 'ai.onnx.ml'), needed to run prologue and epilogue nodes. */
  readonly opsets: ReadonlyMap<string, number>;
}

/** The graph input the user feeds. */
export interface ModelInput {
  readonly name: string;
  readonly dtype: DType;
  /** Per-sample shape (batch dimension removed). */
  readonly shape: readonly number[];
  /** Column names when the exporter or the calibration file named them; null otherwise. */
  readonly featureNames: readonly string[] | null;
}

/** A value at the boundary of the encrypted body. */
export interface BodyValue {
  readonly name: string;
  /** Element type the ONNX graph gives it (the epilogue's kernels see a tensor of this type). */
  readonly dtype: DType;
  /** Per-sample shape; its element count is the circuit's input or output size. */
  readonly shape: readonly number[];
}

/** What the client runs in the clear: the split model's ONNX nodes before encryption and after decryption, and the constants they read. */
export type ClientSteps = Pick<SplitModel, 'prologue' | 'epilogue' | 'constants'>;

/** One polynomial activation of the body, as fitted. */
export interface Approximation extends ActivationUse {
  /** Position of the poly stage in the approximated chain. */
  readonly stage: number;
  readonly sources: readonly string[];
  readonly range: readonly [number, number];
  readonly method: 'chebyshev' | 'remez' | 'square';
  readonly degree: number;
  readonly maxError: number;
  /** Coefficients in the Chebyshev basis T_0..T_d of t ∈ [-1, 1]. */
  readonly chebyshev: Float64Array;
  /**
   * A ReLU fitted per unit: unit i's input was divided by unitBounds[i] (folded into the affine
   * maps around it), so `range` is [−1, 1] for every unit. Absent: one range for the layer.
   */
  readonly unitBounds?: Float64Array;
}

/** Input range seen for one activation on the calibration rows. */
export interface CalibratedRange extends ActivationUse {
  readonly stage: number;
  readonly sources: readonly string[];
  /** Smallest and largest input seen on the calibration rows. */
  readonly observed: readonly [number, number];
  /** The range the polynomial was fitted on (observed, widened by the margin). */
  readonly fitted: readonly [number, number];
}

/**
 * Smallest and largest value of each model-input element over the calibration rows (row-major
 * over the per-sample input shape). Clients refuse rows far outside it: the polynomial
 * activations and the CKKS parameters were sized for this range, so the encrypted result of a
 * row far beyond it can be silently wrong.
 */
export interface InputRange {
  readonly min: readonly number[];
  readonly max: readonly number[];
}


/** The bound a compiled model promises on its body outputs' encrypted error (see approx/precision-target). */
export type { PrecisionPromise };

export interface CalibrationSummary {
  /** Calibration rows run through the reference. */
  readonly rows: number;
  /** Widening factor applied to observed ranges. */
  readonly margin: number;
  readonly ranges: readonly CalibratedRange[];
  /** The model input's calibrated range; null in models compiled before it was recorded. */
  readonly input: InputRange | null;
  readonly precision: PrecisionPromise;
}

/** Op counts read off the circuit (checked on load against the circuit) and the latency they predict. */
export interface CostEstimate {
  readonly counts: OpCounts;
  readonly latency: LatencyEstimate;
}

/**
 * A MaxPool's client step (compiler/client-steps/max-pool.ts): the server masks each window of
 * the previous segment's outputs as a·y + c (a > 0 and c drawn per window and per sample), the
 * client takes the max of each window of what it decrypts and encrypts those, and the server
 * turns each z back into (z − c)/a, which is the max of the window's y.
 */
export interface PoolStep {
  /** Per pooled value (this segment's input element), the previous segment's output elements it is the max of: non-empty, disjoint. */
  readonly windows: readonly (readonly number[])[];
  /** The ONNX geometry in words ("2×2 window, strides 2×2, no padding"). */
  readonly geometry: string;
  /** The MaxPool node(s) of the source model. */
  readonly sources: readonly string[];
}

/**
 * A Softmax or a LayerNorm as a client step (compiler/client-steps/softmax.ts, layer-norm.ts):
 * groups of the previous segment's outputs (a softmax row; a token's features) that the client
 * normalizes exactly under a mask the function ignores. Output element i of the segment before
 * is input element i of this one: a group's elements come back normalized, the elements of no
 * group unchanged (masked additively, as at a refresh).
 */
export interface GroupStep {
  /** The previous segment's output elements of each group: non-empty, disjoint. */
  readonly groups: readonly (readonly number[])[];
  /** The source model's node(s). */
  readonly sources: readonly string[];
}

/** LayerNorm's step also carries ε and the per-position scale γ and shift β (every group has γ's length). */
export interface LayerNormStep extends GroupStep {
  readonly epsilon: number;
  readonly gamma: readonly number[];
  readonly beta: readonly number[];
}

/** A segment after the first of a body with client steps, and the step before it (compiler/client-steps/table.ts reads it: `clientStepBefore`). */
export interface BodySegment {
  /** Index in the approximated chain of the first stage this segment computes. */
  readonly startStage: number;
  /**
   * Present when a MaxPool comes before this segment: the client step is the window max, and the
   * segment starts one level below the top (the server's unmasking, a product by 1/a, takes it).
   */
  readonly pool?: PoolStep;
  /** Present when a Softmax comes before this segment: the client step normalizes each row (the segment starts at the top level). */
  readonly softmax?: GroupStep;
  /** Present when a LayerNorm comes before this segment: the client step normalizes each token (one level below the top, as after a max pool). */
  readonly layernorm?: LayerNormStep;
  /**
   * 'coefficients' when the refresh step before this segment masks the result's plaintext
   * polynomial's integer coefficients (compiler/client-steps/coefficient-refresh.ts: no float64 on
   * a masked value, and this segment reads the result slot for slot as the segment before left
   * it); absent, a refresh masks the slots. Only on a segment with no other step before it.
   */
  readonly masking?: 'coefficients';
  /** Scales assigned for the model's parameters; its input is the previous segment's output. */
  readonly circuit: Circuit;
  /** Ops and estimated latency of one evaluation of this segment. */
  readonly cost: CostEstimate;
}

/**
 * A body that runs as segments with a client step before each after the first (compile
 * --refresh auto, or a MaxPool; see compiler/plan/refresh-plan.ts): `CompiledModelContent.circuit`
 * is the first segment, `segments` the ones after it, in order, all on the model's one parameter
 * set. The manifest keeps it under the key `refresh` (the first kind of step there was).
 */
export interface SegmentedBody {
  /** σ: a slot mask is uniform in ±2^σ·maskBound, a coefficient mask in ±2^σ·⌈maskBound·Δ⌉ (Δ the masked ciphertext's scale). */
  readonly maskBits: number;
  /** B: calibration's bound on |value| of every circuit value (the cut values and the other slots). */
  readonly maskBound: number;
  /** With a MaxPool step: a window's scale a is log-uniform in [1, 2^poolScaleOctaves]. */
  readonly poolScaleOctaves?: number;
  readonly segments: readonly BodySegment[];
}

export interface CompiledModelContent {
  readonly source: SourceModel;
  readonly input: ModelInput;
  /** The ONNX graph outputs, in order, with their declared types. */
  readonly outputs: readonly ValueInfo[];
  readonly client: ClientSteps;
  /** The value the encrypted body reads (after the prologue) and the one it computes (before the epilogue). */
  readonly bodyInput: BodyValue;
  readonly bodyOutput: BodyValue;
  readonly parameters: CkksParameters;
  /** Scales assigned (`primes` non-null); layout, packing and rotation steps live here. */
  readonly circuit: Circuit;
  /** Present when the body runs as segments with a client step between each two (--refresh auto, a MaxPool). */
  readonly refresh?: SegmentedBody;
  readonly approximations: readonly Approximation[];
  readonly quantization: QuantizationSummary | null;
  readonly calibration: CalibrationSummary;
  readonly cost: CostEstimate;
  /** The compile options as given (no file paths): layout, degree, max error, n-bits, margin, … */
  readonly options: JsonObject;
  /** Version of the DeepPowers compiler that produced it. */
  readonly toolVersion: string;
}

export interface CompiledModel extends CompiledModelContent {
  /**
   * SHA-256 (hex) over the canonical manifest (without this field) and constants.bin: the
   * model's identity, which every ciphertext envelope is bound to.
   */
  readonly modelHash: string;
}

/** What running the prologue and epilogue needs; a CompiledModel and a ClientView both have it. */
export type ClientSide = Pick<CompiledModelContent, 'source' | 'input' | 'outputs' | 'bodyInput' | 'bodyOutput' | 'client'>;
