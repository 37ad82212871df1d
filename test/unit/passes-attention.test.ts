/**
 * The graph side of transformers: shape arithmetic folded (fold-shapes), products of two
 * encrypted values as product stages, Softmax and LayerNorm (both exports) as row-wise stages,
 * and the linear operators around them (ReduceMean, Gather, Slice, Concat with a constant). Each
 * split — client prologue, body stages in float64, client epilogue — must compute what the ONNX
 * reference interpreter computes on the original graph, at a batch size other than one.
 */
import { describe, expect, it } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import type { Graph } from '../../compiler/graph/graph';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { numeric, sizeOf, type NumericTensor } from '../../compiler/graph/tensor';
import { runSplit } from '../../compiler/chain/run';
import type { SplitModel } from '../../compiler/chain/stages';
import { foldConstants } from '../../compiler/passes/constant-fold';
import { foldShapes } from '../../compiler/passes/fold-shapes';
import { removeDeadNodes } from '../../compiler/passes/dead-code';
import { splitGraph } from '../../compiler/passes/split-graph';
import { f64, float, i64, importGraph, int, ints, type GraphSpec } from '../helpers/op-harness';
import { mulberry32 } from '../helpers/random';

const BATCH = 3;

function model(sample: number[], nodes: GraphSpec['nodes'], initializers: GraphSpec['initializers'] = {}, opset = 17): Graph {
  return importGraph({ opset, nodes, inputs: [{ name: 'x', dtype: 'float64', shape: ['N', ...sample] }], outputs: [{ name: 'y', dtype: 'float64' }], initializers });
}

function weights(shape: number[], seed: number): NumericTensor {
  const r = mulberry32(seed);
  return f64(shape, Array.from({ length: sizeOf(shape) }, () => r() - 0.5));
}

/** The split, checked against the reference interpreter on BATCH random rows. */
function splitMatches(g: Graph, sample: number[], seed = 1): SplitModel {
  const { split } = splitGraph(g);
  const r = mulberry32(seed);
  const x = numeric('float64', [BATCH, ...sample], Array.from({ length: BATCH * sizeOf(sample) }, () => 2 * r() - 1));
  const want = runGraph(g, new Map([['x', x]])).get('y') as NumericTensor;
  const got = runSplit(split, x).get('y') as NumericTensor;
  expect(got.shape).toEqual(want.shape);
  got.data.forEach((v, i) => expect(Math.abs(v - want.data[i]!)).toBeLessThan(1e-12));
  return split;
}

const kinds = (split: SplitModel): string[] => split.body.map((s) => s.kind);

describe('fold-shapes', () => {
  // Heads split out of the last axis with a target built from Shape, as torch writes it.
  const heads = model([4, 6], [
    { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'] },
    { opType: 'Shape', inputs: ['h'], outputs: ['s'] },
    { opType: 'Gather', inputs: ['s', 'zero'], outputs: ['b'], attrs: { axis: int(0) } },
    { opType: 'Gather', inputs: ['s', 'one'], outputs: ['t'], attrs: { axis: int(0) } },
    { opType: 'Unsqueeze', inputs: ['b', 'axes'], outputs: ['b1'] },
    { opType: 'Unsqueeze', inputs: ['t', 'axes'], outputs: ['t1'] },
    { opType: 'Concat', inputs: ['b1', 't1', 'two', 'three'], outputs: ['target'], attrs: { axis: int(0) } },
    { opType: 'Reshape', inputs: ['h', 'target'], outputs: ['r'] },
    { opType: 'Transpose', inputs: ['r'], outputs: ['y'], attrs: { perm: ints([0, 2, 1, 3]) } },
  ], { w: weights([6, 6], 2), zero: i64([], [0]), one: i64([], [1]), axes: i64([1], [0]), two: i64([1], [2]), three: i64([1], [3]) });

  it('a Reshape target made from Shape becomes a constant whose batch entry is −1 (B at every batch size, wherever the batch axis sits), and the split runs', () => {
    const folded = removeDeadNodes(foldConstants(foldShapes(foldConstants(heads))));
    const reshape = folded.nodes.find((n) => n.opType === 'Reshape')!;
    const target = folded.initializers.get(reshape.inputs[1]!) as NumericTensor;
    expect(Array.from(target.data)).toEqual([-1, 4, 2, 3]);
    expect(folded.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Reshape', 'Transpose']);
    expect(kinds(splitMatches(heads, [4, 6]))).toEqual(['affine']);
  });

  it('a Reshape target with a multiple of the batch (torch\'s B·heads) becomes −1 too, and the split runs', () => {
    // [B, 4, 6] → [B·2, 4, 3]: each sample's two halves of its feature axis stacked in the batch axis.
    const g = model([4, 6], [
      { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'] },
      { opType: 'Shape', inputs: ['h'], outputs: ['s'] },
      { opType: 'Gather', inputs: ['s', 'zero'], outputs: ['b'], attrs: { axis: int(0) } },
      { opType: 'Mul', inputs: ['b', 'two0'], outputs: ['b2'] },
      { opType: 'Unsqueeze', inputs: ['b2', 'axes'], outputs: ['b1'] },
      { opType: 'Concat', inputs: ['b1', 'four', 'three'], outputs: ['target'], attrs: { axis: int(0) } },
      { opType: 'Reshape', inputs: ['h', 'target'], outputs: ['r'] },
      { opType: 'Reshape', inputs: ['r', 'back'], outputs: ['y'] },
    ], { w: weights([6, 6], 3), zero: i64([], [0]), two0: i64([], [2]), axes: i64([1], [0]), four: i64([1], [4]), three: i64([1], [3]), back: i64([2], [-1, 24]) });
    const folded = removeDeadNodes(foldConstants(foldShapes(foldConstants(g))));
    const reshape = folded.nodes.find((n) => n.opType === 'Reshape')!;
    expect(Array.from((folded.initializers.get(reshape.inputs[1]!) as NumericTensor).data)).toEqual([-1, 4, 3]);
    expect(kinds(splitMatches(g, [4, 6]))).toEqual(['affine']);
  });

  it('a CLS token expanded to the batch becomes a per-sample constant that Concat puts before the tokens', () => {
    const g = model([3, 4], [
      { opType: 'Shape', inputs: ['x'], outputs: ['s'] },
      { opType: 'Gather', inputs: ['s', 'zero'], outputs: ['b'], attrs: { axis: int(0) } },
      { opType: 'Unsqueeze', inputs: ['b', 'axes'], outputs: ['b1'] },
      { opType: 'Concat', inputs: ['b1', 'one', 'four'], outputs: ['target'], attrs: { axis: int(0) } },
      { opType: 'Expand', inputs: ['cls', 'target'], outputs: ['c'] },
      { opType: 'Concat', inputs: ['c', 'x'], outputs: ['tokens'], attrs: { axis: int(1) } },
      { opType: 'MatMul', inputs: ['tokens', 'w'], outputs: ['y'] },
    ], { zero: i64([], [0]), axes: i64([1], [0]), one: i64([1], [1]), four: i64([1], [4]), cls: weights([1, 1, 4], 3), w: weights([4, 2], 4) });
    const split = splitMatches(g, [3, 4]);
    expect(kinds(split)).toEqual(['affine']);
    expect(split.bodyOutputShape).toEqual([4, 2]);
  });

  it('leaves a shape that multiplies the batch (the trace then names the node)', () => {
    const g = model([4], [
      { opType: 'Shape', inputs: ['x'], outputs: ['s'] },
      { opType: 'Gather', inputs: ['s', 'zero'], outputs: ['b'], attrs: { axis: int(0) } },
      { opType: 'Mul', inputs: ['b', 'two'], outputs: ['b2'] },
      { opType: 'Unsqueeze', inputs: ['b2', 'axes'], outputs: ['b1'] },
      { opType: 'Concat', inputs: ['b1', 'half'], outputs: ['target'], attrs: { axis: int(0) } },
      { opType: 'Reshape', inputs: ['x', 'target'], outputs: ['y'] },
    ], { zero: i64([], [0]), two: i64([], [2]), axes: i64([1], [0]), half: i64([1], [2]) });
    const folded = foldShapes(foldConstants(g));
    expect(folded.nodes.map((n) => n.opType)).toContain('Shape');
    expect(() => splitGraph(g)).toThrow(DeepPowersError);
  });
});

describe('products of two encrypted values', () => {
  it('self-attention (x·Wq)(x·Wk)ᵀ/√d → Softmax → ·(x·Wv): gathers, product stages and a row-wise Softmax', () => {
    const g = model([3, 4], [
      { opType: 'MatMul', inputs: ['x', 'wq'], outputs: ['q'] },
      { opType: 'MatMul', inputs: ['x', 'wk'], outputs: ['k'] },
      { opType: 'MatMul', inputs: ['x', 'wv'], outputs: ['v'] },
      { opType: 'Transpose', inputs: ['k'], outputs: ['kt'], attrs: { perm: ints([0, 2, 1]) } },
      { opType: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
      { opType: 'Div', inputs: ['s', 'root'], outputs: ['scaled'] },
      { opType: 'Softmax', inputs: ['scaled'], outputs: ['a'], attrs: { axis: int(-1) } },
      { opType: 'MatMul', inputs: ['a', 'v'], outputs: ['y'] },
    ], { wq: weights([4, 4], 5), wk: weights([4, 4], 6), wv: weights([4, 4], 7), root: f64([], [2]) });
    const split = splitMatches(g, [3, 4]);
    // Q and K maps, Q·Kᵀ, its sums (scaled), Softmax, the V map, A·V (reading Softmax's output as it is), the sums.
    expect(kinds(split)).toEqual(['affine', 'affine', 'product', 'affine', 'rowwise', 'affine', 'product', 'affine']);
    // Q·Kᵀ: 3 × 3 scores of 4 products each; A·V: 3 × 4 outputs of 3 products each.
    expect(split.body.filter((s) => s.kind === 'product').map((s) => s.kind === 'product' && s.size)).toEqual([36, 36]);
  });

  it('Mul of two encrypted values (broadcast) and Pow(x, 2); the input and a product are read as they are, not through a map', () => {
    const g = model([2, 3], [
      { opType: 'ReduceSum', inputs: ['x', 'last'], outputs: ['r'], attrs: { keepdims: int(1) } },
      { opType: 'Mul', inputs: ['x', 'r'], outputs: ['m'] },
      { opType: 'Pow', inputs: ['m', 'two'], outputs: ['y'] },
    ], { last: i64([1], [-1]), two: f64([], [2]) });
    expect(kinds(splitMatches(g, [2, 3]))).toEqual(['affine', 'product', 'product']);
  });
});

describe('row-wise stages', () => {
  it('Softmax along a middle axis: rows gathered from it and put back', () => {
    const g = model([3, 4], [
      { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'] },
      { opType: 'Softmax', inputs: ['h'], outputs: ['s'], attrs: { axis: int(1) } },
      { opType: 'MatMul', inputs: ['s', 'w'], outputs: ['y'] },
    ], { w: weights([4, 4], 8) });
    const split = splitMatches(g, [3, 4]);
    // The map before it centres the rows and gathers them together; the map after puts them back (composed with W).
    expect(split.body.map((s) => (s.kind === 'rowwise' ? `${s.fn.kind}/${s.rowLength}` : s.kind))).toEqual(['affine', 'softmax/3', 'affine']);
  });

  it('LayerNormalization (opset 17) with scale and shift, and torch\'s opset-14 LayerNorm fused to the same stage', () => {
    const ln17 = model([2, 5], [
      { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'] },
      { opType: 'LayerNormalization', inputs: ['h', 'gamma', 'beta'], outputs: ['y'], attrs: { axis: int(-1), epsilon: float(1e-5) } },
    ], { w: weights([5, 5], 9), gamma: weights([5], 10), beta: weights([5], 11) });
    expect(kinds(splitMatches(ln17, [2, 5]))).toEqual(['affine', 'rowwise', 'affine']);
    const ln14 = model([2, 5], [
      { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'] },
      { opType: 'ReduceMean', inputs: ['h'], outputs: ['m'], attrs: { axes: ints([-1]) } },
      { opType: 'Sub', inputs: ['h', 'm'], outputs: ['d'] },
      { opType: 'Pow', inputs: ['d', 'two'], outputs: ['p'] },
      { opType: 'ReduceMean', inputs: ['p'], outputs: ['v'], attrs: { axes: ints([-1]) } },
      { opType: 'Add', inputs: ['v', 'eps'], outputs: ['a'] },
      { opType: 'Sqrt', inputs: ['a'], outputs: ['s'] },
      { opType: 'Div', inputs: ['d', 's'], outputs: ['n'] },
      { opType: 'Mul', inputs: ['n', 'gamma'], outputs: ['g'] },
      { opType: 'Add', inputs: ['g', 'beta'], outputs: ['y'] },
    ], { w: weights([5, 5], 9), two: f64([], [2]), eps: f64([], [1e-5]), gamma: weights([5], 10), beta: weights([5], 11) }, 14);
    const split = splitMatches(ln14, [2, 5]);
    expect(split.body.map((s) => (s.kind === 'rowwise' ? `${s.fn.kind}/${s.rowLength}` : s.kind))).toEqual(['affine', 'layernorm/5', 'affine']);
  });
});

describe('linear operators read off their kernels', () => {
  it('ReduceMean over a sample axis, Gather of one token, Slice with steps, each one affine map', () => {
    const g = model([4, 6], [
      { opType: 'Slice', inputs: ['x', 'starts', 'ends', 'axes', 'steps'], outputs: ['s'] },
      { opType: 'ReduceMean', inputs: ['s'], outputs: ['m'], attrs: { axes: ints([1]), keepdims: int(1) } },
      { opType: 'Concat', inputs: ['m', 's'], outputs: ['c'], attrs: { axis: int(1) } },
      { opType: 'Gather', inputs: ['c', 'index'], outputs: ['y'], attrs: { axis: int(1) } },
    ], { starts: i64([1], [1]), ends: i64([1], [6]), axes: i64([1], [-1]), steps: i64([1], [2]), index: i64([2], [0, -1]) });
    expect(kinds(splitMatches(g, [4, 6]))).toEqual(['affine']);
  });

  it('refuses a Gather along the batch axis', () => {
    const g = model([4], [{ opType: 'Gather', inputs: ['x', 'index'], outputs: ['y'], attrs: { axis: int(0) } }], { index: i64([1], [0]) });
    expect(() => splitGraph(g)).toThrow(/Gather along the batch axis is not supported for encryption yet/);
  });
});

describe('an embedding on token ids', () => {
  it('is a client one-hot (negative ids counted from the end, as Gather does) times the table on the server', () => {
    const g = importGraph({
      opset: 17,
      inputs: [{ name: 'x', dtype: 'int64', shape: ['N', 3] }],
      outputs: [{ name: 'y', dtype: 'float64' }],
      initializers: { table: weights([5, 2], 12), w: weights([2, 2], 13) },
      nodes: [
        { opType: 'Gather', inputs: ['table', 'x'], outputs: ['e'], attrs: { axis: int(0) } },
        { opType: 'MatMul', inputs: ['e', 'w'], outputs: ['y'] },
      ],
    });
    const { split } = splitGraph(g);
    expect(split.prologue.map((n) => n.opType)).toEqual(['Unsqueeze', 'Equal', 'Equal', 'Cast', 'Cast', 'Add']);
    expect(kinds(split)).toEqual(['affine']);
    expect(split.body[0]!.kind === 'affine' && split.body[0]!.inSize).toBe(3 * 5);
    const x = numeric('int64', [2, 3], [0, 4, -1, 3, -5, 2]);
    const want = runGraph(g, new Map([['x', x]])).get('y') as NumericTensor;
    const got = runSplit(split, x).get('y') as NumericTensor;
    got.data.forEach((v, i) => expect(Math.abs(v - want.data[i]!)).toBeLessThan(1e-12));
  });
});

describe('a final Softmax', () => {
  it('stays the client\'s step after the logits, not a row-wise stage of the body', () => {
    const g = model([4], [
      { opType: 'Gemm', inputs: ['x', 'w'], outputs: ['h'] },
      { opType: 'Relu', inputs: ['h'], outputs: ['r'] },
      { opType: 'Gemm', inputs: ['r', 'w'], outputs: ['logits'] },
      { opType: 'Softmax', inputs: ['logits'], outputs: ['y'], attrs: { axis: int(1) } },
    ], { w: weights([4, 4], 14) });
    const split = splitMatches(g, [4]);
    expect(kinds(split)).toEqual(['affine', 'activation', 'affine']);
    expect(split.bodyOutput).toBe('logits');
    expect(split.epilogue.map((n) => n.opType)).toEqual(['Softmax']);
  });
});
