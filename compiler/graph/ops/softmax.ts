import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { isFloatType, numeric, type NumericTensor } from '../tensor';
import { normalizeAxis, numericOf, typeOf } from './operands';

/**
 * How the input splits into independent softmax groups: `outer` groups of `length` elements
 * spaced `inner` apart. Before opset 13 the input is coerced to 2-D at `axis` (default 1) and
 * each row is one group; from 13 on the softmax runs along the single `axis` (default -1).
 */
function groups(view: NodeView, shape: readonly number[]): { outer: number; length: number; inner: number } {
  const rank = shape.length;
  if (view.opset < 13) {
    const axis = normalizeAxis(view, view.int('axis', 1), Math.max(rank, 1));
    const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
    const length = shape.slice(axis).reduce((p, d) => p * d, 1);
    return { outer, length, inner: 1 };
  }
  if (rank === 0) return { outer: 1, length: 1, inner: 1 };
  const axis = normalizeAxis(view, view.int('axis', -1), rank);
  return {
    outer: shape.slice(0, axis).reduce((p, d) => p * d, 1),
    length: shape[axis]!,
    inner: shape.slice(axis + 1).reduce((p, d) => p * d, 1),
  };
}

/** Max-shifted so that large logits do not overflow exp. */
function softmaxKernel(opType: string, log: boolean): OpKernel {
  return onnxKernel(opType, 1, {
    infer: (view, types) => {
      const x = typeOf(view, types, 0);
      if (!isFloatType(x.dtype)) view.invalid(`${opType} needs a floating-point input, got ${x.dtype}`);
      if (x.shape) {
        if (view.opset < 13) normalizeAxis(view, view.int('axis', 1), Math.max(x.shape.length, 1));
        else if (x.shape.length > 0) normalizeAxis(view, view.int('axis', -1), x.shape.length);
      }
      return [x];
    },
    run: (view, values) => {
      const x: NumericTensor = numericOf(view, values, 0);
      const { outer, length, inner } = groups(view, x.shape);
      const out = new Float64Array(x.data.length);
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          const base = o * length * inner + i;
          let max = -Infinity;
          for (let j = 0; j < length; j++) max = Math.max(max, x.data[base + j * inner]!);
          let sum = 0;
          for (let j = 0; j < length; j++) sum += Math.exp(x.data[base + j * inner]! - max);
          const logSum = Math.log(sum);
          for (let j = 0; j < length; j++) {
            const shifted = x.data[base + j * inner]! - max;
            out[base + j * inner] = log ? shifted - logSum : Math.exp(shifted) / sum;
          }
        }
      }
      return [numeric(x.dtype, x.shape, out)];
    },
  });
}

export const softmaxKernels: readonly OpKernel[] = [softmaxKernel('Softmax', false), softmaxKernel('LogSoftmax', true)];
