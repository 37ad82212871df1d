/**
 * Bodies that are not a chain — a residual sum x + f(x), a concatenation of two branches, a value
 * read by two later layers, a skip from the body input — on small seeded ONNX models: the split
 * is exact against the reference interpreter, the last map reads several stages, the compiled
 * circuit (both layouts) agrees with the exact model up to the polynomial error, and SEAL agrees
 * with the simulation on a few rows. The shallower branch is modswitched where branches meet.
 */
import { describe, expect, it } from 'vitest';
import type { Layout } from '../../compiler/circuit/ir';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { numeric, type NumericTensor } from '../../compiler/graph/tensor';
import { importModel } from '../../compiler/onnx/import';
import { splitGraph } from '../../compiler/passes/split-graph';
import { runSplit } from '../../compiler/chain/run';
import { compileModel } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { fheBackend } from '../../runtime/run/run-encrypted';
import { encodeGraph, int, type GraphSpec } from '../helpers/op-harness';
import { mulberry32 } from '../helpers/random';

const IN = 6;
const H = 5;
const OUT = 3;

function weights(seed: number, rows: number, cols: number): NumericTensor {
  const next = mulberry32(seed);
  return numeric('float32', [rows, cols], Array.from({ length: rows * cols }, () => Math.fround((next() - 0.5) * 1.2)));
}

function gemm(x: string, w: string, y: string): GraphSpec['nodes'][number] {
  return { opType: 'Gemm', inputs: [x, w, `${w}_b`], outputs: [y], attrs: { transB: int(1) } };
}

/** A Gemm's weights [rows × cols] and bias [rows], seeded. */
function layer(seed: number, name: string, rows: number, cols: number): Record<string, NumericTensor> {
  return { [name]: weights(seed, rows, cols), [`${name}_b`]: numeric('float32', [rows], weights(seed + 100, 1, rows).data) };
}

interface Case {
  readonly name: string;
  readonly nodes: GraphSpec['nodes'];
  readonly initializers: Record<string, NumericTensor>;
  /** Stages the last map reads (stage indices, −1 for the body input). */
  readonly lastReads: readonly number[];
}

const CASES: readonly Case[] = [
  {
    name: 'residual x + f(x) after a ReLU',
    nodes: [gemm('x', 'w1', 'a'), { opType: 'Relu', inputs: ['a'], outputs: ['h'] }, gemm('h', 'w2', 'b'), { opType: 'Relu', inputs: ['b'], outputs: ['g'] }, gemm('g', 'w3', 'f'), { opType: 'Add', inputs: ['h', 'f'], outputs: ['r'] }, gemm('r', 'w4', 'y')],
    initializers: { ...layer(1, 'w1', H, IN), ...layer(2, 'w2', H, H), ...layer(3, 'w3', H, H), ...layer(4, 'w4', OUT, H) },
    lastReads: [1, 3],
  },
  {
    name: 'concatenation of a ReLU branch and a Tanh branch',
    nodes: [
      gemm('x', 'w1', 'a'), { opType: 'Relu', inputs: ['a'], outputs: ['h'] },
      gemm('h', 'w2', 'b'), { opType: 'Relu', inputs: ['b'], outputs: ['p'] },
      gemm('h', 'w3', 'c'), { opType: 'Tanh', inputs: ['c'], outputs: ['q'] },
      { opType: 'Concat', inputs: ['p', 'q'], outputs: ['pq'], attrs: { axis: int(1) } }, gemm('pq', 'w4', 'y'),
    ],
    initializers: { ...layer(5, 'w1', H, IN), ...layer(6, 'w2', H, H), ...layer(7, 'w3', H, H), ...layer(8, 'w4', OUT, 2 * H) },
    lastReads: [3, 5],
  },
  {
    name: 'a value read by two later layers (and a skip from the body input)',
    nodes: [gemm('x', 'w1', 'a'), { opType: 'Relu', inputs: ['a'], outputs: ['h'] }, gemm('h', 'w2', 'b'), { opType: 'Relu', inputs: ['b'], outputs: ['g'] }, gemm('g', 'w3', 'u'), gemm('h', 'w4', 'v'), gemm('x', 'w5', 's'), { opType: 'Add', inputs: ['u', 'v'], outputs: ['uv'] }, { opType: 'Add', inputs: ['uv', 's'], outputs: ['y'] }],
    initializers: { ...layer(9, 'w1', H, IN), ...layer(10, 'w2', H, H), ...layer(11, 'w3', OUT, H), ...layer(12, 'w4', OUT, H), ...layer(13, 'w5', OUT, IN) },
    lastReads: [-1, 1, 3],
  },
  {
    name: 'residual from the body input, x + f(x)',
    nodes: [gemm('x', 'w1', 'a'), { opType: 'Relu', inputs: ['a'], outputs: ['h'] }, gemm('h', 'w2', 'f'), { opType: 'Add', inputs: ['x', 'f'], outputs: ['r'] }, gemm('r', 'w3', 'y')],
    initializers: { ...layer(14, 'w1', H, IN), ...layer(15, 'w2', IN, H), ...layer(16, 'w3', OUT, IN) },
    lastReads: [-1, 1],
  },
];

function model(c: Case): Uint8Array {
  return encodeGraph({ opset: 13, inputs: [{ name: 'x', dtype: 'float32', shape: ['N', IN] }], outputs: ['y'], nodes: c.nodes, initializers: c.initializers });
}

function rows(seed: number, n: number): NumericTensor {
  const next = mulberry32(seed);
  return numeric('float32', [n, IN], Array.from({ length: n * IN }, () => Math.fround((next() - 0.5) * 4)));
}

const calibration = rows(21, 200);
const test = rows(22, 40);

describe.each(CASES)('$name', (c) => {
  const bytes = model(c);
  const exact = runGraph(importModel(bytes, c.name), new Map([['x', test]])).get('y') as NumericTensor;

  it('splits into a DAG whose last map reads several stages, exactly', () => {
    const { split } = splitGraph(importModel(bytes, c.name));
    const last = split.body[split.body.length - 1]!;
    expect(last.kind === 'affine' ? last.reads : undefined).toEqual(c.lastReads);
    const y = runSplit(split, test).get('y') as NumericTensor;
    y.data.forEach((v, i) => expect(Math.abs(v - exact.data[i]!)).toBeLessThan(1e-9 * (1 + Math.abs(exact.data[i]!))));
  });

  for (const layout of ['vector', 'batch'] as Layout[]) {
    it(`${layout} layout: the simulated circuit agrees with the exact model up to the polynomial error`, async () => {
      const options = { calibration, layout };
      const compiled = toCompiledModel(compileModel({ bytes, file: 'dag.onnx' }, options), options, 'test');
      const run = await runCompiled(compiled, test, simulateBackend(compiled));
      const y = run.values.get('y') as NumericTensor;
      const scale = Math.max(...Array.from(exact.data, Math.abs));
      y.data.forEach((v, i) => expect(Math.abs(v - exact.data[i]!), `value ${i}`).toBeLessThan(0.05 * scale));
    });
  }
});

describe('a residual body on SEAL', () => {
  it.each(['vector', 'batch'] as Layout[])('%s layout: decrypted outputs match the simulation; the skip branch is modswitched, not recomputed', async (layout) => {
    const c = CASES[3]!;
    const options = { calibration, layout, degree: 3 };
    const compiled = toCompiledModel(compileModel({ bytes: model(c), file: 'residual.onnx' }, options), options, 'test');
    const input = numeric('float32', [2, IN], test.data.slice(0, 2 * IN));
    // The input is read by the first map and again where the branches meet: one input ciphertext (per feature), brought down by modswitches.
    expect(compiled.circuit.ops.filter((o) => o.op === 'input')).toHaveLength(layout === 'vector' ? 1 : IN);
    expect(compiled.circuit.ops.some((o) => o.op === 'modswitch')).toBe(true);
    const encrypted = await runCompiled(compiled, input, fheBackend(compiled).backend);
    const simulated = await runCompiled(compiled, input, simulateBackend(compiled));
    const p = compiled.parameters;
    const tol = 2 ** (Math.log2(p.polyModulusDegree) + 8 - p.scaleBits) + 2 ** -p.expectedPrecisionBits;
    encrypted.bodyOutputs.forEach((row, s) => row.forEach((v, i) => expect(Math.abs(v - simulated.bodyOutputs[s]![i]!)).toBeLessThan(tol * (1 + Math.abs(simulated.bodyOutputs[s]![i]!)))));
  });
});
