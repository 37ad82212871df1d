import type { Dim } from '../graph';
import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { sizeOf } from '../tensor';
import { broadcastDims, broadcastIndices, broadcastShapes } from './broadcast';
import { finishArithmetic } from './dtype';
import { numericOf, numericPairType, optionalNumericOf, optionalTypeOf, requireNumericType, tensorType, typeOf } from './operands';

function sameDim(a: Dim, b: Dim): boolean {
  return typeof a !== 'number' || typeof b !== 'number' || a === b;
}

/**
 * Y = alpha·A'·B' + beta·C with A' = transA ? Aᵀ : A, and C broadcast to (M, N). From opset 7 C
 * broadcasts numpy-style (older versions had a `broadcast` attribute); from 11 C is optional.
 */
const Gemm = onnxKernel('Gemm', 7, {
  infer: (view, types) => {
    const a = requireNumericType(view, typeOf(view, types, 0), 0);
    const b = requireNumericType(view, typeOf(view, types, 1), 1);
    const c = optionalTypeOf(view, types, 2);
    if (!c && view.opset < 11) view.invalid('input C is required before opset 11');
    if (!a.shape || !b.shape) return [tensorType(a.dtype, [null, null])];
    if (a.shape.length !== 2 || b.shape.length !== 2) view.invalid(`A and B must be matrices, got ranks ${a.shape.length} and ${b.shape.length}`);
    const transA = view.int('transA', 0) !== 0;
    const transB = view.int('transB', 0) !== 0;
    const [m, ka] = transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
    const [kb, n] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    if (!sameDim(ka, kb)) view.invalid(`inner dimensions differ: A' is [${m}, ${ka}], B' is [${kb}, ${n}]`);
    if (c?.shape) {
      const out = broadcastDims(view, [[m, n], c.shape]);
      if (out && out.length !== 2) view.invalid(`C of shape [${c.shape.join(', ')}] does not broadcast to [M, N]`);
    }
    return [tensorType(a.dtype, [m, n])];
  },
  run: (view, values) => {
    const a = numericOf(view, values, 0);
    const b = numericOf(view, values, 1);
    const c = optionalNumericOf(view, values, 2);
    if (a.shape.length !== 2 || b.shape.length !== 2) view.invalid('A and B must be matrices');
    const transA = view.int('transA', 0) !== 0;
    const transB = view.int('transB', 0) !== 0;
    const alpha = view.float('alpha', 1);
    const beta = view.float('beta', 1);
    const [m, k] = transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
    const [kb, n] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    if (k !== kb) view.invalid(`inner dimensions differ: A' is [${m}, ${k}], B' is [${kb}, ${n}]`);
    // Element (i, p) of A' and (p, j) of B' as flat offsets.
    const [aRow, aCol] = transA ? [1, m] : [k, 1];
    const [bRow, bCol] = transB ? [1, k] : [n, 1];
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) sum += a.data[i * aRow + p * aCol]! * b.data[p * bRow + j * bCol]!;
        out[i * n + j] = alpha * sum;
      }
    }
    if (c && beta !== 0) {
      const shape = broadcastShapes(view, [[m, n], c.shape]);
      if (shape.length !== 2 || shape[0] !== m || shape[1] !== n) view.invalid(`C of shape [${c.shape.join(', ')}] does not broadcast to [${m}, ${n}]`);
      const index = broadcastIndices(c.shape, [m, n]);
      for (let i = 0; i < out.length; i++) out[i]! += beta * c.data[index[i]!]!;
    }
    return [finishArithmetic(a.dtype, [m, n], out)];
  },
});

/** Static MatMul shapes: 1-D operands are promoted (and the added dim dropped), batch dims broadcast. */
function matmulDims(view: NodeView, a: readonly Dim[], b: readonly Dim[]): Dim[] | null {
  if (a.length === 0 || b.length === 0) view.invalid('MatMul operands must have rank ≥ 1');
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k1 = a2[a2.length - 1]!;
  const k2 = b2[b2.length - 2]!;
  if (!sameDim(k1, k2)) view.invalid(`inner dimensions differ: [${a.join(', ')}] × [${b.join(', ')}]`);
  const batch = broadcastDims(view, [a2.slice(0, -2), b2.slice(0, -2)]);
  if (!batch) return null;
  const out: Dim[] = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]!);
  if (b.length > 1) out.push(b2[b2.length - 1]!);
  return out;
}

/** numpy.matmul semantics. */
const MatMul = onnxKernel('MatMul', 1, {
  infer: (view, types) => {
    const [a, b] = numericPairType(view, types);
    return [tensorType(a.dtype, a.shape && b.shape ? matmulDims(view, a.shape, b.shape) : null)];
  },
  run: (view, values) => {
    const a = numericOf(view, values, 0);
    const b = numericOf(view, values, 1);
    if (a.shape.length === 0 || b.shape.length === 0) view.invalid('MatMul operands must have rank ≥ 1');
    const aShape = a.shape.length === 1 ? [1, a.shape[0]!] : [...a.shape];
    const bShape = b.shape.length === 1 ? [b.shape[0]!, 1] : [...b.shape];
    const m = aShape[aShape.length - 2]!;
    const k = aShape[aShape.length - 1]!;
    const n = bShape[bShape.length - 1]!;
    if (bShape[bShape.length - 2] !== k) view.invalid(`inner dimensions differ: [${a.shape.join(', ')}] × [${b.shape.join(', ')}]`);
    const batch = broadcastShapes(view, [aShape.slice(0, -2), bShape.slice(0, -2)]);
    const batches = sizeOf(batch);
    // Which matrix of A and of B each output batch reads.
    const aBatch = broadcastIndices(aShape.slice(0, -2), batch);
    const bBatch = broadcastIndices(bShape.slice(0, -2), batch);
    const out = new Float64Array(batches * m * n);
    for (let t = 0; t < batches; t++) {
      const ao = aBatch[t]! * m * k;
      const bo = bBatch[t]! * k * n;
      const oo = t * m * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let sum = 0;
          for (let p = 0; p < k; p++) sum += a.data[ao + i * k + p]! * b.data[bo + p * n + j]!;
          out[oo + i * n + j] = sum;
        }
      }
    }
    const shape = [...batch];
    if (a.shape.length > 1) shape.push(m);
    if (b.shape.length > 1) shape.push(n);
    return [finishArithmetic(a.dtype, shape, out)];
  },
});

export const linalgKernels: readonly OpKernel[] = [Gemm, MatMul];
