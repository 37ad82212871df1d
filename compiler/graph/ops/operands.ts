import type { Dim, ValueType } from '../graph';
import type { NodeView } from '../kernel';
import type { NumericTensor, Shape, Tensor, Value } from '../tensor';

/** The tensor case of ValueType: what shape inference passes between tensor operators. */
export type TensorType = Extract<ValueType, { kind: 'tensor' }>;
export type Dims = readonly Dim[] | null;

export function tensorType(dtype: TensorType['dtype'], shape: Dims): TensorType {
  return { kind: 'tensor', dtype, shape: shape === null ? null : [...shape] };
}

/** The static type of a required tensor input; its absence is a structural error of the model. */
export function typeOf(view: NodeView, types: ReadonlyArray<ValueType | undefined>, index: number): TensorType {
  const t = types[index];
  if (view.node.inputs[index] === undefined || view.node.inputs[index] === '') view.invalid(`input ${index} is required`);
  if (!t) view.invalid(`the type of input ${index} ("${view.node.inputs[index]}") is unknown`);
  if (t.kind !== 'tensor') view.invalid(`input ${index} must be a tensor, not a ${t.kind}`);
  return t;
}

export function optionalTypeOf(view: NodeView, types: ReadonlyArray<ValueType | undefined>, index: number): TensorType | undefined {
  if (!view.node.inputs[index]) return undefined;
  return typeOf(view, types, index);
}

/** The run-time value of a required tensor input (numeric or string). */
export function tensorOf(view: NodeView, values: ReadonlyArray<Value | undefined>, index: number): Tensor {
  const v = values[index];
  if (!v) view.invalid(`input ${index} is required`);
  if (v.kind === 'sequence-of-maps') view.invalid(`input ${index} must be a tensor, not a sequence of maps`);
  return v;
}

export function numericOf(view: NodeView, values: ReadonlyArray<Value | undefined>, index: number): NumericTensor {
  const t = tensorOf(view, values, index);
  if (t.kind !== 'numeric') view.unsupported(`string input ${index}`);
  return t;
}

export function optionalNumericOf(view: NodeView, values: ReadonlyArray<Value | undefined>, index: number): NumericTensor | undefined {
  return values[index] ? numericOf(view, values, index) : undefined;
}

/** Refuse string tensors where only numbers make sense, at import time. */
export function requireNumericType(view: NodeView, t: TensorType, index: number): TensorType {
  if (t.dtype === 'string') view.unsupported(`string input ${index}`);
  return t;
}

/** ONNX axes may count from the end; the result is in [0, rank). */
/** Inputs 0 and 1 of a binary numeric operator: both numeric, of one element type. */
export function numericPairType(view: NodeView, types: ReadonlyArray<ValueType | undefined>): [TensorType, TensorType] {
  const a = requireNumericType(view, typeOf(view, types, 0), 0);
  const b = requireNumericType(view, typeOf(view, types, 1), 1);
  if (a.dtype !== b.dtype) view.invalid(`inputs have different types (${a.dtype} and ${b.dtype})`);
  return [a, b];
}

export function normalizeAxis(view: NodeView, axis: number, rank: number, what = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) view.invalid(`${what} ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

export function normalizeAxes(view: NodeView, axes: readonly number[], rank: number, what = 'axes'): number[] {
  const out = axes.map((a) => normalizeAxis(view, a, rank, what.replace(/s$/, '')));
  if (new Set(out).size !== out.length) view.invalid(`${what} [${axes.join(', ')}] repeat an axis`);
  return out;
}

/** Row-major strides. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** Product of the dims when all are known numbers. */
export function knownSize(dims: readonly Dim[]): number | null {
  let n = 1;
  for (const d of dims) {
    if (typeof d !== 'number') return null;
    n *= d;
  }
  return n;
}

/** Integer contents of a small shape-like tensor (shape, axes, pads, indices). */
export function intsOf(view: NodeView, t: NumericTensor, what: string): number[] {
  const out = Array.from(t.data);
  if (out.some((v) => !Number.isInteger(v))) view.invalid(`${what} must hold integers`);
  return out;
}

/** A constant 0-D or 1-element tensor's value: Clip bounds, Pad constant_value. */
export function scalarOf(view: NodeView, t: NumericTensor, what: string): number {
  if (t.data.length !== 1) view.invalid(`${what} must be a scalar, got shape [${t.shape.join(', ')}]`);
  return t.data[0]!;
}
