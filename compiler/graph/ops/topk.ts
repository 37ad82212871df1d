import { onnxKernel, type OpKernel } from '../kernel';
import { numeric } from '../tensor';
import { intsOf, normalizeAxis, numericOf, requireNumericType, tensorType, typeOf } from './operands';

/**
 * TopK (opset 10 on: k is an input; 11 adds largest and sorted). Values and int64 indices of the k
 * largest (or smallest) entries along an axis, best first; equal values keep the lower index first,
 * as the ONNX reference does. An unsorted request gets the sorted order, which is one valid answer.
 */
const TopK = onnxKernel('TopK', 10, {
  infer: (view, types, constants) => {
    const x = requireNumericType(view, typeOf(view, types, 0), 0);
    const kType = typeOf(view, types, 1);
    if (kType.dtype !== 'int64') view.invalid(`k must be int64, got ${kType.dtype}`);
    if (!x.shape) return [tensorType(x.dtype, null), tensorType('int64', null)];
    const axis = normalizeAxis(view, view.int('axis', -1), x.shape.length);
    const k = constants[1];
    const kValue = k?.kind === 'numeric' && k.data.length === 1 ? k.data[0]! : null;
    const shape = x.shape.map((d, i) => (i === axis ? kValue : d));
    return [tensorType(x.dtype, shape), tensorType('int64', shape)];
  },
  run: (view, values) => {
    const x = numericOf(view, values, 0);
    const kTensor = numericOf(view, values, 1);
    if (kTensor.data.length !== 1) view.invalid(`k must hold one value, got shape [${kTensor.shape.join(', ')}]`);
    const k = intsOf(view, kTensor, 'k')[0]!;
    const axis = normalizeAxis(view, view.int('axis', -1), x.shape.length);
    const length = x.shape[axis]!;
    if (k < 0 || k > length) view.invalid(`k = ${k} is outside [0, ${length}] along axis ${axis}`);
    const largest = view.opset < 11 || view.int('largest', 1) !== 0;
    const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
    const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
    const shape = x.shape.map((d, i) => (i === axis ? k : d));
    const vals = new Float64Array(outer * k * inner);
    const idx = new Float64Array(outer * k * inner);
    const order = Array.from({ length }, (_v, i) => i);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const at = (j: number): number => x.data[(o * length + j) * inner + i]!;
        order.sort((a, b) => {
          const d = largest ? at(b) - at(a) : at(a) - at(b);
          return d !== 0 && !Number.isNaN(d) ? d : a - b;
        });
        for (let j = 0; j < k; j++) {
          vals[(o * k + j) * inner + i] = at(order[j]!);
          idx[(o * k + j) * inner + i] = order[j]!;
        }
        order.sort((a, b) => a - b);
      }
    }
    return [numeric(x.dtype, shape, vals), numeric('int64', shape, idx)];
  },
});

export const topkKernels: readonly OpKernel[] = [TopK];
