import { ONNX_DOMAIN, type Dim } from '../graph';
import type { NodeView, OpKernel } from '../kernel';
import { numeric } from '../tensor';
import { normalizeAxis, numericOf, requireNumericType, tensorType, typeOf } from './operands';

function reducedDims(dims: readonly Dim[], axis: number, keepdims: boolean): Dim[] {
  return keepdims ? dims.map((d, i) => (i === axis ? 1 : d)) : dims.filter((_d, i) => i !== axis);
}

function argAxis(view: NodeView, rank: number): number {
  return normalizeAxis(view, view.int('axis', 0), rank);
}

/**
 * ArgMax along one axis (int64 indices). Ties go to the first index, or the last with
 * select_last_index (opset 12). NaN is never selected over a number.
 */
const ArgMax: OpKernel = {
  opType: 'ArgMax',
  domain: ONNX_DOMAIN,
  minOpset: 1,
  infer: (view, types) => {
    const x = requireNumericType(view, typeOf(view, types, 0), 0);
    if (!x.shape) return [tensorType('int64', null)];
    const axis = argAxis(view, x.shape.length);
    return [tensorType('int64', reducedDims(x.shape, axis, view.int('keepdims', 1) !== 0))];
  },
  run: (view, values) => {
    const x = numericOf(view, values, 0);
    const axis = argAxis(view, x.shape.length);
    const keepdims = view.int('keepdims', 1) !== 0;
    const last = view.int('select_last_index', 0) !== 0;
    const length = x.shape[axis]!;
    if (length === 0) view.invalid(`ArgMax over an empty axis ${axis}`);
    const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
    const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
    const out = new Float64Array(outer * inner);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * length * inner + i;
        let best = 0;
        let bestValue = x.data[base]!;
        for (let j = 1; j < length; j++) {
          const v = x.data[base + j * inner]!;
          if (v > bestValue || (last && v === bestValue) || (Number.isNaN(bestValue) && !Number.isNaN(v))) {
            best = j;
            bestValue = v;
          }
        }
        out[o * inner + i] = best;
      }
    }
    return [numeric('int64', reducedDims(x.shape, axis, keepdims) as number[], out)];
  },
};

export const reduceKernels: readonly OpKernel[] = [ArgMax];
