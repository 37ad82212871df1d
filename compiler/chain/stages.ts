import type { Node, ValueInfo } from '../graph/graph';
import type { DType, Tensor } from '../graph/tensor';
import type { ActivationFn, ActivationUse } from '../activations/registry';
import type { RowFunction, RowPart } from './rowwise';
import { isStepStage, stepStageKind } from './step-stages';

export type { ActivationFn };

/**
 * What the graph passes reduce a model to: the encrypted body as a chain of affine maps and
 * elementwise activations over one flattened sample vector, plus the parts of the ONNX graph
 * that the client runs in the clear before encryption (prologue) and after decryption (epilogue).
 */

/** y = W·x + b over flattened vectors; `weights` is row-major [outSize × inSize]. */
export interface AffineStage {
  readonly kind: 'affine';
  /** Names of the ONNX nodes folded into this map, for reports. */
  readonly sources: readonly string[];
  readonly inSize: number;
  readonly outSize: number;
  readonly weights: Float64Array;
  readonly bias: Float64Array;
  /**
   * Where x comes from when the body is not a chain (a residual sum, a concatenation of branches,
   * a value read by two layers): the outputs of these earlier stages concatenated, −1 being the
   * body input (see stage-graph.ts). Absent: the previous stage's output, as in a chain.
   */
  readonly reads?: readonly number[];
}

export interface ActivationStage extends ActivationUse {
  readonly kind: 'activation';
  readonly sources: readonly string[];
  readonly size: number;
}

/** What every step stage records besides its kind's own fields. */
export interface StepStageFields {
  readonly sources: readonly string[];
  readonly inSize: number;
}

/**
 * MaxPool: y[o] = max of x over window o. Not a circuit op: the body is cut here and the client
 * takes the max of masked, decrypted window values between two segments (see
 * compiler/plan/refresh-plan.ts and compiler/client-steps/).
 */
export interface MaxPoolStage extends StepStageFields {
  readonly kind: 'maxpool';
  /** Per output element, the input indices it takes the max over: non-empty, pairwise disjoint. */
  readonly windows: readonly (readonly number[])[];
  /** The ONNX geometry in words, for reports ("2×2 kernel, strides 2×2, no padding"). */
  readonly geometry: string;
}

/**
 * y[i] = a[left[i]]·b[right[i]]: products of values of two encrypted vectors, a the output of
 * stage `reads[0]` (`factorSizes[0]` values) and b of `reads[1]` (their concatenation is the stage
 * input). Attention's Q·Kᵀ and A·V, a square x·x, and the elementwise Mul of two values computed
 * from the input are one of these (the factors picked, not recomputed), then a sum (an affine
 * map). In the circuit, per value, a ct×ct multiply, a relinearisation and a rescale.
 */
export interface ProductStage {
  readonly kind: 'product';
  readonly sources: readonly string[];
  readonly size: number;
  readonly reads: readonly [number, number];
  readonly factorSizes: readonly [number, number];
  /** Per product, the index of its factor in a and in b (`size` entries each). */
  readonly left: readonly number[];
  readonly right: readonly number[];
}

/**
 * A function of each row of `rowLength` consecutive values (Softmax, LayerNorm without its scale
 * and shift; see rowwise.ts), reading the stage before it like an activation. The approximation
 * step replaces it with what the server evaluates.
 */
export interface RowwiseStage {
  readonly kind: 'rowwise';
  readonly sources: readonly string[];
  readonly fn: RowFunction;
  readonly size: number;
  readonly rowLength: number;
}

/**
 * Softmax over groups of elements (a row each, e.g. one query's attention scores), in place:
 * y = x with each row replaced by its softmax, the elements of no row unchanged. As a step stage
 * the body is cut here and the client computes it exactly under a per-row shift
 * (compiler/client-steps/softmax.ts); the server-side route is compiler/approx/softmax.ts.
 */
export interface SoftmaxStage extends StepStageFields {
  readonly kind: 'softmax';
  /** The rows: input indices, non-empty, pairwise disjoint. */
  readonly groups: readonly (readonly number[])[];
}

/**
 * LayerNorm over groups of elements (a token's features each), in place: y = γ ⊙ (x − mean)/√(var + ε) + β
 * per token, the elements of no token unchanged. As a step stage the client normalizes each token
 * exactly under a per-token positive scale and shift and the server applies γ and β
 * (compiler/client-steps/layer-norm.ts); the server-side route is compiler/approx/layer-norm.ts.
 */
export interface LayerNormStage extends StepStageFields {
  readonly kind: 'layernorm';
  /** The tokens: input indices, each as many as γ has entries, pairwise disjoint. */
  readonly groups: readonly (readonly number[])[];
  readonly epsilon: number;
  readonly gamma: readonly number[];
  readonly beta: readonly number[];
}

/** The stages that are client steps between two segments (their kinds: step-stages.ts). */
export type StepStage = MaxPoolStage | SoftmaxStage | LayerNormStage;

export type Stage = AffineStage | ActivationStage | StepStage | ProductStage | RowwiseStage;

/**
 * The encrypted body: stages in evaluation order. Each reads the previous stage's output (a chain)
 * unless it is an affine map with `reads`, which makes the body a DAG of affine maps and
 * activations; activations always read the stage just before them.
 */
/**
 * A model cut into client prologue → encrypted body → client epilogue. Prologue and epilogue are
 * ONNX nodes of the original graph, run by the reference interpreter on the client.
 */
export interface SplitModel {
  /** The ONNX graph input the user feeds. */
  readonly inputName: string;
  /** Per-sample shape of that input (batch dimension removed). */
  readonly inputShape: readonly number[];
  /** Nodes that turn the graph input into `bodyInput`; empty when the body reads the input directly. */
  readonly prologue: readonly Node[];
  /** Value the encrypted body reads (flattened per sample to `body[0]`'s input size). */
  readonly bodyInput: string;
  readonly body: readonly Stage[];
  /** Value the body computes, with its per-sample shape: what gets encrypted back to the client. */
  readonly bodyOutput: string;
  readonly bodyOutputShape: readonly number[];
  /** Nodes the client runs after decryption, reading `bodyOutput`, producing the graph outputs. */
  readonly epilogue: readonly Node[];
  /** Element type of the graph input, so the client can build the prologue's feed. */
  readonly inputDType: DType;
  /** Element type the ONNX graph gives `bodyOutput`: the epilogue's kernels see a tensor of this type. */
  readonly bodyOutputDType: DType;
  /** The ONNX graph outputs, in order: what prologue → body → epilogue must reproduce. */
  readonly outputs: readonly ValueInfo[];
  /** Opset per domain, needed to run prologue and epilogue nodes with the right semantics. */
  readonly opsets: ReadonlyMap<string, number>;
  /** Constant tensors (initializers and folded constants) that prologue and epilogue nodes read. */
  readonly constants: ReadonlyMap<string, Tensor>;
}

/** An activation replaced by a polynomial on a calibrated range. */
export interface PolyStage extends ActivationUse {
  readonly kind: 'poly';
  readonly sources: readonly string[];
  readonly size: number;
  /** Calibrated input range [lo, hi] (after margin); the preceding affine map sends it to [-1, 1]. */
  readonly range: readonly [number, number];
  readonly method: 'chebyshev' | 'remez' | 'square';
  /** Coefficients in the Chebyshev basis T_0..T_d of the variable t ∈ [-1, 1]. */
  readonly chebyshev: Float64Array;
  readonly degree: number;
  /** Max |f(x) − p(x)| over the range, measured on a dense grid. */
  readonly maxError: number;
}

/**
 * What calibration measured for a row-wise function, from which approx/row-plans.ts plans its
 * polynomials (the plan is a function of these numbers, made again where it is needed).
 *  - softmax: the range of the scores, and of the row sums Σ exp(x_i − score max);
 *  - layernorm: the range of the rows' (biased) variances.
 */
export type RowRanges =
  | { readonly kind: 'softmax'; readonly scores: readonly [number, number]; readonly sums: readonly [number, number] }
  | { readonly kind: 'layernorm'; readonly variance: readonly [number, number] };

/** A row-wise function as the server evaluates it: polynomials and Newton steps planned from `ranges`. */
export interface RowPolyStage {
  readonly kind: 'rowpoly';
  readonly sources: readonly string[];
  readonly fn: RowFunction;
  readonly size: number;
  readonly rowLength: number;
  readonly ranges: RowRanges;
  /** Which part of the function (absent: all of it; see RowPart). */
  readonly part?: RowPart;
}

/** The body after approximation: affine maps (range normalisation folded in) and polynomials. */
export type ApproxStage = AffineStage | PolyStage | StepStage | ProductStage | RowPolyStage;

/** Length of a stage's input vector (all its reads together). */
export function stageInSize(s: Stage | ApproxStage): number {
  if (isStepStage(s)) return s.inSize;
  switch (s.kind) {
    case 'affine':
      return s.inSize;
    case 'activation':
    case 'poly':
      return s.size;
    case 'product':
      return s.factorSizes[0] + s.factorSizes[1];
    case 'rowwise':
    case 'rowpoly':
      return s.size;
  }
}

/** The stages a circuit computes: a step stage (a MaxPool) is a client step between two circuits (refresh-plan). */
export type CircuitStage = AffineStage | PolyStage | ProductStage | RowPolyStage;

/** Length of a stage's output vector. */
export function stageOutSize(s: Stage | ApproxStage): number {
  if (isStepStage(s)) return stepStageKind(s).outSize(s);
  switch (s.kind) {
    case 'affine':
      return s.outSize;
    case 'activation':
    case 'poly':
    case 'product':
    case 'rowwise':
    case 'rowpoly':
      return s.size;
  }
}
