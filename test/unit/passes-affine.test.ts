/**
 * Affine extraction and BatchNormalization folding on hand-built graphs with random weights: the
 * lowered chain must equal the reference interpreter on random rows (1e-9), and for purely affine
 * graphs the extracted W, b must equal the map found by probing the interpreter with basis vectors.
 */
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../compiler/graph/graph';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { numeric, sizeOf, type NumericTensor } from '../../compiler/graph/tensor';
import type { AffineStage } from '../../compiler/chain/stages';
import { splitGraph } from '../../compiler/passes/split-graph';
import { runSplit } from '../../compiler/chain/run';
import { float, importGraph, int, ints, str, type GraphSpec } from '../helpers/op-harness';
import { mulberry32 } from '../helpers/random';
import { refusalOf } from '../helpers/refusal';

/** Deterministic uniform [-1, 1) numbers. */
function rng(seed: number): () => number {
  const unit = mulberry32(seed);
  return () => unit() * 2 - 1;
}

const random = rng(20240611);
const weights = (shape: number[], scale = 1): NumericTensor => numeric('float32', shape, Array.from({ length: sizeOf(shape) }, () => Math.fround(random() * scale)));
const positive = (shape: number[]): NumericTensor => numeric('float32', shape, Array.from({ length: sizeOf(shape) }, () => Math.fround(0.5 + random() * 0.4)));
const i64 = (values: number[]): NumericTensor => numeric('int64', [values.length], values);

function rows(sample: number[], count: number): NumericTensor {
  return numeric('float32', [count, ...sample], Array.from({ length: count * sizeOf(sample) }, () => Math.fround(random() * 3)));
}

/** The lowered chain and the reference agree on random rows, output by output. */
function expectExactSplit(graph: Graph, sample: number[], count = 5): void {
  const { split } = splitGraph(graph);
  const input = rows(sample, count);
  const want = runGraph(graph, new Map([[split.inputName, input]]));
  const got = runSplit(split, input);
  for (const [name, w] of want) {
    const g = got.get(name)!;
    if (w.kind !== 'numeric' || g.kind !== 'numeric') throw new Error(`output ${name} is not numeric`);
    expect(g.shape).toEqual(w.shape);
    w.data.forEach((v, i) => expect(Math.abs(g.data[i]! - v)).toBeLessThan(1e-9 * Math.max(1, Math.abs(v))));
  }
}

/** W and b of a purely affine single-output graph, found by running it on 0 and on each basis vector. */
function probe(graph: Graph, sample: number[]): { weights: Float64Array; bias: Float64Array; outSize: number } {
  const n = sizeOf(sample);
  const data = new Float64Array((n + 1) * n);
  for (let i = 0; i < n; i++) data[(i + 1) * n + i] = 1;
  const input = numeric('float32', [n + 1, ...sample], data);
  const out = runGraph(graph, new Map([[graph.inputs[0]!.name, input]])).get(graph.outputs[0]!.name)!;
  if (out.kind !== 'numeric') throw new Error('probe needs a numeric output');
  const m = out.data.length / (n + 1);
  const bias = out.data.slice(0, m);
  const w = new Float64Array(m * n);
  for (let i = 0; i < n; i++) for (let r = 0; r < m; r++) w[r * n + i] = out.data[(i + 1) * m + r]! - bias[r]!;
  return { weights: w, bias, outSize: m };
}

function expectMatchesProbe(graph: Graph, sample: number[]): AffineStage {
  const { split } = splitGraph(graph);
  expect(split.body).toHaveLength(1);
  const stage = split.body[0]!;
  if (stage.kind !== 'affine') throw new Error('expected one affine stage');
  const p = probe(graph, sample);
  expect(stage.inSize).toBe(sizeOf(sample));
  expect(stage.outSize).toBe(p.outSize);
  stage.weights.forEach((v, i) => expect(Math.abs(v - p.weights[i]!)).toBeLessThan(1e-12));
  stage.bias.forEach((v, i) => expect(Math.abs(v - p.bias[i]!)).toBeLessThan(1e-12));
  return stage;
}

function single(opset: number, sample: number[], nodes: GraphSpec['nodes'], initializers: GraphSpec['initializers'] = {}): Graph {
  return importGraph({ opset, nodes, inputs: [{ name: 'x', dtype: 'float32', shape: ['N', ...sample] }], outputs: ['y'], initializers });
}

const refusal = (graph: Graph) => refusalOf(() => splitGraph(graph));

describe('Conv as an affine map', () => {
  it('2-D, groups, asymmetric pads, strides and dilations, with bias', () => {
    const g = single(13, [2, 5, 6], [{ opType: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs: { group: int(2), kernel_shape: ints([3, 2]), pads: ints([1, 0, 2, 1]), strides: ints([2, 1]), dilations: ints([1, 2]) } }], {
      w: weights([4, 1, 3, 2]),
      b: weights([4]),
    });
    const stage = expectMatchesProbe(g, [2, 5, 6]);
    expect(stage.sources).toEqual(['n0']);
    expectExactSplit(g, [2, 5, 6]);
  });

  it('1-D with auto_pad SAME_UPPER and no bias', () => {
    const g = single(13, [3, 7], [{ opType: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { auto_pad: str('SAME_UPPER'), strides: ints([2]) } }], { w: weights([2, 3, 4]) });
    expectMatchesProbe(g, [3, 7]);
  });

  it('SAME_LOWER, then Relu and a second Conv: two affine stages around the activation', () => {
    const g = single(13, [1, 6, 6], [
      { opType: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: { auto_pad: str('SAME_LOWER'), kernel_shape: ints([2, 2]) } },
      { opType: 'Relu', inputs: ['c1'], outputs: ['r'] },
      { opType: 'Conv', inputs: ['r', 'w2'], outputs: ['y'], attrs: { strides: ints([2, 2]) } },
    ], { w1: weights([3, 1, 2, 2]), b1: weights([3]), w2: weights([2, 3, 3, 3]) });
    const { split } = splitGraph(g);
    expect(split.body.map((s) => s.kind)).toEqual(['affine', 'activation', 'affine']);
    expectExactSplit(g, [1, 6, 6]);
  });
});

describe('pooling and padding as affine maps', () => {
  it('AveragePool with ceil_mode and count_include_pad', () => {
    const g = single(13, [2, 5, 5], [{ opType: 'AveragePool', inputs: ['x'], outputs: ['y'], attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), ceil_mode: int(1), count_include_pad: int(1) } }]);
    expectMatchesProbe(g, [2, 5, 5]);
  });

  it('AveragePool without count_include_pad divides by the taps inside the input', () => {
    const g = single(13, [1, 4, 5], [{ opType: 'AveragePool', inputs: ['x'], outputs: ['y'], attrs: { kernel_shape: ints([2, 3]), pads: ints([1, 1, 0, 2]) } }]);
    expectMatchesProbe(g, [1, 4, 5]);
  });

  it('GlobalAveragePool → Flatten → Gemm', () => {
    const g = single(13, [3, 4, 4], [
      { opType: 'GlobalAveragePool', inputs: ['x'], outputs: ['p'] },
      { opType: 'Flatten', inputs: ['p'], outputs: ['f'] },
      { opType: 'Gemm', inputs: ['f', 'w', 'b'], outputs: ['y'], attrs: { transB: int(1) } },
    ], { w: weights([2, 3]), b: weights([2]) });
    const stage = expectMatchesProbe(g, [3, 4, 4]);
    expect(stage.sources).toEqual(['n0', 'n2']);
  });

  for (const mode of ['constant', 'reflect', 'edge']) {
    it(`Pad (${mode}) with a constant value and a crop`, () => {
      const g = single(13, [2, 4, 3], [{ opType: 'Pad', inputs: ['x', 'pads', 'value'], outputs: ['y'], attrs: { mode: str(mode) } }], {
        pads: i64([0, 0, 2, -1, 0, 0, 1, 2]),
        value: numeric('float32', [], [0.5]),
      });
      expectMatchesProbe(g, [2, 4, 3]);
    });
  }

  it('Pad before opset 11 (pads and value as attributes)', () => {
    const g = single(9, [1, 3, 3], [{ opType: 'Pad', inputs: ['x'], outputs: ['y'], attrs: { pads: ints([0, 0, 1, 1, 0, 0, 1, 0]), value: float(-2) } }]);
    expectMatchesProbe(g, [1, 3, 3]);
  });
});

describe('linear operators', () => {
  it('Gemm with transB = 0, alpha, beta and a broadcast [1, N] C', () => {
    const g = single(13, [5], [{ opType: 'Gemm', inputs: ['x', 'w', 'c'], outputs: ['y'], attrs: { alpha: float(0.5), beta: float(2) } }], { w: weights([5, 3]), c: weights([1, 3]) });
    expectMatchesProbe(g, [5]);
  });

  it('MatMul on either side, arithmetic with broadcast constants, Neg, Transpose, Concat and reshapes', () => {
    const g = single(13, [3, 4], [
      { opType: 'MatMul', inputs: ['x', 'b'], outputs: ['xb'] }, // [3, 2]
      { opType: 'MatMul', inputs: ['a', 'x'], outputs: ['ax'] }, // [2, 4]
      { opType: 'Transpose', inputs: ['ax'], outputs: ['axT'], attrs: { perm: ints([0, 2, 1]) } }, // [4, 2]
      { opType: 'Sub', inputs: ['k', 'axT'], outputs: ['s'] }, // k [4, 1]
      { opType: 'Div', inputs: ['xb', 'd'], outputs: ['q'] }, // d [2]
      { opType: 'Mul', inputs: ['q', 'm'], outputs: ['qm'] }, // m [1, 1, 2]
      { opType: 'Neg', inputs: ['qm'], outputs: ['nq'] },
      { opType: 'Concat', inputs: ['nq', 's'], outputs: ['cat'], attrs: { axis: int(1) } }, // [7, 2]
      { opType: 'Add', inputs: ['cat', 'cat'], outputs: ['twice'] },
      { opType: 'Reshape', inputs: ['twice', 'shape'], outputs: ['flat'] },
      { opType: 'Unsqueeze', inputs: ['flat', 'axes'], outputs: ['u'] },
      { opType: 'Squeeze', inputs: ['u', 'axes'], outputs: ['y'] },
    ], {
      b: weights([4, 2]),
      a: weights([2, 3]),
      k: weights([4, 1]),
      d: positive([2]),
      m: weights([1, 1, 2]),
      shape: i64([0, -1]),
      axes: i64([2]),
    });
    expectMatchesProbe(g, [3, 4]);
    expectExactSplit(g, [3, 4]);
  });

  it('a body that is the identity plus a constant still counts as work', () => {
    const g = single(13, [3], [{ opType: 'Add', inputs: ['x', 'c'], outputs: ['y'] }], { c: weights([3]) });
    expectMatchesProbe(g, [3]);
  });
});

describe('BatchNormalization', () => {
  const bn = () => ({ scale: positive([3]), bias: weights([3]), mean: weights([3]), var: positive([3]) });

  it('folds into the preceding Gemm (one node, one affine stage naming both)', () => {
    const g = single(15, [4], [
      { opType: 'Gemm', inputs: ['x', 'w', 'c'], outputs: ['h'], attrs: { transB: int(1), alpha: float(1.5), beta: float(0.5) } },
      { opType: 'BatchNormalization', inputs: ['h', 'scale', 'bias', 'mean', 'var'], outputs: ['y'], attrs: { epsilon: float(1e-3) } },
    ], { w: weights([3, 4]), c: weights([3]), ...bn() });
    const lowered = splitGraph(g);
    expect(lowered.foldedBatchNorms).toEqual(['n1']);
    expect(lowered.graph.nodes.map((n) => n.opType)).toEqual(['Gemm']);
    // The folded graph itself still computes the same function.
    const input = rows([4], 6);
    const before = runGraph(g, new Map([['x', input]])).get('y') as NumericTensor;
    const after = runGraph(lowered.graph, new Map([['x', input]])).get('y') as NumericTensor;
    before.data.forEach((v, i) => expect(Math.abs(after.data[i]! - v)).toBeLessThan(1e-9));
    expect(expectMatchesProbe(g, [4]).sources).toEqual(['n0', 'n1']);
  });

  it('folds into the preceding Conv without bias', () => {
    const g = single(15, [2, 4, 4], [
      { opType: 'Conv', inputs: ['x', 'w'], outputs: ['h'], attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) } },
      { opType: 'BatchNormalization', inputs: ['h', 'scale', 'bias', 'mean', 'var'], outputs: ['b'] },
      { opType: 'Relu', inputs: ['b'], outputs: ['r'] },
      { opType: 'Flatten', inputs: ['r'], outputs: ['f'] },
      { opType: 'Gemm', inputs: ['f', 'w2'], outputs: ['y'], attrs: { transB: int(1) } },
    ], { w: weights([3, 2, 3, 3]), w2: weights([2, 48]), ...bn() });
    const lowered = splitGraph(g);
    expect(lowered.foldedBatchNorms).toEqual(['n1']);
    expect(lowered.split.body.map((s) => s.kind)).toEqual(['affine', 'activation', 'affine']);
    expectExactSplit(g, [2, 4, 4]);
  });

  it('stays a diagonal affine map of its own when its input has another reader', () => {
    const g = single(15, [3], [
      { opType: 'Gemm', inputs: ['x', 'w'], outputs: ['h'] },
      { opType: 'BatchNormalization', inputs: ['h', 'scale', 'bias', 'mean', 'var'], outputs: ['b'] },
      { opType: 'Add', inputs: ['b', 'h'], outputs: ['y'] },
    ], { w: weights([3, 3]), ...bn() });
    const lowered = splitGraph(g);
    expect(lowered.foldedBatchNorms).toEqual([]);
    expectMatchesProbe(g, [3]);
  });
});

describe('where the body ends', () => {
  it('a final Sigmoid and Softmax go to the epilogue, the body ends at logits', () => {
    const g = importGraph({
      opset: 13,
      nodes: [
        { opType: 'Gemm', inputs: ['x', 'w'], outputs: ['h'], attrs: { transB: int(1) } },
        { opType: 'Tanh', inputs: ['h'], outputs: ['t'] },
        { opType: 'Gemm', inputs: ['t', 'w2'], outputs: ['logits'], attrs: { transB: int(1) } },
        { opType: 'Softmax', inputs: ['logits'], outputs: ['p'] },
        { opType: 'Sigmoid', inputs: ['logits'], outputs: ['s'] },
        { opType: 'ArgMax', inputs: ['p'], outputs: ['label'], attrs: { axis: int(1) } },
      ],
      inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 4] }],
      outputs: ['p', 's', { name: 'label', dtype: 'int64' }],
      initializers: { w: weights([5, 4]), w2: weights([3, 5]) },
    });
    const { split } = splitGraph(g);
    expect(split.bodyOutput).toBe('logits');
    expect(split.epilogue.map((n) => n.opType)).toEqual(['Softmax', 'Sigmoid', 'ArgMax']);
    expectExactSplit(g, [4]);
  });

  it("a multiclass log-loss probability (skl2onnx: Neg, Exp, Add 1, Reciprocal, ReduceSum, Div) runs on the client", () => {
    const g = importGraph({
      opset: 13,
      nodes: [
        { opType: 'Gemm', inputs: ['x', 'w'], outputs: ['score'], attrs: { transB: int(1) } },
        { opType: 'Neg', inputs: ['score'], outputs: ['n'] },
        { opType: 'Exp', inputs: ['n'], outputs: ['e'] },
        { opType: 'Add', inputs: ['e', 'one'], outputs: ['d'] },
        { opType: 'Reciprocal', inputs: ['d'], outputs: ['p'] },
        { opType: 'ReduceSum', inputs: ['p', 'axes'], outputs: ['total'], attrs: { keepdims: int(1) } },
        { opType: 'Div', inputs: ['p', 'total'], outputs: ['prob'] },
        { opType: 'ArgMax', inputs: ['prob'], outputs: ['label'], attrs: { axis: int(1) } },
      ],
      inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 4] }],
      outputs: ['prob', { name: 'label', dtype: 'int64' }],
      initializers: { w: weights([3, 4]), one: numeric('float32', [1], [1]), axes: i64([1]) },
    });
    const { split } = splitGraph(g);
    // Neg is affine and stays in the body; everything from Exp on is the client's.
    expect(split.bodyOutput).toBe('n');
    expect(split.epilogue.map((n) => n.opType)).toEqual(['Exp', 'Add', 'Reciprocal', 'ReduceSum', 'Div', 'ArgMax']);
    expectExactSplit(g, [4]);
  });

  it('a final Relu is a monotone client step too', () => {
    const g = single(13, [4], [
      { opType: 'Gemm', inputs: ['x', 'w'], outputs: ['h'], attrs: { transB: int(1) } },
      { opType: 'Relu', inputs: ['h'], outputs: ['y'] },
    ], { w: weights([2, 4]) });
    const { split } = splitGraph(g);
    expect(split.body.map((s) => s.kind)).toEqual(['affine']);
    expect(split.epilogue.map((n) => n.opType)).toEqual(['Relu']);
    expectExactSplit(g, [4]);
  });

  it('constant folding: Constant nodes become initializers; dead side branches are dropped', () => {
    const g = single(13, [2, 3], [
      { opType: 'Constant', inputs: [], outputs: ['k'], attrs: { value_float: float(2) } },
      { opType: 'Constant', inputs: [], outputs: ['s'], attrs: { value_ints: ints([0, -1]) } },
      { opType: 'Mul', inputs: ['x', 'k'], outputs: ['m'] },
      { opType: 'Shape', inputs: ['m'], outputs: ['shape'] },
      { opType: 'Gather', inputs: ['shape', 'zero'], outputs: ['batch'], attrs: { axis: int(0) } },
      { opType: 'Reshape', inputs: ['m', 's'], outputs: ['y'] },
    ], { zero: i64([0]) });
    const lowered = splitGraph(g);
    expect(lowered.graph.nodes.map((n) => n.opType)).toEqual(['Mul', 'Reshape']);
    expect(lowered.split.bodyOutputShape).toEqual([6]);
    expectMatchesProbe(g, [2, 3]);
  });
});

describe('refusals name the node and say "not supported for encryption yet"', () => {
  it('MaxPool with its Indices output (the positions of the maxima would leave the client)', () => {
    const g = single(13, [1, 4, 4], [
      { opType: 'Conv', inputs: ['x', 'w'], outputs: ['c'] },
      { opType: 'Relu', inputs: ['c'], outputs: ['r'] },
      { opType: 'MaxPool', inputs: ['r'], outputs: ['p', 'i'], attrs: { kernel_shape: ints([2, 2]) } },
      { opType: 'Flatten', inputs: ['p'], outputs: ['f'] },
      { opType: 'Gemm', inputs: ['f', 'w2'], outputs: ['y'], attrs: { transB: int(1) } },
    ], { w: weights([2, 1, 3, 3]), w2: weights([2, 2]) });
    const e = refusal(g);
    expect(e.code).toBe('NOT_ENCRYPTABLE');
    expect(e.message).toMatch(/^MaxPool node "n2" \(ai\.onnx opset 13\): MaxPool with its Indices output is not supported for encryption yet/);
  });

  it('the product of two encrypted values', () => {
    const g = single(13, [3], [{ opType: 'Mul', inputs: ['x', 'x'], outputs: ['y'] }]);
    expect(refusal(g).message).toMatch(/Mul node "n0".*product of two encrypted values is not supported for encryption yet/);
  });

  it('Softmax followed by more layers', () => {
    const g = single(13, [3], [
      { opType: 'Gemm', inputs: ['x', 'w'], outputs: ['h'] },
      { opType: 'Softmax', inputs: ['h'], outputs: ['s'] },
      { opType: 'Gemm', inputs: ['s', 'w'], outputs: ['y'] },
    ], { w: weights([3, 3]) });
    expect(refusal(g).message).toMatch(/Softmax node "n1".*Softmax inside the network is not supported for encryption yet/);
  });

  it('a layer too large to hold as a dense map', () => {
    const g = single(13, [1, 64, 64], [{ opType: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { pads: ints([1, 1, 1, 1]) } }], { w: weights([16, 1, 3, 3]) });
    expect(refusal(g).message).toMatch(/Conv node "n0".*65536 × 4096 weights .* is not supported for encryption yet/);
  });

  it('a Gemm whose encrypted operand is transposed', () => {
    const g = single(13, [3], [{ opType: 'Gemm', inputs: ['x', 'w'], outputs: ['y'], attrs: { transA: int(1) } }], { w: weights([1, 3]) });
    expect(refusal(g).message).toMatch(/Gemm node "n0".*transA on the encrypted operand/);
  });
});
