import type { DType, NumericTensor } from '../tensor';
import { isIntegerType, numeric } from '../tensor';

type NumericDType = NumericTensor['dtype'];

/** Bit width and signedness of the integer types whose overflow the reference reproduces. */
const INT_RANGES: Partial<Record<DType, { bits: number; signed: boolean }>> = {
  int8: { bits: 8, signed: true },
  int16: { bits: 16, signed: true },
  int32: { bits: 32, signed: true },
  uint8: { bits: 8, signed: false },
  uint16: { bits: 16, signed: false },
  uint32: { bits: 32, signed: false },
};

/**
 * An integer-valued number wrapped into `dtype`'s range the way two's-complement hardware does
 * (numpy and onnxruntime agree). 64-bit types are left alone: float64 holds them exactly only
 * below 2^53, which is the documented limit of the reference.
 */
export function wrapInteger(value: number, dtype: DType): number {
  const range = INT_RANGES[dtype];
  if (!range) return dtype === 'uint64' && value < 0 ? value + 2 ** 64 : value;
  const modulus = 2 ** range.bits;
  let v = value % modulus;
  if (v < 0) v += modulus;
  if (range.signed && v >= modulus / 2) v -= modulus;
  return v === 0 ? 0 : v; // no negative zero in an integer tensor
}

/** Exact product of two integers wrapped into a ≤32-bit type, even when it exceeds 2^53. */
export function wrapProduct(a: number, b: number, dtype: DType): number {
  const p = a * b;
  if (Number.isSafeInteger(p) || !INT_RANGES[dtype]) return wrapInteger(p, dtype);
  const range = INT_RANGES[dtype]!;
  const big = BigInt(a) * BigInt(b);
  return Number(range.signed ? BigInt.asIntN(range.bits, big) : BigInt.asUintN(range.bits, big));
}

/** Round to the nearest float16 (ties to even), with overflow to ±Infinity. */
export function roundToHalf(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity; // 65520 is the midpoint above the largest half, 65504
  let exponent = Math.max(Math.floor(Math.log2(a)), -14); // subnormals share the exponent of 2^-14
  if (2 ** exponent > a && exponent > -14) exponent--;
  if (2 ** (exponent + 1) <= a) exponent++;
  const quantum = 2 ** (exponent - 10);
  return Math.sign(x) * roundHalfEven(a / quantum) * quantum;
}

/** Round a float32 value to bfloat16 (ties to even), as onnxruntime does. */
export function roundToBfloat16(x: number): number {
  if (Number.isNaN(x)) return x;
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, x);
  const bits = view.getUint32(0);
  const rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
  view.setUint32(0, (rounded << 16) >>> 0);
  return view.getFloat32(0);
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const diff = v - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** One number converted to `dtype` with ONNX Cast semantics: float rounding, integer truncation and wrapping. */
export function convertNumber(x: number, dtype: NumericDType): number {
  switch (dtype) {
    case 'float64':
      return x;
    case 'float32':
      return Math.fround(x);
    case 'float16':
      return roundToHalf(Math.fround(x));
    case 'bfloat16':
      return roundToBfloat16(x);
    case 'bool':
      return x !== 0 ? 1 : 0;
    default:
      // NaN and ±Infinity have no integer value; onnxruntime's result is platform-defined, 0 is ours.
      return Number.isFinite(x) ? wrapInteger(Math.trunc(x), dtype) : 0;
  }
}

/** Results of integer arithmetic wrap into the type; float results stay float64 (the reference precision). */
export function finishArithmetic(dtype: NumericDType, shape: readonly number[], data: Float64Array): NumericTensor {
  if (isIntegerType(dtype)) for (let i = 0; i < data.length; i++) data[i] = wrapInteger(data[i]!, dtype);
  return numeric(dtype, shape, data);
}
