/**
 * Tree ensembles compiled to the batch layout and run in simulation, against the reference
 * interpreter (pinned to onnxruntime by ops-ml-tree.test.ts) on random forests: every branch mode,
 * missing-value tracking and NaN inputs, rows exactly on thresholds, unbalanced trees, regressors
 * (SUM, AVERAGE, several targets, base values) and classifiers (vector votes, one class per leaf,
 * base values, LOGISTIC and SOFTMAX). With the calibration rows equal to the test rows, the default
 * grid keeps every row's leaves, so outputs must match: labels exactly, scores to CKKS precision.
 * Also the snap itself on a hand-worked case, and the depth the product layout promises.
 */
import { describe, expect, it } from 'vitest';
import type { CompiledModel } from '../../compiler/artifact/types';
import { DeepPowersError } from '../../compiler/errors';
import { runGraph } from '../../compiler/graph/interpreter';
import type { NumericTensor, Value } from '../../compiler/graph/tensor';
import { importModel } from '../../compiler/onnx/import';
import { testValue } from '../../compiler/chain/tree-body';
import { encodeRow, encodeTrees, rowsWithChangedLeaves } from '../../compiler/passes/tree-encoding';
import { treeModel } from '../../compiler/passes/tree-model';
import { compileModel, supportedLayouts, type CompileOptions } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { runCompiled, simulateBackend } from '../../runtime/run-compiled';
import { floatRows } from '../helpers/ml-model';
import { forestRows, syntheticForest, type ForestSpec } from '../helpers/synthetic-forest';

const ALL_MODES = ['BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ'];

function compile(bytes: Uint8Array, rows: number[][], extra: Partial<CompileOptions> = {}): { model: CompiledModel; options: CompileOptions } {
  const options: CompileOptions = { calibration: floatRows(rows) as NumericTensor, ...extra };
  const c = compileModel({ bytes, file: 'forest.onnx' }, options);
  return { model: toCompiledModel(c, options, 'test'), options };
}

function numbers(v: Value | undefined): number[] {
  if (!v || v.kind !== 'numeric') throw new Error('expected a numeric tensor');
  return Array.from(v.data);
}

async function expectMatchesReference(spec: ForestSpec, nanShare = 0): Promise<CompiledModel> {
  const forest = syntheticForest(spec);
  const rows = forestRows(forest, spec.features, 64, spec.seed + 1, nanShare);
  const { model } = compile(forest.bytes, rows);
  expect(model.circuit.layout).toBe('batch');
  expect(model.cost.counts.rotations).toBe(0);
  const reference = runGraph(importModel(forest.bytes, 'forest.onnx'), new Map([['X', floatRows(rows)]]));
  const run = await runCompiled(model, floatRows(rows) as NumericTensor, simulateBackend(model));
  for (const name of spec.task.kind === 'classifier' ? ['label', 'scores'] : ['Y']) {
    const want = numbers(reference.get(name));
    const got = numbers(run.values.get(name));
    expect(got.length).toBe(want.length);
    if (name === 'label') expect(got).toEqual(want);
    else got.forEach((g, i) => expect(Math.abs(g - want[i]!), `${name}[${i}]`).toBeLessThan(1e-4 * Math.max(1, Math.abs(want[i]!))));
  }
  return model;
}

describe('tree ensembles compiled and simulated agree with the reference', () => {
  it('every branch mode, missing values tracked either way, NaN inputs and rows on thresholds (regressor)', async () => {
    await expectMatchesReference({ trees: 6, depth: 4, features: 3, task: { kind: 'regressor', targets: 1 }, seed: 1, modes: ALL_MODES, missingTracks: true, earlyLeaf: 0.3 }, 0.15);
  });

  it('AVERAGE over two targets with base values', async () => {
    await expectMatchesReference({
      trees: 5,
      depth: 3,
      features: 4,
      task: { kind: 'regressor', targets: 2 },
      seed: 2,
      extra: { aggregate_function: { string: 'AVERAGE' }, base_values: { floats: [100, -3] } },
    });
  });

  it('three classes, vector votes, SOFTMAX, unbalanced trees', async () => {
    await expectMatchesReference({ trees: 4, depth: 5, features: 5, task: { kind: 'classifier', labels: [3, 5, 7] }, seed: 3, earlyLeaf: 0.35, extra: { post_transform: { string: 'SOFTMAX' } } });
  });

  it('three classes, one class per leaf (XGBoost style) with base values', async () => {
    await expectMatchesReference({ trees: 6, depth: 3, features: 4, task: { kind: 'classifier', labels: [0, 1, 2] }, seed: 4, oneClassPerLeaf: true, extra: { base_values: { floats: [0.5, 0.5, 0.5] } } });
  });

  it('two classes, one score (XGBoost binary: LOGISTIC, one base value, signed weights)', async () => {
    await expectMatchesReference({
      trees: 8,
      depth: 3,
      features: 4,
      task: { kind: 'classifier', labels: [0, 1] },
      seed: 5,
      oneClassPerLeaf: true,
      votedClasses: 1,
      modes: ['BRANCH_LT'],
      missingTracks: true,
      extra: { post_transform: { string: 'LOGISTIC' }, base_values: { floats: [-0.2] } },
    }, 0.1);
  });

  it('two classes, both voted, two base values', async () => {
    await expectMatchesReference({ trees: 3, depth: 4, features: 3, task: { kind: 'classifier', labels: [0, 1] }, seed: 6, extra: { base_values: { floats: [0.1, -0.3] } } });
  });

  it('depth follows the product layout: 2 levels to depth 3, 3 to depth 6, 4 at depth 7', async () => {
    for (const [depth, levels] of [
      [1, 1],
      [3, 2],
      [4, 3],
      [6, 3],
      [7, 4],
    ] as const) {
      const forest = syntheticForest({ trees: 2, depth, features: 3, task: { kind: 'regressor', targets: 1 }, seed: 10 + depth });
      const { model } = compile(forest.bytes, forestRows(forest, 3, 16, 7));
      expect(model.circuit.depth, `depth ${depth}`).toBe(levels);
    }
  });
});

describe('forests at size', () => {
  it('100 trees of depth 6 compile: batch layout, depth 3, N = 8192, no rotations', () => {
    const forest = syntheticForest({ trees: 100, depth: 6, features: 30, task: { kind: 'classifier', labels: [0, 1] }, seed: 100, oneClassPerLeaf: true, votedClasses: 1 });
    const { model } = compile(forest.bytes, forestRows(forest, 30, 100, 101));
    expect(model.circuit.depth).toBe(3);
    expect(model.parameters.polyModulusDegree).toBe(8192);
    expect(model.cost.counts.rotations).toBe(0);
    expect(model.circuit.outputs).toHaveLength(1);
  }, 60_000);
});

describe('threshold snap', () => {
  const forest = syntheticForest({ trees: 1, depth: 1, features: 1, task: { kind: 'regressor', targets: 1 }, seed: 1 });
  const graph = importModel(forest.bytes, 'forest.onnx');
  const model = treeModel(graph);
  const t = forest.thresholds[0]!.value;

  it('moves a threshold to the neighbouring grid point that keeps the calibration rows', () => {
    // Range [0, 1] at 2 bits: grid 0, 1/3, 2/3, 1. A row just below t keeps its side only with
    // the grid point above t; one just above only with the one below.
    const below = Math.floor(t * 3) / 3;
    const above = below + 1 / 3;
    const rowsA = [[0], [1], [(below + t) / 2]].map((r) => Float64Array.from(r));
    expect(encodeTrees(model, rowsA, 2).thresholds[0]!.snapped).toBeCloseTo(above, 12);
    const rowsB = [[0], [1], [(t + above) / 2]].map((r) => Float64Array.from(r));
    const enc = encodeTrees(model, rowsB, 2);
    expect(enc.thresholds[0]!.snapped).toBeCloseTo(below, 12);
    expect(rowsWithChangedLeaves(model, enc, rowsB)).toEqual([]);
    // Rows on both sides: one of them must change.
    const both = [[0], [1], [(below + t) / 2], [(t + above) / 2]].map((r) => Float64Array.from(r));
    expect(rowsWithChangedLeaves(model, encodeTrees(model, both, 2), both)).toHaveLength(1);
  });

  it('--n-bits is recorded, the default is the fewest bits keeping every calibration row, and out-of-range bits are refused', () => {
    const rows = forestRows(forest, 1, 40, 3);
    const chosen = compileModel({ bytes: forest.bytes, file: 'f.onnx' }, { calibration: floatRows(rows) as NumericTensor });
    expect(chosen.trees!.nBitsChosen).toBe(true);
    expect(chosen.trees!.calibrationRowsChanged).toBe(0);
    const fewer = encodeTrees(model, rows.map((r) => Float64Array.from(r)), chosen.trees!.nBits - 1);
    if (chosen.trees!.nBits > 1) expect(rowsWithChangedLeaves(model, fewer, rows.map((r) => Float64Array.from(r))).length).toBeGreaterThan(0);
    const given = compileModel({ bytes: forest.bytes, file: 'f.onnx' }, { calibration: floatRows(rows) as NumericTensor, nBits: 3 });
    expect(given.trees!.nBits).toBe(3);
    expect(given.trees!.nBitsChosen).toBe(false);
    expect(() => compileModel({ bytes: forest.bytes, file: 'f.onnx' }, { calibration: floatRows(rows) as NumericTensor, nBits: 40 })).toThrow(/--n-bits 40/);
  });

  it('trees compile to the batch layout only; asking for vector is a clean error', () => {
    expect(supportedLayouts(graph)).toEqual(['batch']);
    const rows = forestRows(forest, 1, 8, 3);
    let error: unknown;
    try {
      compileModel({ bytes: forest.bytes, file: 'f.onnx' }, { calibration: floatRows(rows) as NumericTensor, layout: 'vector' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DeepPowersError);
    expect((error as DeepPowersError).message).toMatch(/batch layout only/);
  });
});

describe('the client bits and node tests', () => {
  it('reproduce the snapped comparisons on a coarse grid: every mode, NaN either way', () => {
    const forest = syntheticForest({ trees: 8, depth: 4, features: 3, task: { kind: 'regressor', targets: 1 }, seed: 21, modes: ALL_MODES, missingTracks: true, earlyLeaf: 0.2 });
    const model = treeModel(importModel(forest.bytes, 'forest.onnx'));
    const rows = forestRows(forest, 3, 200, 22, 0.15).map((r) => Float64Array.from(r));
    const encoding = encodeTrees(model, rows, 2);
    const snapped = new Map(encoding.thresholds.map((t) => [t.node, t.snapped]));
    let moved = 0;
    for (const x of rows) {
      const bits = encodeRow(encoding.bits, x);
      for (const root of model.ensemble.roots) {
        let viaBits = root;
        let viaSnap = root;
        for (let n = model.ensemble.nodes[viaBits]!; !n.leaf; n = model.ensemble.nodes[viaBits]!) {
          viaBits = testValue(encoding.tests.get(viaBits)!, bits) > 0.5 ? n.whenTrue : n.whenFalse;
        }
        for (let n = model.ensemble.nodes[viaSnap]!; !n.leaf; n = model.ensemble.nodes[viaSnap]!) {
          const v = x[n.feature]!;
          const s = snapped.get(viaSnap)!;
          const goes = Number.isNaN(v)
            ? n.mode === 'BRANCH_NEQ' || n.missingTracksTrue
            : { BRANCH_LEQ: v <= s, BRANCH_LT: v < s, BRANCH_GTE: v >= s, BRANCH_GT: v > s, BRANCH_EQ: v === s, BRANCH_NEQ: v !== s }[n.mode];
          viaSnap = goes ? n.whenTrue : n.whenFalse;
        }
        expect(viaBits).toBe(viaSnap);
      }
    }
    for (const t of encoding.thresholds) if (t.snapped !== t.threshold) moved++;
    expect(moved).toBeGreaterThan(0);
    expect(rowsWithChangedLeaves(model, encoding, rows).length).toBeGreaterThan(0);
  });
});
