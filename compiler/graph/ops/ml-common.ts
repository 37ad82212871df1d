/**
 * What the ai.onnx.ml kernels share: reading their [rows, features] input, typed attribute
 * lookups that refuse malformed values, the score post-transforms, and class-label handling.
 * onnxruntime is the reference for every numerical choice here (its ml_common.h), including its
 * quirks, because the fixtures and users compare against it.
 */
import type { Dim, ValueType } from '../graph';
import { onnxMlKernel, type NodeView, type OpKernel } from '../kernel';
import { numeric, strings, type NumericTensor, type Tensor, type Value } from '../tensor';

export type TensorValueType = Extract<ValueType, { kind: 'tensor' }>;

export function tensorType(dtype: TensorValueType['dtype'], shape: readonly Dim[] | null): TensorValueType {
  return { kind: 'tensor', dtype, shape: shape === null ? null : [...shape] };
}

/** A tensor input's static type; undefined when inference knows nothing about it. */
export function inputType(view: NodeView, types: ReadonlyArray<ValueType | undefined>, index: number): TensorValueType | undefined {
  const t = types[index];
  if (t && t.kind !== 'tensor') view.invalid(`input ${index} must be a tensor, not a ${t.kind}`);
  return t;
}

export function numericInput(view: NodeView, values: ReadonlyArray<Value | undefined>, index: number): NumericTensor {
  const v = values[index];
  if (!v) view.invalid(`input ${index} is required`);
  if (v.kind !== 'numeric') view.unsupported(`a ${v.kind === 'string' ? 'string' : 'sequence-of-maps'} input ${index}`);
  return v;
}

/**
 * The [rows, features] view onnxruntime takes of an ML operator's input: a vector is one row, a
 * matrix is rows × columns. Higher ranks are refused rather than guessed at.
 */
export interface RowMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

export function asRows(view: NodeView, x: NumericTensor): RowMatrix {
  if (x.shape.length === 1) return { rows: 1, cols: x.shape[0]!, data: x.data };
  if (x.shape.length === 2) return { rows: x.shape[0]!, cols: x.shape[1]!, data: x.data };
  view.unsupported(`input of rank ${x.shape.length} (shape [${x.shape.join(', ')}]; only [features] or [rows, features])`);
}

/** The row count dimension of an input type ([N, C] → N, [C] → 1), for output shapes. */
export function rowDim(view: NodeView, t: TensorValueType | undefined): Dim {
  if (!t || !t.shape) return null;
  if (t.shape.length === 1) return 1;
  if (t.shape.length === 2) return t.shape[0]!;
  view.unsupported(`input of rank ${t.shape.length} (only [features] or [rows, features])`);
}

export function featureDim(t: TensorValueType | undefined): Dim {
  if (!t || !t.shape || t.shape.length === 0) return null;
  return t.shape[t.shape.length - 1]!;
}

/** `inputType` for an input that must be numeric: a string tensor is refused. */
export function numericInputType(view: NodeView, types: ReadonlyArray<ValueType | undefined>, index: number): TensorValueType | undefined {
  const t = inputType(view, types, index);
  if (t && t.dtype === 'string') view.unsupported(`string input ${index}`);
  return t;
}

/**
 * An ai.onnx.ml operator (opset 1 on) reading one numeric input X, whose attributes parse into P:
 * the parse is its import-time check (validate), and infer and run get the parsed attributes
 * with X's static type or value.
 */
export function mlKernel<P>(
  opType: string,
  params: (view: NodeView) => P,
  k: {
    readonly infer: (view: NodeView, p: P, x: TensorValueType | undefined) => ValueType[];
    readonly run: (view: NodeView, p: P, x: NumericTensor) => Value[];
  },
): OpKernel {
  return onnxMlKernel(opType, 1, {
    validate: (view) => void params(view),
    infer: (view, types) => k.infer(view, params(view), numericInputType(view, types, 0)),
    run: (view, values) => k.run(view, params(view), numericInput(view, values, 0)),
  });
}

/** onnxruntime's per-feature stride for elementwise ML operators: dim 0 of a vector, dim 1 otherwise. */
export function featureStride(view: NodeView, x: NumericTensor): number {
  if (x.shape.length === 0) view.invalid('input must have at least one dimension');
  return x.shape.length === 1 ? x.shape[0]! : x.shape[1]!;
}

// ---------------------------------------------------------------------------------------------
// Attributes

/** Integer list attribute whose entries must be whole numbers (node ids, class ids, labels). */
export function intList(view: NodeView, name: string): readonly number[] | undefined {
  const v = view.ints(name);
  if (v && v.some((x) => !Number.isSafeInteger(x))) view.invalid(`attribute "${name}" holds a value that is not a safe integer`);
  return v;
}

/**
 * A float list given either as `name` (floats) or `name_as_tensor` (a double tensor, ai.onnx.ml
 * opset 3). Both at once is contradictory and refused.
 */
export function floatList(view: NodeView, name: string): readonly number[] | undefined {
  const plain = view.floats(name);
  const tensor = view.has(`${name}_as_tensor`) ? view.tensor(`${name}_as_tensor`) : undefined;
  if (plain && tensor) view.invalid(`both "${name}" and "${name}_as_tensor" are set`);
  if (tensor) {
    if (tensor.kind !== 'numeric') view.invalid(`attribute "${name}_as_tensor" must be numeric`);
    return Array.from(tensor.data);
  }
  return plain;
}

/** Which label attribute a classifier uses, with its labels. Exactly one may be set. */
export type ClassLabels = { readonly kind: 'int64'; readonly values: readonly number[] } | { readonly kind: 'string'; readonly values: readonly string[] };

export function classLabels(view: NodeView, intsName: string, stringsName: string, required: boolean): ClassLabels | undefined {
  const ints = intList(view, intsName);
  const strs = view.strings(stringsName);
  const hasInts = ints !== undefined && ints.length > 0;
  const hasStrs = strs !== undefined && strs.length > 0;
  if (hasInts && hasStrs) view.invalid(`both "${intsName}" and "${stringsName}" are set; exactly one is allowed`);
  if (hasStrs) return { kind: 'string', values: strs };
  if (hasInts) return { kind: 'int64', values: ints };
  if (required) view.invalid(`one of "${intsName}" or "${stringsName}" is required`);
  return undefined;
}

/** The label output tensor of a classifier: int64 or string, one per row. */
export function labelTensor(labels: ClassLabels, picks: readonly (number | string)[]): Tensor {
  if (labels.kind === 'string') return strings([picks.length], picks as string[]);
  return numeric('int64', [picks.length], picks as number[]);
}

// ---------------------------------------------------------------------------------------------
// Post-transforms (onnxruntime ml_common.h semantics)

export type PostTransform = 'NONE' | 'LOGISTIC' | 'SOFTMAX' | 'SOFTMAX_ZERO' | 'PROBIT';
const POST_TRANSFORMS: readonly PostTransform[] = ['NONE', 'LOGISTIC', 'SOFTMAX', 'SOFTMAX_ZERO', 'PROBIT'];

export function postTransform(view: NodeView): PostTransform {
  const p = view.string('post_transform', 'NONE');
  if (!(POST_TRANSFORMS as readonly string[]).includes(p)) view.unsupported(`post_transform "${p}"`);
  return p as PostTransform;
}

export function logistic(x: number): number {
  // The |x| form keeps exp from overflowing for large negative scores.
  const v = 1 / (1 + Math.exp(-Math.abs(x)));
  return x < 0 ? 1 - v : v;
}

/**
 * onnxruntime's inverse error function: Winitzki's closed-form approximation with a = 0.147 and
 * its π written as 3.14159. Matching it (not the exact erfinv) is what makes PROBIT agree.
 */
function erfInvApprox(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const t = (1 - x) * (1 + x);
  const ln = Math.log(t);
  const v = 2 / (3.14159 * 0.147) + 0.5 * ln;
  const v2 = (1 / 0.147) * ln;
  return sign * Math.sqrt(-v + Math.sqrt(v * v - v2));
}

export function probit(p: number): number {
  return Math.SQRT2 * erfInvApprox(2 * p - 1);
}

/** Softmax of one row in place, max-shifted for stability. */
export function softmaxInPlace(row: Float64Array | number[]): void {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    row[i] = Math.exp(row[i]! - max);
    sum += row[i]!;
  }
  for (let i = 0; i < row.length; i++) row[i] = row[i]! / sum;
}

/**
 * SOFTMAX_ZERO: scores that are (near) exactly zero stand for "no vote" and stay (near) zero
 * instead of receiving exp(0) mass. onnxruntime's threshold is 1e-7.
 */
export function softmaxZeroInPlace(row: Float64Array | number[]): void {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  const expNegMax = Math.exp(-max);
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (v > 1e-7 || v < -1e-7) {
      row[i] = Math.exp(v - max);
      sum += row[i]!;
    } else row[i] = v * expNegMax;
  }
  for (let i = 0; i < row.length; i++) row[i] = row[i]! / sum;
}

/**
 * Applies a post-transform to a row of two or more scores in place: elementwise for
 * LOGISTIC/PROBIT, per row for the softmaxes.
 */
export function transformRow(row: Float64Array | number[], transform: PostTransform): void {
  switch (transform) {
    case 'NONE':
      return;
    case 'LOGISTIC':
      for (let i = 0; i < row.length; i++) row[i] = logistic(row[i]!);
      return;
    case 'PROBIT':
      for (let i = 0; i < row.length; i++) row[i] = probit(row[i]!);
      return;
    case 'SOFTMAX':
      softmaxInPlace(row);
      return;
    case 'SOFTMAX_ZERO':
      softmaxZeroInPlace(row);
      return;
  }
}

/**
 * Post-transforms each row of `width` scores in place. onnxruntime applies a transform to a single
 * score per row only when it is PROBIT (LOGISTIC and the softmaxes are skipped for one column);
 * rows of 2+ scores get any transform.
 */
export function transformScoreRows(scores: Float64Array, width: number, transform: PostTransform): void {
  if (width === 1) {
    if (transform === 'PROBIT') for (let i = 0; i < scores.length; i++) scores[i] = probit(scores[i]!);
    return;
  }
  for (let off = 0; off < scores.length; off += width) transformRow(scores.subarray(off, off + width), transform);
}

/** Index of the first maximum of `row` (onnxruntime keeps the first on ties). */
export function argmaxFirst(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}
