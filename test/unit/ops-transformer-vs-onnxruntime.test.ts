import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { numeric, type NumericTensor, type Value } from '../../compiler/graph/tensor';
import { importModel } from '../../compiler/onnx/import';
import { encodeGraph, float, i64, int, ints, type GraphSpec } from '../helpers/op-harness';
import { mulberry32, uniform } from '../helpers/random';

/**
 * The operators torch.onnx writes for transformers (LayerNormalization with its stash outputs,
 * ReduceMean, Pow, Equal → Where, Expand, ConstantOfShape, Gather on int64 ids with negative
 * indices, batched MatMul of two runtime tensors, Softmax on the last axis), each run by the
 * reference and by onnxruntime-node on seeded random inputs fed at run time.
 */
function randomF32(shape: number[], seed: number, scale = 4): NumericTensor {
  const next = uniform(mulberry32(seed), -0.5, 0.5);
  const n = shape.reduce((a, b) => a * b, 1);
  return numeric('float32', shape, Array.from({ length: n }, () => Math.fround(next() * scale)));
}

function randomIds(shape: number[], seed: number, lo: number, hi: number): NumericTensor {
  const next = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return numeric('int64', shape, Array.from({ length: n }, () => lo + Math.floor(next() * (hi - lo))));
}

interface Case {
  readonly name: string;
  readonly spec: GraphSpec;
  readonly feeds: Record<string, NumericTensor>;
}

const x238 = randomF32([2, 3, 8], 1);

const CASES: Case[] = [
  {
    name: 'LayerNormalization axis -1 with Mean and InvStdDev outputs',
    spec: {
      opset: 17,
      inputs: [{ name: 'x', dtype: 'float32', shape: [2, 3, 8] }],
      initializers: { s: randomF32([8], 2), b: randomF32([8], 3) },
      nodes: [{ opType: 'LayerNormalization', inputs: ['x', 's', 'b'], outputs: ['y', 'mean', 'inv'], attrs: { axis: int(-1), epsilon: float(1e-5) } }],
      outputs: ['y', 'mean', 'inv'],
    },
    feeds: { x: x238 },
  },
  {
    name: 'LayerNormalization axis 1 over two axes, no bias, epsilon 1e-3',
    spec: {
      opset: 17,
      inputs: [{ name: 'x', dtype: 'float32', shape: [2, 3, 8] }],
      initializers: { s: randomF32([3, 8], 4) },
      nodes: [{ opType: 'LayerNormalization', inputs: ['x', 's'], outputs: ['y'], attrs: { axis: int(1), epsilon: float(1e-3) } }],
      outputs: ['y'],
    },
    feeds: { x: x238 },
  },
  {
    name: 'ReduceMean axes attribute, keepdims 0 (opset 13)',
    spec: {
      opset: 13,
      inputs: [{ name: 'x', dtype: 'float32', shape: [2, 3, 8] }],
      nodes: [{ opType: 'ReduceMean', inputs: ['x'], outputs: ['y'], attrs: { axes: ints([0, -1]), keepdims: int(0) } }],
      outputs: ['y'],
    },
    feeds: { x: x238 },
  },
  {
    name: 'ReduceMean over every axis (no axes, opset 13)',
    spec: { opset: 13, inputs: [{ name: 'x', dtype: 'float32', shape: [2, 3, 8] }], nodes: [{ opType: 'ReduceMean', inputs: ['x'], outputs: ['y'] }], outputs: ['y'] },
    feeds: { x: x238 },
  },
  {
    name: 'ReduceMean axes input (opset 18)',
    spec: {
      opset: 18,
      inputs: [{ name: 'x', dtype: 'float32', shape: [2, 3, 8] }],
      initializers: { axes: i64([1], [1]) },
      nodes: [{ opType: 'ReduceMean', inputs: ['x', 'axes'], outputs: ['y'] }],
      outputs: ['y'],
    },
    feeds: { x: x238 },
  },
  {
    name: 'Pow: float base, broadcast float exponent',
    spec: {
      opset: 14,
      inputs: [{ name: 'x', dtype: 'float32', shape: [2, 3, 8] }],
      initializers: { p: numeric('float32', [8], [2, 3, 0, 1, 2, -1, 0.5, 2].map(Math.fround)) },
      nodes: [{ opType: 'Abs', inputs: ['x'], outputs: ['a'] }, { opType: 'Pow', inputs: ['a', 'p'], outputs: ['y'] }],
      outputs: ['y'],
    },
    feeds: { x: x238 },
  },
  {
    name: 'Pow: float base, int64 exponent',
    spec: {
      opset: 15,
      inputs: [{ name: 'x', dtype: 'float32', shape: [2, 3, 8] }],
      initializers: { p: i64([], [3]) },
      nodes: [{ opType: 'Pow', inputs: ['x', 'p'], outputs: ['y'] }],
      outputs: ['y'],
    },
    feeds: { x: x238 },
  },
  {
    name: 'Equal on int64 ids, then Where broadcasting condition, X and a scalar Y',
    spec: {
      opset: 14,
      inputs: [
        { name: 'ids', dtype: 'int64', shape: [2, 1, 8] },
        { name: 'x', dtype: 'float32', shape: [2, 3, 8] },
      ],
      initializers: { zero: i64([], [0]), fill: numeric('float32', [], [-1e4]) },
      nodes: [
        { opType: 'Equal', inputs: ['ids', 'zero'], outputs: ['pad'] },
        { opType: 'Where', inputs: ['pad', 'fill', 'x'], outputs: ['y'] },
        { opType: 'Softmax', inputs: ['y'], outputs: ['p'], attrs: { axis: int(-1) } },
      ],
      outputs: ['y', 'p', { name: 'pad', dtype: 'bool' }],
    },
    feeds: { ids: randomIds([2, 1, 8], 5, 0, 3), x: x238 },
  },
  {
    name: 'Expand both ways: a 1 in the shape keeps the input dim, and the rank grows',
    spec: {
      opset: 13,
      inputs: [{ name: 'x', dtype: 'float32', shape: [3, 1] }],
      initializers: { shape: i64([3], [2, 1, 4]) },
      nodes: [{ opType: 'Expand', inputs: ['x', 'shape'], outputs: ['y'] }],
      outputs: ['y'],
    },
    feeds: { x: randomF32([3, 1], 6) },
  },
  {
    name: 'ConstantOfShape from a runtime Shape, float default and int64 value',
    spec: {
      opset: 14,
      inputs: [{ name: 'x', dtype: 'float32', shape: [2, 3, 8] }],
      nodes: [
        { opType: 'Shape', inputs: ['x'], outputs: ['s'] },
        { opType: 'ConstantOfShape', inputs: ['s'], outputs: ['zeros'] },
        { opType: 'ConstantOfShape', inputs: ['s'], outputs: ['sevens'], attrs: { value: { type: 'tensor', value: i64([1], [7]) } } },
        { opType: 'Add', inputs: ['x', 'zeros'], outputs: ['y'] },
      ],
      outputs: ['y', 'zeros', { name: 'sevens', dtype: 'int64' }],
    },
    feeds: { x: x238 },
  },
  {
    name: 'Gather an embedding table by int64 ids, negative ids counting from the end',
    spec: {
      opset: 13,
      inputs: [{ name: 'ids', dtype: 'int64', shape: [3, 5] }],
      initializers: { table: randomF32([7, 4], 8) },
      nodes: [{ opType: 'Gather', inputs: ['table', 'ids'], outputs: ['y'], attrs: { axis: int(0) } }],
      outputs: ['y'],
    },
    feeds: { ids: randomIds([3, 5], 9, -7, 7) },
  },
  {
    name: 'MatMul of two runtime tensors with batch broadcasting (Q·Kᵀ shape)',
    spec: {
      opset: 13,
      inputs: [
        { name: 'q', dtype: 'float32', shape: [2, 4, 3, 8] },
        { name: 'k', dtype: 'float32', shape: [1, 4, 8, 3] },
      ],
      nodes: [
        { opType: 'MatMul', inputs: ['q', 'k'], outputs: ['s'] },
        { opType: 'Softmax', inputs: ['s'], outputs: ['y'], attrs: { axis: int(-1) } },
      ],
      outputs: ['s', 'y'],
    },
    feeds: { q: randomF32([2, 4, 3, 8], 10), k: randomF32([1, 4, 8, 3], 11) },
  },
];

function ortTensor(t: NumericTensor): ort.Tensor {
  return t.dtype === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(t.data, (v) => BigInt(v)), [...t.shape]) : new ort.Tensor('float32', Float32Array.from(t.data), [...t.shape]);
}

describe('transformer operators agree with onnxruntime-node', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const bytes = encodeGraph(c.spec);
    const ours = runGraph(importModel(bytes, c.name), new Map<string, Value>(Object.entries(c.feeds)));
    const session = await ort.InferenceSession.create(bytes);
    try {
      const theirs = await session.run(Object.fromEntries(Object.entries(c.feeds).map(([k, v]) => [k, ortTensor(v)])));
      for (const o of c.spec.outputs) {
        const name = typeof o === 'string' ? o : o.name;
        const a = ours.get(name) as NumericTensor;
        const b = theirs[name]!;
        expect(a.shape, name).toEqual([...b.dims]);
        const expected = Array.from(b.data as ArrayLike<number | bigint | boolean>, Number);
        expect(expected.length).toBe(a.data.length);
        expected.forEach((e, i) => expect(Math.abs(a.data[i]! - e), `${name}[${i}]: ${a.data[i]} vs ${e}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(e))));
      }
    } finally {
      await session.release();
    }
  });
});
