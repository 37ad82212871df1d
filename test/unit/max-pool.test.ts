/**
 * MaxPool as a client step: the windows the trace takes from the ONNX geometry (against maxima
 * worked out by hand, 2-D with stride and padding, overlapping and not, and 1-D with ceil_mode),
 * where a chain with max pools is cut, and the masked max: with hand-picked a > 0 and c, the max
 * of a·y + c over a window is a·max(y) + c, so (z' − c)/a gives back the window's max.
 */
import { describe, expect, it } from 'vitest';
import type { PoolStep } from '../../compiler/artifact/types';
import { applyStages } from '../../compiler/chain/run';
import type { ApproxStage, MaxPoolStage } from '../../compiler/chain/stages';
import type { Circuit } from '../../compiler/circuit/ir';
import { DeepPowersError } from '../../compiler/errors';
import type { Graph } from '../../compiler/graph/graph';
import { numeric } from '../../compiler/graph/tensor';
import { splitGraph } from '../../compiler/passes/split-graph';
import { poolBeforeActivations } from '../../compiler/passes/pool-first';
import { checkPools, splitStages } from '../../compiler/plan/refresh-plan';
import { drawPoolMask, MAX_POOL, poolUnmaskVectors, type PoolMask } from '../../compiler/client-steps/max-pool';
import { drawStepMask, stepBounds } from '../../compiler/client-steps/table';
import { bodyCircuits } from '../../compiler/artifact/segments';
import { compileModel } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { defaultEvaluationsPerRequest } from '../../runtime/run/run-encrypted';
import { encodeGraph, float, importGraph, int, ints, type GraphSpec } from '../helpers/op-harness';
import { mulberry32, signedFloat32s } from '../helpers/random';

/** x → MaxPool → Flatten → Gemm (identity weights, so the output is the pooled values). */
function pooled(sample: number[], attrs: Record<string, ReturnType<typeof ints> | ReturnType<typeof int>>, outputs: number): Graph {
  const eye = numeric('float32', [outputs, outputs], Array.from({ length: outputs * outputs }, (_, i) => (i % (outputs + 1) === 0 ? 1 : 0)));
  return importGraph({
    opset: 13,
    nodes: [
      { opType: 'Add', inputs: ['x', 'zero'], outputs: ['s'] },
      { opType: 'MaxPool', inputs: ['s'], outputs: ['p'], attrs },
      { opType: 'Flatten', inputs: ['p'], outputs: ['f'] },
      { opType: 'Gemm', inputs: ['f', 'eye'], outputs: ['y'], attrs: { transB: int(1) } },
    ],
    inputs: [{ name: 'x', dtype: 'float32', shape: ['N', ...sample] }],
    outputs: ['y'],
    initializers: { eye, zero: numeric('float32', [], [0]) },
  });
}

/** The body up to and including the max pool, on one flattened sample. */
function poolOf(graph: Graph, x: number[]): { values: number[]; stage: MaxPoolStage } {
  const { split } = splitGraph(graph);
  const k = split.body.findIndex((s) => s.kind === 'maxpool');
  expect(k).toBeGreaterThanOrEqual(0);
  const stage = split.body[k] as MaxPoolStage;
  return { values: Array.from(applyStages(split.body.slice(0, k + 1), Float64Array.from(x))), stage };
}

//  1  5  2  0
//  3 -1  4  8
//  7  6 -2  9
//  0 11 10 -3
const IMAGE = [1, 5, 2, 0, 3, -1, 4, 8, 7, 6, -2, 9, 0, 11, 10, -3];

describe('max-pool windows from the ONNX geometry (hand-worked maxima)', () => {
  it('2-D, 2×2 window, stride 2: disjoint windows read the values where they are', () => {
    const { values, stage } = poolOf(pooled([1, 4, 4], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }, 4), IMAGE);
    // {1 5 3 −1} {2 0 4 8} {7 6 0 11} {−2 9 10 −3}
    expect(values).toEqual([5, 8, 11, 10]);
    expect(stage.windows).toEqual([[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]);
    expect(stage.geometry).toBe('2×2 window, strides 2×2, no padding');
  });

  it('2-D, 3×3 window, stride 2, padding 1: padding is left out, overlapping windows are copied apart', () => {
    const { values, stage } = poolOf(pooled([1, 4, 4], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }, 4), IMAGE);
    // rows/cols −1..1 → {1 5 3 −1}; rows −1..1, cols 1..3 → {5 2 0 −1 4 8};
    // rows 1..3, cols −1..1 → {3 −1 7 6 0 11}; rows 1..3, cols 1..3 → {−1 4 8 6 −2 9 11 10 −3}
    expect(values).toEqual([5, 8, 11, 11]);
    expect(stage.windows.map((w) => w.length)).toEqual([4, 6, 6, 9]);
    const all = stage.windows.flat();
    expect(new Set(all).size).toBe(all.length);
  });

  it('1-D, kernel 2, stride 3, ceil_mode: the last window hangs over the end and takes what is inside', () => {
    const { values, stage } = poolOf(pooled([1, 7], { kernel_shape: ints([2]), strides: ints([3]), ceil_mode: int(1) }, 3), [3, -2, 5, 1, 0, 4, -6]);
    // [3 −2] [1 0] [−6]
    expect(values).toEqual([3, 1, -6]);
    expect(stage.windows).toEqual([[0, 1], [3, 4], [6]]);
  });
});

describe('a chain with max pools is cut at each one', () => {
  const affine = (n: number, m: number): ApproxStage => ({ kind: 'affine', sources: ['g'], inSize: n, outSize: m, weights: new Float64Array(n * m), bias: new Float64Array(m) });
  const pool: MaxPoolStage = { kind: 'maxpool', sources: ['p'], inSize: 4, windows: [[0, 1], [2, 3]], geometry: '2 window' };

  it('the segment before ends with the pool input, the one after starts past the pool', () => {
    const stages = [affine(3, 4), pool, affine(2, 1)];
    expect(splitStages(stages, [1])).toEqual([[stages[0]], [stages[2]]]);
  });

  it('refuses a pool with nothing encrypted before or after it, in one line', () => {
    const refused = (stages: ApproxStage[]): string => {
      try {
        checkPools(stages);
      } catch (e) {
        if (e instanceof DeepPowersError) return e.message;
      }
      return 'accepted';
    };
    expect(refused([pool, affine(2, 1)])).toMatch(/^MaxPool \(p\): a max pool on the encrypted input itself is not supported for encryption yet/);
    expect(refused([affine(3, 4), pool])).toMatch(/^MaxPool \(p\): a max pool as the last step of the encrypted part is not supported for encryption yet/);
    expect(refused([affine(3, 4), pool, affine(2, 1)])).toBe('accepted');
  });
});

/** A one-sample vector-layout segment end: output element e in slot e of one ciphertext of 8 slots. */
const FROM: Circuit = {
  layout: 'vector', slots: 8, minSlots: 8, samplesPerCiphertext: 1, inputSize: 4, outputSize: 4,
  inputs: [{ kind: 'replicated', size: 4, period: 4 }],
  outputs: [{ kind: 'slots', slots: [0, 1, 2, 3], elements: [0, 1, 2, 3] }],
  ops: [], constants: [], rotationSteps: [], depth: 0, topLevel: 3, primes: null,
};
/** The next segment reads the 2 pooled values, replicated with period 2. */
const TO: Circuit = { ...FROM, inputSize: 2, outputSize: 1, inputs: [{ kind: 'replicated', size: 2, period: 2 }], outputs: [{ kind: 'slots', slots: [0], elements: [0] }] };
const POOL: PoolStep = { windows: [[0, 1], [2, 3]], geometry: '2 window, stride 2', sources: ['p'] };

describe('the masked max', () => {
  it('with a = 3, c = 100 on [1 5] and a = 2, c = −40 on [3 −1]: the client takes 115 and −34, the server gets back 5 and 3', () => {
    const y = [1, 5, 3, -1];
    // Server: z = a·y + c per window ([103 115] and [−34 −42]); slots 4..7 hold junk under c alone.
    const z = Float64Array.from([103, 115, -34, -42, 7, 7, 7, 7]);
    const fresh = MAX_POOL.clientOperation(FROM, TO, { kind: 'maxpool', pool: POOL }, [z])[0]!;
    // The client's maxima, replicated as the next segment reads them: 115 = 3·5 + 100, −34 = 2·3 − 40.
    expect(Array.from(fresh)).toEqual([115, -34, 115, -34, 115, -34, 115, -34]);
    const mask: PoolMask = { scales: [], offsets: [], windowScales: [Float64Array.from([3, 2])], windowOffsets: [Float64Array.from([100, -40])] };
    const { negOffsets, inverseScales } = poolUnmaskVectors(TO, mask);
    const unmasked = fresh.map((v, i) => (v + negOffsets[0]![i]!) * inverseScales[0]![i]!);
    expect(Array.from(unmasked.slice(0, 2))).toEqual([Math.max(y[0]!, y[1]!), Math.max(y[2]!, y[3]!)]);
  });

  it('a fresh mask: a in [1, 2^octaves] and the same on every slot of a window, c within ±2^σ·B·2^octaves, slots in no window scaled by 1', () => {
    const bounds = { maskBits: 20, maskBound: 2, poolScaleOctaves: 4 };
    const three: PoolStep = { ...POOL, windows: [[0, 1], [3]] };
    const mask = drawPoolMask(FROM, three, bounds);
    const [a, c] = [mask.scales[0]!, mask.offsets[0]!];
    expect(a[0]).toBe(a[1]);
    expect(c[0]).toBe(c[1]);
    expect(a[0]).toBe(mask.windowScales[0]![0]);
    expect(a[3]).toBe(mask.windowScales[0]![1]);
    for (const v of mask.windowScales[0]!) expect(v >= 1 && v <= 16).toBe(true);
    [2, 4, 5, 6, 7].forEach((i) => expect(a[i]).toBe(1));
    for (const v of c) expect(Math.abs(v)).toBeLessThanOrEqual(2 ** 20 * 2 * 16);
  });

  it('in simulation the step gives the window max, to the float64 rounding of |z| ≤ 2^σ·B·2^octaves', () => {
    const bounds = { maskBits: 20, maskBound: 8, poolScaleOctaves: 4 };
    const rows = [Float64Array.from([1, 5, 3, -1]), Float64Array.from([-7.25, -7.5, 0.125, 0])];
    const want = [[5, 3], [-7.25, 0.125]];
    // Hand bound: ulp of 2^(20 + 3 + 4 + 1) is 2^(28 − 52), divided by a ≥ 1.
    const tolerance = 2 ** (28 - 52);
    for (let trial = 0; trial < 20; trial++) {
      MAX_POOL.simulate(rows, { kind: 'maxpool', pool: POOL }, bounds).forEach((r, i) => r.forEach((v, o) => expect(Math.abs(v - want[i]![o]!)).toBeLessThanOrEqual(tolerance)));
    }
  });
});

describe('a small CNN with overlapping, padded max-pool windows, compiled and simulated', () => {
  it('Conv → Relu → MaxPool 3×3 stride 2 pad 1 → Gemm: within the precision promise of the reference interpreter on fresh rows', async () => {
    const r = signedFloat32s(mulberry32(7));
    const spec: GraphSpec = {
      opset: 13,
      nodes: [
        { opType: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: ints([1, 1, 1, 1]) } },
        { opType: 'Relu', inputs: ['c'], outputs: ['h'] },
        { opType: 'MaxPool', inputs: ['h'], outputs: ['p'], attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) } },
        { opType: 'Flatten', inputs: ['p'], outputs: ['f'] },
        { opType: 'Gemm', inputs: ['f', 'w2', 'b2'], outputs: ['y'], attrs: { transB: int(1) } },
      ],
      inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 1, 6, 6] }],
      outputs: ['y'],
      initializers: {
        w: numeric('float32', [2, 1, 3, 3], r(18, 0.5)),
        b: numeric('float32', [2], r(2, 0.1)),
        w2: numeric('float32', [3, 18], r(54, 0.5)),
        b2: numeric('float32', [3], r(3, 0.1)),
      },
    };
    const rows = (n: number) => numeric('float32', [n, 1, 6, 6], r(n * 36));
    const options = { calibration: rows(200) };
    const compilation = compileModel({ bytes: encodeGraph(spec), file: 'cnn-maxpool.onnx' }, options);
    const model = toCompiledModel(compilation, options, 'test');
    // 3×3 windows at stride 2 overlap: 9 outputs per channel read 4, 6 or 9 values each, copied apart.
    expect(model.refresh!.segments[0]!.pool!.windows.map((w) => w.length).slice(0, 9)).toEqual([4, 6, 6, 6, 9, 9, 6, 9, 9]);
    await expectWithinPromise(spec, model, compilation.precision.bound, rows(30));
  });

  it('Conv1d → MaxPool 2 → Relu → Gemm: a pool right after the affine map, and an activation right after the pool (its range map folded into the map before the pool)', async () => {
    const r = signedFloat32s(mulberry32(11));
    const spec = conv1dPoolReluGemm(r);
    const rows = (n: number) => numeric('float32', [n, 1, 9], r(n * 9));
    const options = { calibration: rows(200) };
    const compilation = compileModel({ bytes: encodeGraph(spec), file: 'conv1d-maxpool-relu.onnx' }, options);
    // max(a·x_i + c) = a·max(x_i) + c for a > 0: the Relu's range normalisation goes into the Conv, so the segment after the pool opens with the polynomial.
    expect(compilation.stages.map((st) => st.kind)).toEqual(['affine', 'maxpool', 'poly', 'affine']);
    // 7 conv outputs per channel, floor mode: windows [0 1] [2 3] [4 5], the 7th value in none.
    expect(compilation.refresh!.steps[0]).toMatchObject({ kind: 'maxpool', pool: { windows: [[0, 1], [2, 3], [4, 5], [7, 8], [9, 10], [11, 12]] } });
    await expectWithinPromise(spec, toCompiledModel(compilation, options, 'test'), compilation.precision.bound, rows(30));
  });
});

/** Conv1d (2 channels, kernel 3) → MaxPool 2 → Relu → Gemm to 3 outputs over a 1×9 input, weights drawn from `r`. */
function conv1dPoolReluGemm(r: ReturnType<typeof signedFloat32s>): GraphSpec {
  return {
    opset: 13,
    nodes: [
      { opType: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'] },
      { opType: 'MaxPool', inputs: ['c'], outputs: ['p'], attrs: { kernel_shape: ints([2]), strides: ints([2]) } },
      { opType: 'Relu', inputs: ['p'], outputs: ['h'] },
      { opType: 'Flatten', inputs: ['h'], outputs: ['f'] },
      { opType: 'Gemm', inputs: ['f', 'w2', 'b2'], outputs: ['y'], attrs: { transB: int(1) } },
    ],
    inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 1, 9] }],
    outputs: ['y'],
    initializers: { w: numeric('float32', [2, 1, 3], r(6, 0.7)), b: numeric('float32', [2], r(2, 0.1)), w2: numeric('float32', [3, 6], r(18, 0.5)), b2: numeric('float32', [3], r(3, 0.1)) },
  };
}

describe('the pool mask in batch layout: one circuit per evaluation, one a and c per window', () => {
  it('Conv1d → MaxPool 2 → Relu → Gemm, batch: one mask circuit over the 14 result ciphertexts whose constants are each window\'s a and c (plus what the 2 values in no window get), and one unmask circuit over the 6 maxima', () => {
    const unit = mulberry32(3);
    const r = signedFloat32s(unit);
    const spec = conv1dPoolReluGemm(r);
    const options = { calibration: numeric('float32', [100, 1, 9], r(900)), layout: 'batch' as const };
    const model = toCompiledModel(compileModel({ bytes: encodeGraph(spec), file: 'conv1d-maxpool-relu.onnx' }, options), options, 'test');
    const [from, to] = bodyCircuits(model);
    const step = { kind: 'maxpool' as const, pool: model.refresh!.segments[0]!.pool! };
    const drawn = drawStepMask(step, { from: from!, to: to!, top: from! }, stepBounds(model.refresh!));
    // Batch layout: ciphertext k is element k of every sample; windows [0 1] [2 3] [4 5] [7 8] [9 10] [11 12], elements 6 and 13 in none.
    expect(drawn.mask.map((g) => g.ciphertexts)).toEqual([Array.from({ length: 14 }, (_, k) => k)]);
    // Per window a and c (shared by its two ciphertexts), and for the two loose ones a scale of 1 (one vector) and an offset each: 12 + 1 + 2.
    expect(drawn.mask[0]!.circuit.constants).toHaveLength(2 * 6 + 1 + 2);
    expect(drawn.unmask.map((g) => g.ciphertexts)).toEqual([[0, 1, 2, 3, 4, 5]]);
    // predict --mode fhe puts as many evaluations in a request as keep 64 ciphertexts per segment side: 64 / 14 → 4.
    expect(defaultEvaluationsPerRequest([from!, to!], 100)).toBe(4);
    expect(defaultEvaluationsPerRequest([from!, to!], 3)).toBe(3);
    expect(defaultEvaluationsPerRequest([from!], 100)).toBe(1);
  });
});

/** The compiled model in simulation against the reference interpreter, output by output, within `bound`. */
async function expectWithinPromise(spec: GraphSpec, model: ReturnType<typeof toCompiledModel>, bound: number, test: ReturnType<typeof numeric>): Promise<void> {
  const want = runGraph(importGraph(spec), new Map([['x', test]])).get('y')!;
  const got = (await runCompiled(model, test, simulateBackend(model))).values.get('y')!;
  if (want.kind !== 'numeric' || got.kind !== 'numeric') throw new Error('numeric outputs expected');
  got.data.forEach((v, i) => expect(Math.abs(v - want.data[i]!), `value ${i}`).toBeLessThanOrEqual(bound));
}

describe('a max pool after an activation that never decreases runs ahead of it (passes/pool-first.ts)', () => {
  /** Conv 1→2 (3 taps) → `activation` → MaxPool 2 → Flatten → Gemm, on 9 values. */
  function convActPool(activation: GraphSpec['nodes'][number]): GraphSpec {
    const unit = mulberry32(5);
    const r = signedFloat32s(unit);
    return {
      opset: 13,
      nodes: [
        { opType: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'] },
        activation,
        { opType: 'MaxPool', inputs: ['h'], outputs: ['p'], attrs: { kernel_shape: ints([2]), strides: ints([2]) } },
        { opType: 'Flatten', inputs: ['p'], outputs: ['f'] },
        { opType: 'Gemm', inputs: ['f', 'w2', 'b2'], outputs: ['y'], attrs: { transB: int(1) } },
      ],
      inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 1, 9] }],
      outputs: ['y'],
      initializers: { w: numeric('float32', [2, 1, 3], r(6, 0.7)), b: numeric('float32', [2], r(2, 0.1)), w2: numeric('float32', [3, 6], r(18, 0.5)), b2: numeric('float32', [3], r(3, 0.1)) },
    };
  }
  const shape = (spec: GraphSpec): string[] => splitGraph(importGraph(spec)).split.body.map((s) => (s.kind === 'activation' ? `${s.fn} ×${s.size}` : s.kind === 'maxpool' ? `maxpool ${s.inSize}→${s.windows.length}` : 'affine'));

  it('Relu, and LeakyRelu with a positive slope, move behind the pool; the exact chain still computes the model (reference interpreter)', () => {
    const unit = mulberry32(9);
    const x = numeric('float32', [20, 1, 9], Array.from({ length: 180 }, () => Math.fround(unit() * 4 - 2)));
    for (const act of [{ opType: 'Relu', inputs: ['c'], outputs: ['h'] }, { opType: 'LeakyRelu', inputs: ['c'], outputs: ['h'], attrs: { alpha: float(0.1) } }]) {
      const spec = convActPool(act);
      // 7 conv outputs per channel (14), 3 windows per channel: the activation now runs on the 6 pooled values.
      expect(shape(spec)).toEqual(['affine', 'maxpool 14→6', `${act.opType === 'Relu' ? 'relu' : 'leaky_relu'} ×6`, 'affine']);
      const { split } = splitGraph(importGraph(spec));
      expect((split.body[1] as MaxPoolStage).geometry).toMatch(/; taken ahead of the (ReLU|LeakyReLU) \(.+\) that it follows in the model, which never decreases, so the client sees that activation's inputs$/);
      const want = runGraph(importGraph(spec), new Map([['x', x]])).get('y')!;
      if (want.kind !== 'numeric') throw new Error('numeric output expected');
      for (let row = 0; row < 20; row++) {
        const got = applyStages(split.body, Float64Array.from(x.data.slice(row * 9, row * 9 + 9)));
        got.forEach((v, o) => expect(Math.abs(v - want.data[row * 3 + o]!)).toBeLessThan(1e-5));
      }
    }
  });

  it('stays where the activation can decrease (LeakyRelu with a negative slope, SiLU)', () => {
    const negative = convActPool({ opType: 'LeakyRelu', inputs: ['c'], outputs: ['h'], attrs: { alpha: float(-0.5) } });
    expect(shape(negative)).toEqual(['affine', 'leaky_relu ×14', 'maxpool 14→6', 'affine']);
    const sigmoid = convActPool({ opType: 'Sigmoid', inputs: ['c'], outputs: ['s'] });
    const silu = { ...sigmoid, nodes: [...sigmoid.nodes.slice(0, 2), { opType: 'Mul', inputs: ['c', 's'], outputs: ['h'] }, ...sigmoid.nodes.slice(2)] };
    expect(shape(silu)).toEqual(['affine', 'silu ×14', 'maxpool 14→6', 'affine']);
  });

  it('stays where the pool would read the encrypted input itself or follow another pool', () => {
    const act = { kind: 'activation', fn: 'relu', sources: ['r'], size: 4 } as const;
    const pool: MaxPoolStage = { kind: 'maxpool', sources: ['p'], inSize: 4, windows: [[0, 1], [2, 3]], geometry: '2 window' };
    const map = { kind: 'affine', sources: ['g'], inSize: 2, outSize: 4, weights: new Float64Array(8), bias: new Float64Array(4) } as const;
    expect(poolBeforeActivations([act, pool, map]).map((s) => s.kind)).toEqual(['activation', 'maxpool', 'affine']);
    expect(poolBeforeActivations([map, pool, act, pool, map]).map((s) => s.kind)).toEqual(['affine', 'maxpool', 'activation', 'maxpool', 'affine']);
    expect(poolBeforeActivations([map, act, pool, map]).map((s) => s.kind)).toEqual(['affine', 'maxpool', 'activation', 'affine']);
  });
});
