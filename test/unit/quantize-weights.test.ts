/**
 * Weight quantization of the model's own layers (on the prepared graph, before the trace merges
 * layers with preprocessing): which tensors are weights, which axis is a channel for each layer
 * operator, that preprocessing stays exact, and what the summary says about the real fixtures.
 */
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../compiler/graph/graph';
import { numeric, sizeOf, type NumericTensor } from '../../compiler/graph/tensor';
import { importModelFile } from '../../compiler/onnx/import';
import type { AffineStage } from '../../compiler/chain/stages';
import { prepareGraph } from '../../compiler/passes/split-graph';
import { quantizedSplit } from '../../compiler/pipeline/exact-chain';
import { quantizeGraphWeights } from '../../compiler/quantize/quantize-weights';
import { loadFixture } from '../helpers/fixtures';
import { importGraph, int, ints, type GraphSpec } from '../helpers/op-harness';

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}
const rand = seeded(7);
const tensor = (shape: number[]): NumericTensor => numeric('float32', shape, Array.from({ length: sizeOf(shape) }, () => Math.fround(rand())));

function graph(sample: number[], nodes: GraphSpec['nodes'], initializers: GraphSpec['initializers']): Graph {
  return importGraph({ opset: 13, nodes, inputs: [{ name: 'x', dtype: 'float32', shape: ['N', ...sample] }], outputs: ['y'], initializers });
}

/** Whether every value of each channel lies on the grid max|channel| / levels. */
function onChannelGrids(values: ArrayLike<number>, original: ArrayLike<number>, channelOf: (i: number) => number, bits: number): boolean {
  const levels = 2 ** (bits - 1) - 1;
  const max = new Map<number, number>();
  for (let i = 0; i < original.length; i++) max.set(channelOf(i), Math.max(max.get(channelOf(i)) ?? 0, Math.abs(original[i]!)));
  for (let i = 0; i < values.length; i++) {
    const k = values[i]! / (max.get(channelOf(i))! / levels);
    if (Math.abs(k - Math.round(k)) > 1e-9 || Math.abs(k) > levels + 1e-9) return false;
  }
  return true;
}

describe('quantizeGraphWeights', () => {
  it('quantizes the Gemm weights per output channel and leaves the preprocessing before it exact', () => {
    // x·diag(s) with s spanning six orders of magnitude, then a Gemm with B = [K, N] (channels are columns).
    const s = numeric('float32', [4], [1e-3, 0.5, 20, 1e3].map(Math.fround));
    const b = tensor([4, 3]);
    const g = graph([4], [
      { opType: 'Mul', inputs: ['x', 's'], outputs: ['z'] },
      { opType: 'Gemm', inputs: ['z', 'b'], outputs: ['y'] },
    ], { s, b });
    const { split, quantization } = quantizedSplit(g, 4);
    expect(quantization!.stages).toHaveLength(1);
    expect(quantization!.stages[0]).toMatchObject({ stage: 0, bits: 4, perChannel: true, outSize: 3, inSize: 4 });
    const w = (split.body[0] as AffineStage).weights; // [3 × 4] = B_q' · diag(s)
    const unscaled = w.map((v, i) => v / s.data[i % 4]!);
    const bT = Float64Array.from({ length: 12 }, (_v, i) => b.data[(i % 4) * 3 + Math.floor(i / 4)]!);
    expect(onChannelGrids(unscaled, bT, (i) => Math.floor(i / 4), 4)).toBe(true);
    // Quantizing the merged row instead would round the 1e-3-scaled weights to zero.
    for (let i = 0; i < 12; i++) if (Math.abs(bT[i]!) > Math.max(...[0, 1, 2, 3].map((j) => Math.abs(bT[Math.floor(i / 4) * 4 + j]!))) / 14) expect(w[i]).not.toBe(0);
    const q = quantizeGraphWeights(prepareGraph(g), { bits: 4, perChannel: true });
    expect((q.prepared.graph.initializers.get('s') as NumericTensor).data).toEqual(Float64Array.from(s.data));
  });

  it('uses rows as channels for transB = 1, output channels for Conv, columns for MatMul x·B', () => {
    const bits = 3;
    const cases: { nodes: GraphSpec['nodes']; w: NumericTensor; sample: number[]; channelOf: (i: number) => number }[] = [
      { nodes: [{ opType: 'Gemm', inputs: ['x', 'w'], outputs: ['y'], attrs: { transB: int(1) } }], w: tensor([5, 6]), sample: [6], channelOf: (i) => Math.floor(i / 6) },
      { nodes: [{ opType: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }], w: tensor([6, 5]), sample: [6], channelOf: (i) => i % 5 },
      {
        nodes: [{ opType: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { kernel_shape: ints([2, 2]) } }],
        w: tensor([3, 2, 2, 2]),
        sample: [2, 3, 3],
        channelOf: (i) => Math.floor(i / 8),
      },
    ];
    for (const c of cases) {
      const prepared = prepareGraph(graph(c.sample, c.nodes, { w: c.w }));
      const q = quantizeGraphWeights(prepared, { bits, perChannel: true });
      const got = q.prepared.graph.initializers.get('w') as NumericTensor;
      expect(onChannelGrids(got.data, c.w.data, c.channelOf, bits), c.nodes[0]!.opType).toBe(true);
      // Per channel, not per tensor: a one-grid quantization would fail this for some channel.
      expect(onChannelGrids(got.data, c.w.data, () => 0, bits), c.nodes[0]!.opType).toBe(false);
      expect(q.tensors).toHaveLength(1);
    }
  });

  it('gives a layer its own copy of a weight tensor that something else also reads', () => {
    const w = tensor([4, 4]);
    const g = graph([4], [
      { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'] },
      { opType: 'Add', inputs: ['h', 'w'], outputs: ['y'] },
    ], { w });
    const prepared = prepareGraph(g);
    const q = quantizeGraphWeights(prepared, { bits: 3, perChannel: true });
    expect((q.prepared.graph.initializers.get('w') as NumericTensor).data).toEqual((prepared.graph.initializers.get('w') as NumericTensor).data);
    const copy = q.tensors[0]!.tensor;
    expect(copy).not.toBe('w');
    expect(q.prepared.graph.nodes.find((n) => n.opType === 'MatMul')!.inputs[1]).toBe(copy);
    expect(onChannelGrids((q.prepared.graph.initializers.get(copy) as NumericTensor).data, w.data, (i) => i % 4, 3)).toBe(true);
  });

  it('quantizes exactly the trained layers of the fixtures, BatchNormalization folded in, Scaler not', () => {
    const expectations: Record<string, { layers: number; sources: RegExp[] }> = {
      sk_logreg_breast_cancer: { layers: 1, sources: [/LinearClassifier/] },
      sk_mlp_digits_relu: { layers: 2, sources: [/MatMul/, /MatMul/] },
      pt_mlp_bn_digits: { layers: 2, sources: [/BatchNorm/, /Gemm/] },
    };
    for (const [name, want] of Object.entries(expectations)) {
      const { split, quantization } = quantizedSplit(importModelFile(loadFixture(name).modelPath), 8);
      const q = quantization!;
      expect(q.stages, name).toHaveLength(want.layers);
      q.stages.forEach((s, k) => {
        expect(split.body[s.stage]!.kind, name).toBe('affine');
        expect(s.sources.join(' '), name).toMatch(want.sources[k]!);
        expect(s.sources.join(' '), name).not.toMatch(/Scaler/);
        expect(s.maxAbsError).toBeLessThanOrEqual(s.maxScale / 2 + 1e-15);
      });
    }
  });
});
