/**
 * ai.onnx.ml models through the passes: LinearClassifier/LinearRegressor split into an affine body
 * and an identity post-node on the client, Scaler fused into the first affine map, Normalizer and a
 * rounding Cast as client prologue. Each split must reproduce the reference exactly.
 */
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { numeric, type NumericTensor, type Value } from '../../compiler/graph/tensor';
import { importModel } from '../../compiler/onnx/import';
import { expandLinearMl } from '../../compiler/passes/expand-linear-ml';
import { splitGraph } from '../../compiler/passes/split-graph';
import { runSplit } from '../../compiler/chain/run';

const { onnx } = onnxProto;
const A = onnx.AttributeProto.AttributeType;
const utf8 = new TextEncoder();

type Attr = number | string | readonly number[] | readonly string[] | { readonly f: number };

function attribute(name: string, v: Attr): onnxProto.onnx.IAttributeProto {
  if (typeof v === 'number') return { name, type: A.INT, i: v };
  if (typeof v === 'string') return { name, type: A.STRING, s: utf8.encode(v) };
  if ('f' in v) return { name, type: A.FLOAT, f: v.f };
  if (v.length > 0 && typeof v[0] === 'string') return { name, type: A.STRINGS, strings: (v as string[]).map((s) => utf8.encode(s)) };
  const nums = v as readonly number[];
  return nums.every(Number.isInteger) && name.startsWith('class') ? { name, type: A.INTS, ints: [...nums] } : { name, type: A.FLOATS, floats: [...nums] };
}

interface NodeSpec {
  readonly op: string;
  readonly ml?: boolean;
  readonly inputs: string[];
  readonly outputs: string[];
  readonly attrs?: Record<string, Attr>;
}

const ELEM = { float32: 1, int64: 7, string: 8 } as const;

function model(nodes: NodeSpec[], input: { name: string; dtype: keyof typeof ELEM; features: number }, outputs: { name: string; dtype: keyof typeof ELEM }[]): Uint8Array {
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'deeppowers-tests',
      opsetImport: [
        { domain: '', version: 15 },
        { domain: 'ai.onnx.ml', version: 1 },
      ],
      graph: {
        name: 'ml-test',
        node: nodes.map((n, i) => ({
          name: `${n.op}${i}`,
          opType: n.op,
          domain: n.ml ? 'ai.onnx.ml' : '',
          input: n.inputs,
          output: n.outputs,
          attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
        })),
        input: [{ name: input.name, type: { tensorType: { elemType: ELEM[input.dtype], shape: { dim: [{ dimParam: 'N' }, { dimValue: input.features }] } } } }],
        output: outputs.map((o) => ({ name: o.name, type: { tensorType: { elemType: ELEM[o.dtype] } } })),
      },
    }),
  ).finish();
}

const ROWS = [
  [0.5, -1.25, 2, 0.75],
  [-0.3, 0.8, -1.1, 2.4],
  [1.9, 0.1, 0.2, -0.6],
  [0, 0, 0, 1e-3],
  [-2.5, 1.5, 0.25, 0.5],
];

function input(dtype: 'float32' | 'int64', rows = ROWS): NumericTensor {
  const data = rows.flat().map((v) => (dtype === 'int64' ? Math.round(v * 4) : Math.fround(v)));
  return numeric(dtype, [rows.length, rows[0]!.length], data);
}

function expectSameOutputs(got: Map<string, Value>, want: Map<string, Value>): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, w] of want) {
    const g = got.get(name)!;
    if (w.kind === 'sequence-of-maps' || g.kind === 'sequence-of-maps') throw new Error('maps are not used here');
    expect(g.dtype).toBe(w.dtype);
    expect(g.shape).toEqual(w.shape);
    if (w.kind === 'string') expect(g.data).toEqual(w.data);
    else w.data.forEach((v, i) => expect(Math.abs((g.data[i] as number) - v)).toBeLessThan(1e-12));
  }
}

describe('ai.onnx.ml linear models', () => {
  it('binary LinearClassifier with one score row, string labels and LOGISTIC; Normalizer as prologue, Scaler fused', () => {
    const bytes = model(
      [
        { op: 'Normalizer', ml: true, inputs: ['x'], outputs: ['xn'], attrs: { norm: 'L2' } },
        { op: 'Scaler', ml: true, inputs: ['xn'], outputs: ['xs'], attrs: { offset: [0.1, -0.2, 0.3, 0], scale: [2, 0.5, 1.5, 3] } },
        {
          op: 'LinearClassifier',
          ml: true,
          inputs: ['xs'],
          outputs: ['label', 'scores'],
          attrs: { coefficients: [0.7, -1.2, 0.4, 2.1], intercepts: [-0.3], classlabels_strings: ['neg', 'pos'], post_transform: 'LOGISTIC' },
        },
      ],
      { name: 'x', dtype: 'float32', features: 4 },
      [
        { name: 'label', dtype: 'string' },
        { name: 'scores', dtype: 'float32' },
      ],
    );
    const graph = importModel(bytes, 'binary');
    const { split } = splitGraph(graph);
    expect(split.prologue.map((n) => n.opType)).toEqual(['Normalizer']);
    expect(split.bodyInput).toBe('xn');
    expect(split.body).toHaveLength(1);
    expect(split.body[0]).toMatchObject({ kind: 'affine', inSize: 4, outSize: 1, sources: ['Scaler1', 'LinearClassifier2'] });
    expect(split.epilogue.map((n) => n.opType)).toEqual(['LinearClassifier']);
    const x = input('float32');
    const want = runGraph(graph, new Map([['x', x]]));
    expectSameOutputs(runSplit(split, x), want);
    // Both labels occur, so the label choice is really exercised.
    const labels = want.get('label');
    expect(labels?.kind === 'string' ? new Set(labels.data) : undefined).toEqual(new Set(['neg', 'pos']));
  });

  it('the expansion alone (Gemm + identity LinearClassifier) computes what the original node did', () => {
    const bytes = model(
      [
        {
          op: 'LinearClassifier',
          ml: true,
          inputs: ['x'],
          outputs: ['label', 'p'],
          attrs: { coefficients: [1, 0, -1, 2, 0.5, 0.5, 0.5, 0.5, -2, 1, 0, 0], intercepts: [0.1, 0, -0.1], classlabels_ints: [3, 5, 7], post_transform: 'SOFTMAX_ZERO' },
        },
      ],
      { name: 'x', dtype: 'float32', features: 4 },
      [
        { name: 'label', dtype: 'int64' },
        { name: 'p', dtype: 'float32' },
      ],
    );
    const graph = importModel(bytes, 'multiclass');
    const expanded = expandLinearMl(graph);
    expect(expanded.graph.nodes.map((n) => n.opType)).toEqual(['Gemm', 'LinearClassifier']);
    expect(expanded.clientNodes.size).toBe(1);
    const x = input('float32');
    expectSameOutputs(runGraph(expanded.graph, new Map([['x', x]])), runGraph(graph, new Map([['x', x]])));
  });

  it('LinearRegressor with two targets on an int64 input (a float cast is inserted), no epilogue', () => {
    const bytes = model(
      [{ op: 'LinearRegressor', ml: true, inputs: ['x'], outputs: ['y'], attrs: { coefficients: [1, 2, 3, 4, -1, 0.5, 0.25, 0], intercepts: [10, -10], targets: 2 } }],
      { name: 'x', dtype: 'int64', features: 4 },
      [{ name: 'y', dtype: 'float32' }],
    );
    const graph = importModel(bytes, 'regressor');
    const { split } = splitGraph(graph);
    expect(split.inputDType).toBe('int64');
    expect(split.body.map((s) => (s.kind === 'affine' ? `${s.inSize}→${s.outSize}` : s.kind === 'activation' ? s.fn : s.kind))).toEqual(['4→2']);
    expect(split.epilogue).toEqual([]);
    const x = input('int64');
    expectSameOutputs(runSplit(split, x), runGraph(graph, new Map([['x', x]])));
  });

  it('a rounding Cast of the input is client prologue; the float Cast after it is an identity in the body', () => {
    const bytes = model(
      [
        { op: 'Cast', inputs: ['x'], outputs: ['xi'], attrs: { to: 7 } },
        { op: 'Cast', inputs: ['xi'], outputs: ['xf'], attrs: { to: 1 } },
        { op: 'LinearRegressor', ml: true, inputs: ['xf'], outputs: ['y'], attrs: { coefficients: [1, -2, 3, 0.5], intercepts: [0.25], post_transform: 'NONE' } },
      ],
      { name: 'x', dtype: 'float32', features: 4 },
      [{ name: 'y', dtype: 'float32' }],
    );
    const graph = importModel(bytes, 'cast');
    const { split } = splitGraph(graph);
    expect(split.prologue.map((n) => n.opType)).toEqual(['Cast']);
    expect(split.bodyInput).toBe('xi');
    const x = input('float32');
    expectSameOutputs(runSplit(split, x), runGraph(graph, new Map([['x', x]])));
  });
});
