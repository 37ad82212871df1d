/**
 * Convolutions in the forms torch exports that the fixtures do not cover — dilation (2-D, 1-D,
 * depthwise) and a 28×28 (MNIST-size) input with stride and padding — on small seeded models:
 * onnxruntime-node gives the reference outputs, the split is exact against them, and the compiled
 * circuit (simulated) agrees with them up to the polynomial error.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { Layout } from '../../compiler/circuit/ir';
import { numeric, type NumericTensor } from '../../compiler/graph/tensor';
import { importModel } from '../../compiler/onnx/import';
import { runSplit } from '../../compiler/chain/run';
import { splitGraph } from '../../compiler/passes/split-graph';
import { compileModel } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { encodeGraph, int, ints, type GraphSpec } from '../helpers/op-harness';
import { mulberry32 } from '../helpers/random';

function seeded(seed: number, shape: number[], spread: number): NumericTensor {
  const next = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return numeric('float32', shape, Array.from({ length: n }, () => Math.fround((next() - 0.5) * spread)));
}

interface Case {
  readonly name: string;
  /** Per-sample input shape. */
  readonly sample: number[];
  readonly conv: Record<string, ReturnType<typeof int>>;
  /** Conv weight shape [M, C/group, k…]. */
  readonly w: number[];
  /** Flattened size after Conv (and AveragePool when `pool`). */
  readonly features: number;
  readonly pool?: boolean;
  readonly layout: Layout;
}

const CASES: readonly Case[] = [
  { name: '2-D conv, dilation 2, padding 2', sample: [1, 8, 8], conv: { dilations: ints([2, 2]), pads: ints([2, 2, 2, 2]) }, w: [3, 1, 3, 3], features: 3 * 8 * 8, layout: 'vector' },
  { name: '1-D conv, dilation 2, stride 2', sample: [2, 16], conv: { dilations: ints([2]), strides: ints([2]), pads: ints([1, 1]) }, w: [4, 2, 3], features: 4 * 7, layout: 'batch' },
  { name: 'depthwise 2-D conv with dilation (groups = channels)', sample: [2, 6, 6], conv: { group: int(2), dilations: ints([1, 2]), pads: ints([0, 1, 0, 1]) }, w: [4, 1, 2, 3], features: 4 * 5 * 4, layout: 'vector' },
  { name: '28×28 input, stride 2, padding 1, then 2×2 average pooling', sample: [1, 28, 28], conv: { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }, w: [2, 1, 3, 3], features: 2 * 7 * 7, pool: true, layout: 'vector' },
];

const CLASSES = 4;

function model(c: Case): Uint8Array {
  const nodes: GraphSpec['nodes'][number][] = [
    { opType: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: c.conv },
    { opType: 'Relu', inputs: ['c'], outputs: ['r'] },
  ];
  let last = 'r';
  if (c.pool) {
    nodes.push({ opType: 'AveragePool', inputs: ['r'], outputs: ['p'], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } });
    last = 'p';
  }
  nodes.push({ opType: 'Flatten', inputs: [last], outputs: ['f'], attrs: { axis: int(1) } });
  nodes.push({ opType: 'Gemm', inputs: ['f', 'g', 'gb'], outputs: ['y'], attrs: { transB: int(1) } });
  return encodeGraph({
    opset: 13,
    inputs: [{ name: 'x', dtype: 'float32', shape: ['N', ...c.sample] }],
    outputs: ['y'],
    nodes,
    initializers: { w: seeded(1, c.w, 1.2), b: seeded(2, [c.w[0]!], 0.4), g: seeded(3, [CLASSES, c.features], 0.6), gb: seeded(4, [CLASSES], 0.2) },
  });
}

async function onnxruntime(bytes: Uint8Array, x: NumericTensor): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(x.data), [...x.shape]) });
    return out['y']!.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe.each(CASES)('$name', (c) => {
  const bytes = model(c);
  const calibration = seeded(11, [150, ...c.sample], 2);
  const test = seeded(12, [30, ...c.sample], 2);

  it('the split reproduces onnxruntime', async () => {
    const want = await onnxruntime(bytes, test);
    const { split } = splitGraph(importModel(bytes, c.name));
    expect(split.body[0]!.kind).toBe('affine');
    const got = runSplit(split, test).get('y') as NumericTensor;
    got.data.forEach((v, i) => expect(Math.abs(v - want[i]!), `value ${i}`).toBeLessThan(1e-4 * (1 + Math.abs(want[i]!))));
  });

  it(`${c.layout} layout: the compiled circuit agrees with onnxruntime up to the polynomial error`, async () => {
    const want = await onnxruntime(bytes, test);
    const options = { calibration, layout: c.layout, degree: 31 };
    const compiled = toCompiledModel(compileModel({ bytes, file: 'conv.onnx' }, options), options, 'test');
    const run = await runCompiled(compiled, test, simulateBackend(compiled));
    const y = run.values.get('y') as NumericTensor;
    const scale = Math.max(...Array.from(want, Math.abs));
    y.data.forEach((v, i) => expect(Math.abs(v - want[i]!), `value ${i}`).toBeLessThan(0.05 * scale));
  });
});
