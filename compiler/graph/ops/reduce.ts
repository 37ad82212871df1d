import type { Dim } from '../graph';
import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { isIntegerType, numeric, type NumericTensor } from '../tensor';
import { finishArithmetic } from './dtype';
import { intsOf, normalizeAxes, normalizeAxis, numericOf, optionalNumericOf, requireNumericType, tensorType, typeOf } from './operands';

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
const ArgMax = onnxKernel('ArgMax', 1, {
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
});

/**
 * The axes a Reduce* node reduces: an attribute before `axesInputFrom`, an optional input from it
 * on. No axes means every axis, except with noop_with_empty_axes (input form only): then none.
 */
function reduceAxes(view: NodeView, axesInputFrom: number, rank: number, axesInput: NumericTensor | undefined): number[] {
  let axes: readonly number[] | undefined;
  if (view.opset < axesInputFrom) axes = view.ints('axes');
  else if (axesInput) axes = intsOf(view, axesInput, 'axes');
  if (!axes || axes.length === 0) {
    const noop = view.opset >= axesInputFrom && view.int('noop_with_empty_axes', 0) !== 0;
    return noop ? [] : Array.from({ length: rank }, (_v, i) => i);
  }
  return normalizeAxes(view, axes, rank);
}

/**
 * Reduce over a set of axes by folding `term(x)` into a sum, then `finish(sum, count)` with the
 * number of elements folded into each output; the result keeps the input type.
 */
function sumReduceKernel(opType: string, axesInputFrom: number, term: (x: number) => number, finish: (sum: number, count: number) => number = (sum) => sum): OpKernel {
  return onnxKernel(opType, 1, {
    infer: (view, types, constants) => {
      const x = requireNumericType(view, typeOf(view, types, 0), 0);
      if (!x.shape) return [tensorType(x.dtype, null)];
      const keep = view.int('keepdims', 1) !== 0;
      const axesInput = view.opset >= axesInputFrom && view.node.inputs[1] ? constants[1] : undefined;
      if (view.opset >= axesInputFrom && view.node.inputs[1] && !axesInput) {
        return [tensorType(x.dtype, keep ? x.shape.map(() => null) : null)];
      }
      const axes = new Set(reduceAxes(view, axesInputFrom, x.shape.length, axesInput?.kind === 'numeric' ? axesInput : undefined));
      return [tensorType(x.dtype, x.shape.flatMap((d, i) => (axes.has(i) ? (keep ? [1] : []) : [d])))];
    },
    run: (view, values) => {
      const x = numericOf(view, values, 0);
      const axesInput = view.opset >= axesInputFrom ? optionalNumericOf(view, values, 1) : undefined;
      const axes = new Set(reduceAxes(view, axesInputFrom, x.shape.length, axesInput));
      const keep = view.int('keepdims', 1) !== 0;
      const outShape = x.shape.map((d, i) => (axes.has(i) ? 1 : d));
      const outStrides = outShape.map((_d, i) => outShape.slice(i + 1).reduce((p, q) => p * q, 1));
      const out = new Float64Array(outShape.reduce((p, q) => p * q, 1));
      const index = new Array<number>(x.shape.length).fill(0);
      for (let i = 0; i < x.data.length; i++) {
        let o = 0;
        for (let d = 0; d < index.length; d++) if (!axes.has(d)) o += index[d]! * outStrides[d]!;
        out[o]! += term(x.data[i]!);
        for (let d = index.length - 1; d >= 0; d--) {
          if (++index[d]! < x.shape[d]!) break;
          index[d] = 0;
        }
      }
      const count = x.shape.reduce((p, d, i) => (axes.has(i) ? p * d : p), 1);
      // An integer mean truncates toward zero, as onnxruntime's integer division does.
      const whole = isIntegerType(x.dtype);
      for (let i = 0; i < out.length; i++) out[i] = whole ? Math.trunc(finish(out[i]!, count)) : finish(out[i]!, count);
      const shape = keep ? outShape : x.shape.filter((_d, i) => !axes.has(i));
      return [finishArithmetic(x.dtype, shape, out)];
    },
  });
}

const ReduceSum = sumReduceKernel('ReduceSum', 13, (x) => x);
const ReduceSumSquare = sumReduceKernel('ReduceSumSquare', 18, (x) => x * x);

/**
 * ReduceMean: torch.onnx writes it for LayerNorm at opsets below 17 (and for mean pooling). An
 * empty reduction is NaN (0/0), as onnxruntime and numpy give.
 */
const ReduceMean = sumReduceKernel('ReduceMean', 18, (x) => x, (sum, count) => sum / count);

export const reduceKernels: readonly OpKernel[] = [ArgMax, ReduceSum, ReduceSumSquare, ReduceMean];
