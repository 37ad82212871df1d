/**
 * Tensors as the float64 reference sees them. Every numeric ONNX type (float, double, intN, bool)
 * is held as Float64Array: exact for all integers below 2^53, which covers labels, indices and
 * shapes. Strings stay strings. The declared ONNX element type is kept so outputs can be cast
 * and printed faithfully (an int64 label prints as an integer, a float32 output is rounded to
 * float32 where ONNX semantics demand it).
 */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'string';

/** TensorProto.DataType codes (onnx.proto) of the element types the reference holds. */
export const ONNX_DATA_TYPES: Readonly<Record<number, DType | undefined>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
};

export type Shape = readonly number[];

export interface NumericTensor {
  readonly kind: 'numeric';
  readonly dtype: Exclude<DType, 'string'>;
  readonly shape: Shape;
  readonly data: Float64Array;
}

export interface StringTensor {
  readonly kind: 'string';
  readonly dtype: 'string';
  readonly shape: Shape;
  readonly data: readonly string[];
}

export type Tensor = NumericTensor | StringTensor;

/** ZipMap's output: one map per row, keyed by class label. */
export interface MapSequence {
  readonly kind: 'sequence-of-maps';
  readonly keyType: 'int64' | 'string';
  readonly maps: ReadonlyArray<ReadonlyMap<string | number, number>>;
}

/** Anything a graph value can hold at run time. */
export type Value = Tensor | MapSequence;

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function numeric(dtype: NumericTensor['dtype'], shape: Shape, data: Float64Array | ArrayLike<number>): NumericTensor {
  const arr = data instanceof Float64Array ? data : Float64Array.from(data);
  if (arr.length !== sizeOf(shape)) {
    throw new RangeError(`tensor data length ${arr.length} does not match shape [${shape.join(',')}]`);
  }
  return { kind: 'numeric', dtype, shape: [...shape], data: arr };
}

export function strings(shape: Shape, data: readonly string[]): StringTensor {
  if (data.length !== sizeOf(shape)) {
    throw new RangeError(`tensor data length ${data.length} does not match shape [${shape.join(',')}]`);
  }
  return { kind: 'string', dtype: 'string', shape: [...shape], data: [...data] };
}

export function isFloatType(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

export function isIntegerType(dtype: DType): boolean {
  return !isFloatType(dtype) && dtype !== 'string' && dtype !== 'bool';
}
