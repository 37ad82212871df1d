import type { Dim } from '../graph';
import type { NodeView } from '../kernel';
import { sizeOf, type NumericTensor, type Shape, type Tensor } from '../tensor';
import type { Dims } from './operands';

/** numpy broadcasting of concrete shapes; incompatible shapes are a model error. */
export function broadcastShapes(view: NodeView, shapes: readonly Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = s[i]!;
      const j = rank - s.length + i;
      if (d === out[j]) continue;
      if (out[j] === 1) out[j] = d;
      else if (d !== 1) view.invalid(`shapes ${shapes.map((x) => `[${x.join(', ')}]`).join(' and ')} do not broadcast`);
    }
  }
  return out;
}

/** numpy broadcasting of static shapes: symbolic dims survive when they agree or meet a 1. */
export function broadcastDims(view: NodeView, shapes: readonly Dims[]): Dim[] | null {
  if (shapes.some((s) => s === null)) return null;
  const known = shapes as readonly (readonly Dim[])[];
  const rank = Math.max(0, ...known.map((s) => s.length));
  const out: Dim[] = new Array<Dim>(rank).fill(1);
  for (const s of known) {
    for (let i = 0; i < s.length; i++) {
      const d = s[i]!;
      const j = rank - s.length + i;
      const cur = out[j]!;
      if (d === cur || d === 1) continue;
      if (cur === 1) out[j] = d;
      else if (typeof d === 'number' && typeof cur === 'number') {
        view.invalid(`shapes ${known.map((x) => `[${x.map((v) => v ?? '?').join(', ')}]`).join(' and ')} do not broadcast`);
      } else if (typeof d === 'number') out[j] = d; // a symbolic dim meeting a fixed non-1 dim must equal it
      else if (typeof cur !== 'number') out[j] = null;
    }
  }
  return out;
}

/** Strides of `shape` read as if broadcast to `outShape` (0 along broadcast dims). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const j = outShape.length - shape.length + i;
    strides[j] = shape[i] === 1 ? 0 : s;
    s *= shape[i]!;
  }
  return strides;
}

/** Elementwise f(a, b) over the broadcast shape. */
export function broadcastBinary(
  view: NodeView,
  a: NumericTensor,
  b: NumericTensor,
  f: (x: number, y: number) => number,
): { shape: number[]; data: Float64Array } {
  const shape = broadcastShapes(view, [a.shape, b.shape]);
  const n = sizeOf(shape);
  const out = new Float64Array(n);
  const ad = a.data;
  const bd = b.data;
  if (ad.length === n && bd.length === n) {
    for (let i = 0; i < n; i++) out[i] = f(ad[i]!, bd[i]!);
  } else if (bd.length === 1 && ad.length === n) {
    const y = bd[0]!;
    for (let i = 0; i < n; i++) out[i] = f(ad[i]!, y);
  } else if (n > 0) {
    const sa = broadcastStrides(a.shape, shape);
    const sb = broadcastStrides(b.shape, shape);
    const rank = shape.length;
    const index = new Array<number>(rank).fill(0);
    let ia = 0;
    let ib = 0;
    for (let i = 0; i < n; i++) {
      out[i] = f(ad[ia]!, bd[ib]!);
      for (let d = rank - 1; d >= 0; d--) {
        index[d]!++;
        ia += sa[d]!;
        ib += sb[d]!;
        if (index[d]! < shape[d]!) break;
        ia -= sa[d]! * shape[d]!;
        ib -= sb[d]! * shape[d]!;
        index[d] = 0;
      }
    }
  }
  return { shape, data: out };
}

/** Flat source index of every element of `shape` broadcast to `outShape`. */
export function broadcastIndices(shape: Shape, outShape: Shape): Int32Array | Float64Array {
  return stridedIndices(outShape, broadcastStrides(shape, outShape));
}

/**
 * The flat source index of every element of `outShape` in row-major order, starting at `base`,
 * where one step along axis d moves the source by `strides[d]` (0 repeats it, as a broadcast
 * does; a negative stride walks backwards, as a Slice with a negative step does).
 */
export function stridedIndices(outShape: Shape, strides: readonly number[], base = 0): Int32Array | Float64Array {
  const n = sizeOf(outShape);
  const out = n < 2 ** 31 ? new Int32Array(n) : new Float64Array(n);
  const rank = outShape.length;
  const index = new Array<number>(rank).fill(0);
  let src = base;
  for (let i = 0; i < n; i++) {
    out[i] = src;
    for (let d = rank - 1; d >= 0; d--) {
      index[d]!++;
      src += strides[d]!;
      if (index[d]! < outShape[d]!) break;
      src -= strides[d]! * outShape[d]!;
      index[d] = 0;
    }
  }
  return out;
}

/** A tensor of the same kind and dtype holding `source[indices[i]]` in `shape`. */
export function takeElements(t: Tensor, indices: ArrayLike<number>, shape: Shape): Tensor {
  if (t.kind === 'string') {
    const data = new Array<string>(indices.length);
    for (let i = 0; i < indices.length; i++) data[i] = t.data[indices[i]!]!;
    return { kind: 'string', dtype: 'string', shape: [...shape], data };
  }
  const data = new Float64Array(indices.length);
  for (let i = 0; i < indices.length; i++) data[i] = t.data[indices[i]!]!;
  return { kind: 'numeric', dtype: t.dtype, shape: [...shape], data };
}

/** The same elements under a new shape (sizes must agree); data is shared, never mutated. */
export function withShape(t: Tensor, shape: Shape): Tensor {
  return t.kind === 'string'
    ? { kind: 'string', dtype: 'string', shape: [...shape], data: t.data }
    : { kind: 'numeric', dtype: t.dtype, shape: [...shape], data: t.data };
}
