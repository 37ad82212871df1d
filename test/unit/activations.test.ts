/**
 * The activation registry against independent references: every ONNX operator it lists runs in
 * the reference interpreter as onnxruntime-node runs it; every exporter pattern it lists is fused
 * into one activation whose split chain computes what onnxruntime computes on the unfused graph;
 * forms the body cannot hold are refused in one sentence; the declared properties (homogeneity,
 * symmetry) hold for the functions; parameters survive the artifact's JSON and bad ones are refused.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ACTIVATIONS, activationFunction, type ActivationParams } from '../../compiler/activations/registry';
import { approximationFromJson, approximationToJson } from '../../compiler/artifact/summary-json';
import { JsonAt } from '../../compiler/artifact/json-read';
import type { Approximation } from '../../compiler/artifact/types';
import type { AttributeValue } from '../../compiler/graph/graph';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { numeric, type NumericTensor } from '../../compiler/graph/tensor';
import { importModel } from '../../compiler/onnx/import';
import { splitGraph } from '../../compiler/passes/split-graph';
import { runSplit } from '../../compiler/chain/run';
import { encodeGraph, float, str, type GraphSpec } from '../helpers/op-harness';
import { mulberry32 } from '../helpers/random';
import { refusalOf } from '../helpers/refusal';

function uniform(shape: number[], seed: number, half: number): NumericTensor {
  const next = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return numeric('float32', shape, Array.from({ length: n }, () => Math.fround((2 * next() - 1) * half)));
}

/** −8 … 8 in steps of 1/16 (0 and the kinks of every default form included), as float32. */
const SWEEP = numeric('float32', [1, 257], Array.from({ length: 257 }, (_v, i) => -8 + i / 16));

async function onnxruntime(bytes: Uint8Array, x: NumericTensor, outputs: readonly string[]): Promise<Map<string, Float64Array>> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(x.data), [...x.shape]) });
    return new Map(outputs.map((o) => [o, Float64Array.from(out[o]!.data as Float32Array)]));
  } finally {
    await session.release();
  }
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    expect(Math.abs(actual[i]! - e), `${what}[${i}]: ${actual[i]} vs ${e}`).toBeLessThanOrEqual(tolerance * (1 + Math.abs(e)));
  }
}

interface OperatorCase {
  readonly opType: string;
  readonly opset: number;
  readonly attrs?: Record<string, AttributeValue>;
  /** Further inputs, as initializers. */
  readonly constants?: Record<string, NumericTensor>;
  readonly x?: NumericTensor;
}

/** Non-default attributes wherever an operator has them, so that reading them is checked too. */
const OPERATOR_CASES: readonly OperatorCase[] = [
  { opType: 'Relu', opset: 14 },
  { opType: 'Sigmoid', opset: 13 },
  { opType: 'Tanh', opset: 13 },
  { opType: 'Gelu', opset: 20 },
  { opType: 'Gelu', opset: 20, attrs: { approximate: str('tanh') } },
  { opType: 'LeakyRelu', opset: 16, attrs: { alpha: float(0.1) } },
  { opType: 'LeakyRelu', opset: 9 },
  { opType: 'PRelu', opset: 16, constants: { slope: numeric('float32', [1], [0.25]) } },
  { opType: 'PRelu', opset: 16, constants: { slope: uniform([3, 1], 5, 1) }, x: uniform([2, 3, 4], 6, 4) },
  { opType: 'Elu', opset: 6, attrs: { alpha: float(0.5) } },
  { opType: 'Selu', opset: 6 },
  { opType: 'Selu', opset: 6, attrs: { alpha: float(1.5), gamma: float(2) } },
  { opType: 'Celu', opset: 12, attrs: { alpha: float(2) } },
  { opType: 'Softplus', opset: 1 },
  { opType: 'Softsign', opset: 1 },
  { opType: 'HardSigmoid', opset: 6, attrs: { alpha: float(0.25), beta: float(0.4) } },
  { opType: 'HardSwish', opset: 14 },
  { opType: 'Mish', opset: 18 },
  { opType: 'Clip', opset: 13, constants: { lo: numeric('float32', [], [0]), hi: numeric('float32', [], [6]) } },
  { opType: 'Clip', opset: 6, attrs: { min: float(-1), max: float(1) } },
  { opType: 'Erf', opset: 13 },
];

describe('activation operators agree with onnxruntime-node', () => {
  it('every operator the registry lists has a case here', () => {
    const listed = ACTIVATIONS.flatMap((r) => r.onnx.map((f) => f.opType));
    expect(listed.filter((op) => !OPERATOR_CASES.some((c) => c.opType === op))).toEqual([]);
  });

  it.each(OPERATOR_CASES.map((c) => [`${c.opType} opset ${c.opset} ${JSON.stringify(c.attrs ?? {})}`, c] as const))('%s', async (_name, c) => {
    const x = c.x ?? SWEEP;
    const spec: GraphSpec = {
      opset: c.opset,
      inputs: [{ name: 'x', dtype: 'float32', shape: [...x.shape] }],
      ...(c.constants ? { initializers: c.constants } : {}),
      nodes: [{ opType: c.opType, inputs: ['x', ...Object.keys(c.constants ?? {})], outputs: ['y'], attrs: c.attrs ?? {} }],
      outputs: ['y'],
    };
    const bytes = encodeGraph(spec);
    const ours = runGraph(importModel(bytes, c.opType), new Map([['x', x]])).get('y') as NumericTensor;
    const theirs = (await onnxruntime(bytes, x, ['y'])).get('y')!;
    expectClose(ours.data, theirs, 2e-6, c.opType);
  });
});

/** x [N, 4] → MatMul → h [N, 6] → the activation's nodes (reading h, writing a) → MatMul → y [N, 3]. */
function mlpWith(opset: number, nodes: GraphSpec['nodes'], constants: Record<string, NumericTensor> = {}): Uint8Array {
  return encodeGraph({
    opset,
    inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 4] }],
    initializers: { w1: uniform([4, 6], 1, 1.5), w2: uniform([6, 3], 2, 1), ...constants },
    nodes: [{ opType: 'MatMul', inputs: ['x', 'w1'], outputs: ['h'] }, ...nodes, { opType: 'MatMul', inputs: ['a', 'w2'], outputs: ['y'] }],
    outputs: ['y'],
  });
}

const scalarF32 = (v: number): NumericTensor => numeric('float32', [], [Math.fround(v)]);

interface PatternCase {
  readonly name: string;
  readonly opset: number;
  readonly nodes: GraphSpec['nodes'];
  readonly constants?: Record<string, NumericTensor>;
  readonly fn: string;
  readonly params?: ActivationParams;
}

const PATTERN_CASES: readonly PatternCase[] = [
  {
    name: 'GELU as torch writes it at opset 17: Div, Erf, Add, Mul, Mul',
    opset: 17,
    nodes: [
      { opType: 'Div', inputs: ['h', 'sqrt2'], outputs: ['g1'] },
      { opType: 'Erf', inputs: ['g1'], outputs: ['g2'] },
      { opType: 'Add', inputs: ['g2', 'one'], outputs: ['g3'] },
      { opType: 'Mul', inputs: ['h', 'g3'], outputs: ['g4'] },
      { opType: 'Mul', inputs: ['g4', 'half'], outputs: ['a'] },
    ],
    constants: { sqrt2: scalarF32(Math.SQRT2), one: scalarF32(1), half: scalarF32(0.5) },
    fn: 'gelu',
  },
  {
    name: 'GELU with the ½ first and 1/√2 as a product',
    opset: 13,
    nodes: [
      { opType: 'Mul', inputs: ['h', 'half'], outputs: ['g0'] },
      { opType: 'Mul', inputs: ['rsqrt2', 'h'], outputs: ['g1'] },
      { opType: 'Erf', inputs: ['g1'], outputs: ['g2'] },
      { opType: 'Add', inputs: ['one', 'g2'], outputs: ['g3'] },
      { opType: 'Mul', inputs: ['g0', 'g3'], outputs: ['a'] },
    ],
    constants: { rsqrt2: scalarF32(Math.SQRT1_2), one: scalarF32(1), half: scalarF32(0.5) },
    fn: 'gelu',
  },
  {
    name: 'SiLU as torch writes it: Sigmoid, Mul',
    opset: 14,
    nodes: [
      { opType: 'Sigmoid', inputs: ['h'], outputs: ['s'] },
      { opType: 'Mul', inputs: ['h', 's'], outputs: ['a'] },
    ],
    fn: 'silu',
  },
  {
    name: 'SiLU with the product the other way round',
    opset: 14,
    nodes: [
      { opType: 'Sigmoid', inputs: ['h'], outputs: ['s'] },
      { opType: 'Mul', inputs: ['s', 'h'], outputs: ['a'] },
    ],
    fn: 'silu',
  },
  {
    name: 'Mish below opset 18: Softplus, Tanh, Mul',
    opset: 17,
    nodes: [
      { opType: 'Softplus', inputs: ['h'], outputs: ['m1'] },
      { opType: 'Tanh', inputs: ['m1'], outputs: ['m2'] },
      { opType: 'Mul', inputs: ['h', 'm2'], outputs: ['a'] },
    ],
    fn: 'mish',
  },
  {
    name: 'HardSwish below opset 14: HardSigmoid(1/6, ½), Mul',
    opset: 13,
    nodes: [
      { opType: 'HardSigmoid', inputs: ['h'], outputs: ['s'], attrs: { alpha: float(1 / 6), beta: float(0.5) } },
      { opType: 'Mul', inputs: ['h', 's'], outputs: ['a'] },
    ],
    fn: 'hard_swish',
  },
  {
    name: 'ReLU6 as Clip(0, 6) inside the network',
    opset: 13,
    nodes: [{ opType: 'Clip', inputs: ['h', 'lo', 'hi'], outputs: ['a'] }],
    constants: { lo: scalarF32(0), hi: scalarF32(6) },
    fn: 'clip',
    params: { min: 0, max: 6 },
  },
  {
    name: 'PRelu with one slope',
    opset: 16,
    nodes: [{ opType: 'PRelu', inputs: ['h', 'slope'], outputs: ['a'] }],
    constants: { slope: numeric('float32', [1], [0.25]) },
    fn: 'leaky_relu',
    params: { alpha: 0.25 },
  },
];

describe('exporter patterns become one activation', () => {
  it.each(PATTERN_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const bytes = mlpWith(c.opset, c.nodes, c.constants);
    const split = splitGraph(importModel(bytes, c.name)).split;
    expect(split.body.map((s) => s.kind)).toEqual(['affine', 'activation', 'affine']);
    const act = split.body[1]!;
    expect(act).toMatchObject({ fn: c.fn, size: 6 });
    expect(act.kind === 'activation' ? act.params : undefined).toEqual(c.params);
    // Every node of the pattern is named in the stage's sources.
    expect(act.sources).toHaveLength(c.nodes.length);
    const x = uniform([16, 4], 3, 3);
    const ours = runSplit(split, x).get('y') as NumericTensor;
    const theirs = (await onnxruntime(bytes, x, ['y'])).get('y')!;
    expectClose(ours.data, theirs, 1e-5, 'y');
  });

  const refusal = (bytes: Uint8Array) => refusalOf(() => splitGraph(importModel(bytes, 'refused')));

  /** The split of `bytes` neither fuses it into `fn` nor changes what it computes: a product stage multiplies the two encrypted values, and the split agrees with onnxruntime. */
  async function unfusedButExact(bytes: Uint8Array, fn: string): Promise<void> {
    const split = splitGraph(importModel(bytes, 'unfused')).split;
    expect(split.body.some((st) => st.kind === 'activation' && st.fn === fn)).toBe(false);
    expect(split.body.map((st) => st.kind)).toContain('product');
    const x = uniform([16, 4], 3, 3);
    const ours = runSplit(split, x).get('y') as NumericTensor;
    const theirs = (await onnxruntime(bytes, x, ['y'])).get('y')!;
    expectClose(ours.data, theirs, 1e-5, 'y');
  }

  it('leaves a pattern whose inner value is read elsewhere unfused', async () => {
    const bytes = encodeGraph({
      opset: 14,
      inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 4] }],
      initializers: { w1: uniform([4, 6], 1, 1), w2: uniform([6, 3], 2, 1) },
      nodes: [
        { opType: 'MatMul', inputs: ['x', 'w1'], outputs: ['h'] },
        { opType: 'Sigmoid', inputs: ['h'], outputs: ['s'] },
        { opType: 'Mul', inputs: ['h', 's'], outputs: ['a'] },
        { opType: 'Add', inputs: ['a', 's'], outputs: ['b'] },
        { opType: 'MatMul', inputs: ['b', 'w2'], outputs: ['y'] },
      ],
      outputs: ['y'],
    });
    // Fused into SiLU, the Add would read a value the fusion removed: x·Sigmoid(x) stays a product of two encrypted values.
    await unfusedButExact(bytes, 'silu');
  });

  it('does not take a near miss for GELU (0.6 where x·Φ(x) has ½)', async () => {
    const c = PATTERN_CASES[0]!;
    await unfusedButExact(mlpWith(c.opset, c.nodes, { ...c.constants, half: scalarF32(0.6) }), 'gelu');
  });

  it('refuses a PRelu with a slope per channel in one sentence', () => {
    const e = refusal(mlpWith(16, [{ opType: 'PRelu', inputs: ['h', 'slope'], outputs: ['a'] }], { slope: uniform([6], 4, 1) }));
    expect(e.code).toBe('NOT_ENCRYPTABLE');
    expect(e.message).toMatch(/PRelu with a different slope per element is not supported for encryption yet/);
    expect(e.message).not.toMatch(/\n/);
  });

  it('refuses a Clip whose bound is computed from the input', () => {
    const e = refusal(
      mlpWith(
        13,
        [
          { opType: 'Add', inputs: ['h', 'one'], outputs: ['m'] },
          { opType: 'Clip', inputs: ['h', '', 'm'], outputs: ['a'] },
        ],
        { one: scalarF32(1) },
      ),
    );
    expect(e.code).toBe('NOT_ENCRYPTABLE');
    expect(e.message).toMatch(/Clip with a max bound computed from the input is not supported for encryption yet/);
  });
});

describe('the records describe their functions', () => {
  const grid = Array.from({ length: 161 }, (_v, i) => -8 + i / 10);
  /** Clip without bounds is the identity; ReLU6 is the form that matters. */
  const typical: Partial<Record<string, ActivationParams>> = { clip: { min: 0, max: 6 } };

  it.each(ACTIVATIONS.map((r) => [r.fn, r] as const))('%s: positive homogeneity and symmetry as declared', (_fn, r) => {
    const params = typical[r.fn] ?? {};
    const f = activationFunction({ fn: r.fn, params });
    const homogeneous = [0.5, 3].every((b) => grid.every((x) => Math.abs(f(b * x) - b * f(x)) <= 1e-12 * (1 + Math.abs(b * x))));
    expect(homogeneous).toBe(r.positivelyHomogeneous);
    const symmetry = r.symmetry(params);
    const oddAbout = (c: number): boolean => grid.every((x) => Math.abs(f(x) + f(-x) - 2 * c) <= 1e-12);
    // f(x) − f(−x) linear: equal to its slope at 1 times x everywhere.
    const slope = f(1) - f(-1);
    const evenPlusLinear = grid.every((x) => Math.abs(f(x) - f(-x) - slope * x) <= 1e-12 * (1 + Math.abs(x)));
    if (symmetry.kind === 'odd') expect(oddAbout(symmetry.about)).toBe(true);
    else if (symmetry.kind === 'even-plus-linear') expect(evenPlusLinear).toBe(true);
    else expect(oddAbout(f(0)) || evenPlusLinear).toBe(false);
  });

  // A MaxPool moves ahead of an activation only when the record says f never decreases (passes/pool-first.ts).
  const negativeSlopes: Partial<Record<string, ActivationParams>> = { leaky_relu: { alpha: -0.5 }, elu: { alpha: -1 }, selu: { alpha: -1, gamma: 1 }, hard_sigmoid: { alpha: -0.2, beta: 0.5 } };
  it.each(ACTIVATIONS.map((r) => [r.fn, r] as const))('%s: non-decreasing as declared, for its usual and a negative slope', (_fn, r) => {
    for (const params of [typical[r.fn] ?? {}, ...(negativeSlopes[r.fn] ? [negativeSlopes[r.fn]!] : [])]) {
      const f = activationFunction({ fn: r.fn, params });
      const rises = grid.every((x, i) => i === 0 || f(x) >= f(grid[i - 1]!));
      expect(rises).toBe(r.nonDecreasing(params));
    }
  });

  it('GELU and SiLU follow their definitions at hand-worked points', () => {
    // x·Φ(x) with Φ(1) = 0.8413447460685429; x·σ(x) with σ(2) = 0.8807970779778823.
    expect(activationFunction({ fn: 'gelu' })(1)).toBeCloseTo(0.8413447460685429, 15);
    expect(activationFunction({ fn: 'gelu' })(-1)).toBeCloseTo(-1 + 0.8413447460685429, 15);
    expect(activationFunction({ fn: 'silu' })(2)).toBeCloseTo(2 * 0.8807970779778823, 15);
    // ELU(−1) = e^−1 − 1; LeakyReLU(−2, α = 0.1) = −0.2; Clip(7; 0, 6) = 6.
    expect(activationFunction({ fn: 'elu', params: { alpha: 1 } })(-1)).toBeCloseTo(Math.exp(-1) - 1, 15);
    expect(activationFunction({ fn: 'leaky_relu', params: { alpha: 0.1 } })(-2)).toBeCloseTo(-0.2, 15);
    expect(activationFunction({ fn: 'clip', params: { min: 0, max: 6 } })(7)).toBe(6);
  });
});

describe('parameters in the artifact', () => {
  const base: Approximation = {
    stage: 1,
    sources: ['/act/LeakyRelu'],
    fn: 'leaky_relu',
    params: { alpha: 0.1 },
    range: [-1, 1],
    method: 'chebyshev',
    degree: 1,
    maxError: 0.5,
    chebyshev: Float64Array.of(0.25, 0.5),
  };

  it('round-trip through manifest JSON, and are absent for an activation without any', () => {
    const json = JSON.parse(JSON.stringify(approximationToJson(base)));
    expect(json.params).toEqual({ alpha: 0.1 });
    expect(approximationFromJson(JsonAt.root(json, 'manifest.json'))).toEqual(base);
    const { params: _p, ...relu } = base;
    const plain = JSON.parse(JSON.stringify(approximationToJson({ ...relu, fn: 'relu' })));
    expect('params' in plain).toBe(false);
  });

  it('a parameter the activation does not have is refused, naming it', () => {
    const json = { ...JSON.parse(JSON.stringify(approximationToJson(base))), params: { beta: 2 } };
    expect(() => approximationFromJson(JsonAt.root(json, 'manifest.json'))).toThrow(/leaky_relu has no parameter "beta"/);
  });
});
