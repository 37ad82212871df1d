import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { AttributeValue } from '../../compiler/graph/graph';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { numeric, type NumericTensor } from '../../compiler/graph/tensor';
import { importModel } from '../../compiler/onnx/import';
import { encodeGraph, i64, int, ints, str, type GraphSpec } from '../helpers/op-harness';
import { lcg, uniform } from '../helpers/random';

/**
 * Attribute combinations the ONNX node tests do not reach (groups with dilations and asymmetric
 * pads, ceil_mode with count_include_pad, dilated MaxPool indices, pre-13 Softmax coercion),
 * checked against onnxruntime-node on seeded random data.
 */
function seeded(seed: number): () => number {
  return uniform(lcg(seed), -0.5, 0.5);
}

function randomF32(shape: number[], seed: number): NumericTensor {
  const next = seeded(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return numeric('float32', shape, Array.from({ length: n }, () => Math.fround(next() * 4)));
}

interface Case {
  readonly name: string;
  readonly opset: number;
  readonly opType: string;
  readonly attrs: Record<string, AttributeValue>;
  readonly x: number[];
  /** Further inputs, fed as initializers. */
  readonly constants?: Record<string, NumericTensor>;
  readonly outputs?: GraphSpec['outputs'];
}

const CASES: Case[] = [
  {
    name: 'Conv groups + dilations + asymmetric pads + strides',
    opset: 13,
    opType: 'Conv',
    attrs: { group: int(2), strides: ints([2, 1]), dilations: ints([1, 2]), pads: ints([1, 0, 2, 1]) },
    x: [2, 4, 7, 6],
    constants: { w: randomF32([6, 2, 3, 2], 11), b: randomF32([6], 12) },
  },
  { name: 'Conv SAME_LOWER with strides', opset: 11, opType: 'Conv', attrs: { auto_pad: str('SAME_LOWER'), strides: ints([2, 2]) }, x: [1, 3, 6, 5], constants: { w: randomF32([2, 3, 4, 3], 13) } },
  {
    name: 'AveragePool ceil_mode + count_include_pad',
    opset: 13,
    opType: 'AveragePool',
    attrs: { kernel_shape: ints([3, 2]), strides: ints([2, 3]), pads: ints([1, 0, 1, 1]), ceil_mode: int(1), count_include_pad: int(1) },
    x: [1, 2, 7, 7],
  },
  {
    name: 'AveragePool ceil_mode excluding pads',
    opset: 13,
    opType: 'AveragePool',
    attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), ceil_mode: int(1) },
    x: [2, 1, 6, 6],
  },
  {
    name: 'MaxPool dilations + pads + ceil_mode with indices',
    opset: 12,
    opType: 'MaxPool',
    attrs: { kernel_shape: ints([3, 2]), strides: ints([2, 2]), dilations: ints([2, 1]), pads: ints([1, 1, 1, 0]), ceil_mode: int(1) },
    x: [2, 2, 8, 7],
    outputs: ['y', { name: 'i', dtype: 'int64' }],
  },
  { name: 'Softmax opset 11 coerced at axis 1', opset: 11, opType: 'Softmax', attrs: {}, x: [2, 3, 4] },
  { name: 'LogSoftmax opset 11 axis 2', opset: 11, opType: 'LogSoftmax', attrs: { axis: int(2) }, x: [2, 3, 4] },
  { name: 'Softmax opset 13 axis 1', opset: 13, opType: 'Softmax', attrs: { axis: int(1) }, x: [2, 3, 4] },
  { name: 'Gemm transA transB, column C', opset: 13, opType: 'Gemm', attrs: { transA: int(1), transB: int(1), alpha: { type: 'float', value: 0.5 }, beta: { type: 'float', value: -2 } }, x: [5, 3], constants: { b: randomF32([4, 5], 21), c: randomF32([3, 1], 22) } },
  { name: 'MatMul batched broadcast', opset: 13, opType: 'MatMul', attrs: {}, x: [2, 1, 3, 4], constants: { b: randomF32([5, 4, 2], 31) } },
  { name: 'Pad reflect with a crop', opset: 13, opType: 'Pad', attrs: { mode: str('reflect') }, x: [2, 3, 4], constants: { pads: i64([6], [0, 2, -1, 1, 0, 2]) } },
  {
    name: 'TopK smallest along axis 1 with indices',
    opset: 15,
    opType: 'TopK',
    attrs: { axis: int(1), largest: int(0) },
    x: [3, 9, 2],
    constants: { k: i64([1], [4]) },
    outputs: ['y', { name: 'i', dtype: 'int64' }],
  },
  { name: 'ReduceSum axes input, keepdims 0', opset: 15, opType: 'ReduceSum', attrs: { keepdims: int(0) }, x: [2, 3, 4], constants: { axes: i64([2], [0, -1]) } },
  { name: 'ReduceSumSquare axes attribute', opset: 13, opType: 'ReduceSumSquare', attrs: { axes: ints([1]), keepdims: int(1) }, x: [2, 3, 4] },
  { name: 'Slice negative steps', opset: 13, opType: 'Slice', attrs: {}, x: [4, 5, 6], constants: { s: i64([2], [-1, 4]), e: i64([2], [0, -100]), a: i64([2], [2, 1]), st: i64([2], [-2, -3]) } },
];

describe('kernels agree with onnxruntime-node', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const outputs = c.outputs ?? ['y'];
    const spec: GraphSpec = {
      opset: c.opset,
      inputs: [{ name: 'x', dtype: 'float32', shape: c.x }],
      initializers: c.constants,
      nodes: [{ opType: c.opType, inputs: ['x', ...Object.keys(c.constants ?? {})], outputs: outputs.map((o) => (typeof o === 'string' ? o : o.name)), attrs: c.attrs }],
      outputs,
    };
    const bytes = encodeGraph(spec);
    const x = randomF32(c.x, 7);
    const ours = runGraph(importModel(bytes, c.name), new Map([['x', x]]));
    const session = await ort.InferenceSession.create(bytes);
    const theirs = await session.run({ x: new ort.Tensor('float32', Float32Array.from(x.data), c.x) });
    for (const o of outputs) {
      const name = typeof o === 'string' ? o : o.name;
      const a = ours.get(name) as NumericTensor;
      const b = theirs[name]!;
      expect(a.shape, name).toEqual([...b.dims]);
      const expected = Array.from(b.data as ArrayLike<number | bigint>, Number);
      expected.forEach((e, i) => expect(Math.abs(a.data[i]! - e), `${name}[${i}]: ${a.data[i]} vs ${e}`).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(e)));
    }
    await session.release();
  });
});
