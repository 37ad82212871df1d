/**
 * TreeEnsembleRegressor / TreeEnsembleClassifier on small hand-made forests: every branch mode,
 * NaN handling, each aggregate function, base values, the post-transforms, the two-class forms
 * onnxruntime special-cases, and malformed trees refused at import. Where onnxruntime's
 * behaviour is the specification, the test runs the same model through onnxruntime-node.
 */
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { importModel } from '../../compiler/onnx/import';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { forestAttributes, type ForestNode } from '../helpers/forest-attributes';
import { expectAgreesWithOrt as agreesWithOrt, expectSameValues, importRefusal, oneNodeModel, plain, runReference, type Attr, type Plain } from '../helpers/ml-model';

const X = 'X';

type Spec = { id: number; mode: string; feature: number; value: number; t: number; f: number; missingTrue?: boolean } | { id: number; leaf: Array<[index: number, weight: number]> };

/** The nodes_* attributes and the class_* (or target_*) weights for a list of trees. */
function forest(trees: Spec[][], prefix: 'class' | 'target'): Record<string, Attr> {
  return forestAttributes(trees.flatMap((nodes, tree) => nodes.map((n): ForestNode => ({ ...n, tree }))), prefix);
}

function regressor(trees: Spec[][], extra: Record<string, Attr> = {}, targets = 1, features = 2): Uint8Array {
  return oneNodeModel({
    opType: 'TreeEnsembleRegressor',
    attributes: { ...forest(trees, 'target'), n_targets: { int: targets }, ...extra },
    inputs: [{ name: X, type: 'float32', shape: ['N', features] }],
    outputs: [{ name: 'Y', type: 'float32', shape: ['N', targets] }],
  });
}

function classifier(trees: Spec[][], labels: Attr, extra: Record<string, Attr> = {}, features = 2): Uint8Array {
  const strings = 'strings' in labels;
  return oneNodeModel({
    opType: 'TreeEnsembleClassifier',
    attributes: { ...forest(trees, 'class'), [strings ? 'classlabels_strings' : 'classlabels_int64s']: labels, ...extra },
    inputs: [{ name: X, type: 'float32', shape: ['N', features] }],
    outputs: [
      { name: 'label', type: strings ? 'string' : 'int64', shape: ['N'] },
      { name: 'scores', type: 'float32' },
    ],
  });
}

function dataOf(p: Plain | undefined): readonly (number | string)[] {
  if (!p || !('data' in p)) throw new Error('expected a tensor');
  return p.data;
}

const expectAgreesWithOrt = (bytes: Uint8Array, rows: number[][], outputs: string[]): Promise<void> => agreesWithOrt(bytes, X, rows, outputs);

/** One split on feature 0 at 0.5: 10 when the comparison holds, 20 otherwise. */
const stump = (mode: string, missingTrue = false): Spec[] => [
  { id: 0, mode, feature: 0, value: 0.5, t: 1, f: 2, missingTrue },
  { id: 1, leaf: [[0, 10]] },
  { id: 2, leaf: [[0, 20]] },
];

describe('TreeEnsembleRegressor', () => {
  const rows = [[0.25, 0], [0.5, 0], [0.75, 0], [NaN, 0]];
  const cases: Array<[string, number[]]> = [
    ['BRANCH_LEQ', [10, 10, 20, 20]],
    ['BRANCH_LT', [10, 20, 20, 20]],
    ['BRANCH_GTE', [20, 10, 10, 20]],
    ['BRANCH_GT', [20, 20, 10, 20]],
    ['BRANCH_EQ', [20, 10, 20, 20]],
    // NaN != 0.5 holds, so NEQ sends NaN the true way.
    ['BRANCH_NEQ', [10, 20, 10, 10]],
  ];
  for (const [mode, expected] of cases) {
    it(`${mode} compares feature and threshold (NaN fails all but NEQ)`, async () => {
      const bytes = regressor([stump(mode)]);
      expect(dataOf(plain(runReference(bytes, X, rows).get('Y')!))).toEqual(expected);
      await expectAgreesWithOrt(bytes, rows, ['Y']);
    });
  }

  it('missing_value_tracks_true sends NaN the true way', async () => {
    const bytes = regressor([stump('BRANCH_GT', true)]);
    expect(dataOf(plain(runReference(bytes, X, rows).get('Y')!))).toEqual([20, 20, 10, 10]);
    await expectAgreesWithOrt(bytes, rows, ['Y']);
  });

  it('walks deeper trees and mixes modes within one tree', async () => {
    const tree: Spec[] = [
      { id: 0, mode: 'BRANCH_LEQ', feature: 1, value: 0, t: 1, f: 2 },
      { id: 1, mode: 'BRANCH_GT', feature: 0, value: 1, t: 3, f: 4 },
      { id: 2, leaf: [[0, -1]] },
      { id: 3, leaf: [[0, 5]] },
      { id: 4, leaf: [[0, 7]] },
    ];
    const bytes = regressor([tree]);
    const r = [[2, -1], [0, -1], [0, 3]];
    expect(dataOf(plain(runReference(bytes, X, r).get('Y')!))).toEqual([5, 7, -1]);
    await expectAgreesWithOrt(bytes, r, ['Y']);
  });

  // Two trees voting on two targets; row [0.25, 0] reaches leaves 1 and 1.
  const twoTrees: Spec[][] = [
    [
      { id: 0, mode: 'BRANCH_LEQ', feature: 0, value: 0.5, t: 1, f: 2 },
      { id: 1, leaf: [[0, 1], [1, 2]] },
      { id: 2, leaf: [[0, 3]] },
    ],
    [
      { id: 0, mode: 'BRANCH_LEQ', feature: 1, value: 0.5, t: 1, f: 2 },
      { id: 1, leaf: [[0, 4], [1, -6]] },
      { id: 2, leaf: [[0, 5], [1, 8]] },
    ],
  ];
  const twoRows = [[0.25, 0], [0.75, 0.75]];

  it('aggregates SUM, AVERAGE, MIN and MAX per target, then adds base values', async () => {
    const expected: Record<string, number[]> = {
      SUM: [1 + 4 + 100, 2 - 6 + 200, 3 + 5 + 100, 8 + 200],
      AVERAGE: [(1 + 4) / 2 + 100, (2 - 6) / 2 + 200, (3 + 5) / 2 + 100, 8 / 2 + 200],
      MIN: [1 + 100, -6 + 200, 3 + 100, 8 + 200],
      MAX: [4 + 100, 2 + 200, 5 + 100, 8 + 200],
    };
    for (const [aggregate, values] of Object.entries(expected)) {
      const bytes = regressor(twoTrees, { aggregate_function: { string: aggregate }, base_values: { floats: [100, 200] } }, 2);
      expect(dataOf(plain(runReference(bytes, X, twoRows).get('Y')!)), aggregate).toEqual(values);
      await expectAgreesWithOrt(bytes, twoRows, ['Y']);
    }
  });

  it('a target no leaf voted for reads 0 even with a base value (onnxruntime)', async () => {
    const oneTarget: Spec[][] = [[{ id: 0, mode: 'BRANCH_LEQ', feature: 0, value: 0.5, t: 1, f: 2 }, { id: 1, leaf: [[0, 1], [1, 2]] }, { id: 2, leaf: [[0, 3]] }]];
    const bytes = regressor(oneTarget, { base_values: { floats: [10, 20] } }, 2);
    expect(dataOf(plain(runReference(bytes, X, twoRows).get('Y')!))).toEqual([11, 22, 13, 0]);
    await expectAgreesWithOrt(bytes, twoRows, ['Y']);
  });

  it('post-transforms 2+ targets, and only PROBIT for a single target', async () => {
    await expectAgreesWithOrt(regressor(twoTrees, { post_transform: { string: 'SOFTMAX' } }, 2), twoRows, ['Y']);
    await expectAgreesWithOrt(regressor(twoTrees, { post_transform: { string: 'LOGISTIC' } }, 2), twoRows, ['Y']);
    const single: Spec[][] = [[{ id: 0, mode: 'BRANCH_LEQ', feature: 0, value: 0.5, t: 1, f: 2 }, { id: 1, leaf: [[0, 0.2]] }, { id: 2, leaf: [[0, 0.7]] }]];
    for (const t of ['LOGISTIC', 'PROBIT']) await expectAgreesWithOrt(regressor(single, { post_transform: { string: t } }), twoRows, ['Y']);
    expect(dataOf(plain(runReference(regressor(single, { post_transform: { string: 'LOGISTIC' } }), X, twoRows).get('Y')!))).toEqual([0.2, 0.7].map(Math.fround));
  });

  it('reads thresholds and weights given as double tensors (ai.onnx.ml opset 3)', async () => {
    const attrs = forest([stump('BRANCH_LEQ')], 'target');
    delete attrs.nodes_values;
    delete attrs.target_weights;
    const bytes = oneNodeModel({
      opType: 'TreeEnsembleRegressor',
      mlOpset: 3,
      attributes: { ...attrs, nodes_values_as_tensor: { doubles: [0.5, 0, 0] }, target_weights_as_tensor: { doubles: [10.125, 20.25] }, n_targets: { int: 1 } },
      inputs: [{ name: X, type: 'float32', shape: ['N', 2] }],
      outputs: [{ name: 'Y', type: 'float32' }],
    });
    expect(dataOf(plain(runReference(bytes, X, rows).get('Y')!))).toEqual([10.125, 10.125, 20.25, 20.25]);
  });
});

describe('TreeEnsembleClassifier', () => {
  // skl2onnx's binary decision tree: weights only for class id 0, holding P(class 1).
  const binaryTree: Spec[] = [
    { id: 0, mode: 'BRANCH_LEQ', feature: 0, value: 0.5, t: 1, f: 2 },
    { id: 1, leaf: [[0, 0.25]] },
    { id: 2, mode: 'BRANCH_LEQ', feature: 1, value: 0.5, t: 3, f: 4 },
    { id: 3, leaf: [[0, 0.5]] },
    { id: 4, leaf: [[0, 0.9]] },
  ];
  const rows = [[0, 0], [1, 0], [1, 1]];

  it('binary, one weighted class, all weights positive: scores [1 - s, s], label by s > 0.5', async () => {
    const bytes = classifier([binaryTree], { ints: [4, 9] });
    const out = runReference(bytes, X, rows);
    expect(dataOf(plain(out.get('label')!))).toEqual([4, 4, 9]);
    expectSameValues(dataOf(plain(out.get('scores')!)), [0.75, 0.25, 0.5, 0.5, 0.1, 0.9], 'scores');
    await expectAgreesWithOrt(bytes, rows, ['label', 'scores']);
  });

  it('binary with a negative weight: label by s > 0, scores [-s, s] or logistic of both', async () => {
    const signed: Spec[] = binaryTree.map((n) => ('leaf' in n && n.id === 1 ? { id: 1, leaf: [[0, -0.25]] } : n));
    const plainOut = runReference(classifier([signed], { strings: ['no', 'yes'] }), X, rows);
    expect(dataOf(plain(plainOut.get('label')!))).toEqual(['no', 'yes', 'yes']);
    expectSameValues(dataOf(plain(plainOut.get('scores')!)), [0.25, -0.25, -0.5, 0.5, -0.9, 0.9], 'scores');
    for (const t of ['NONE', 'LOGISTIC', 'SOFTMAX']) {
      await expectAgreesWithOrt(classifier([signed], { strings: ['no', 'yes'] }, { post_transform: { string: t } }), rows, ['label', 'scores']);
    }
  });

  it('binary with base values, and with both classes weighted, agrees with onnxruntime', async () => {
    const both: Spec[] = [
      { id: 0, mode: 'BRANCH_LEQ', feature: 0, value: 0.5, t: 1, f: 2 },
      { id: 1, leaf: [[0, 0.8], [1, 0.2]] },
      { id: 2, leaf: [[1, 0.6]] },
    ];
    for (const labels of [{ ints: [5, 7] }, { strings: ['a', 'b'] }] as Attr[]) {
      await expectAgreesWithOrt(classifier([both], labels), rows, ['label', 'scores']);
      await expectAgreesWithOrt(classifier([both], labels, { base_values: { floats: [0.1, 0.3] } }), rows, ['label', 'scores']);
      await expectAgreesWithOrt(classifier([binaryTree], labels, { base_values: { floats: [0.1, 0.3] } }), rows, ['label', 'scores']);
      await expectAgreesWithOrt(classifier([binaryTree], labels, { base_values: { floats: [-0.2] } }), rows, ['label', 'scores']);
    }
  });

  it('multiclass sums votes over trees, adds base values, labels by the largest score', async () => {
    const trees: Spec[][] = [
      [
        { id: 0, mode: 'BRANCH_LEQ', feature: 0, value: 0.5, t: 1, f: 2 },
        { id: 1, leaf: [[0, 0.6], [1, 0.4]] },
        { id: 2, leaf: [[2, 1]] },
      ],
      [
        { id: 0, mode: 'BRANCH_LT', feature: 1, value: 0.5, t: 1, f: 2 },
        { id: 1, leaf: [[1, 0.5], [2, 0.5]] },
        { id: 2, leaf: [[0, 0.1], [1, 0.9]] },
      ],
    ];
    const bytes = classifier(trees, { strings: ['setosa', 'versicolor', 'virginica'] });
    const out = runReference(bytes, X, rows);
    expect(dataOf(plain(out.get('label')!))).toEqual(['versicolor', 'virginica', 'virginica']);
    expectSameValues(dataOf(plain(out.get('scores')!)), [0.6, 0.9, 0.5, 0, 0.5, 1.5, 0.1, 0.9, 1], 'scores');
    await expectAgreesWithOrt(bytes, rows, ['label', 'scores']);
    for (const t of ['SOFTMAX', 'LOGISTIC', 'SOFTMAX_ZERO']) {
      await expectAgreesWithOrt(classifier(trees, { ints: [10, 20, 30] }, { post_transform: { string: t }, base_values: { floats: [0.1, 0, -0.3] } }), rows, ['label', 'scores']);
    }
  });
});

describe('malformed tree ensembles are refused at import', () => {
  const base = (trees: Spec[][]) => regressor(trees);

  it('a cycle between branches', () => {
    const loop: Spec[] = [
      { id: 0, mode: 'BRANCH_LEQ', feature: 0, value: 0, t: 1, f: 2 },
      { id: 1, mode: 'BRANCH_LEQ', feature: 0, value: 0, t: 0, f: 2 },
      { id: 2, leaf: [[0, 1]] },
    ];
    expect(importRefusal(base([loop])).message).toMatch(/cycle/);
  });

  it('a child that does not exist, a leaf without weights, an unknown mode', () => {
    expect(importRefusal(base([[{ id: 0, mode: 'BRANCH_LEQ', feature: 0, value: 0, t: 1, f: 7 }, { id: 1, leaf: [[0, 1]] }]])).message).toMatch(/false child 7 does not exist/);
    expect(importRefusal(base([[{ id: 0, mode: 'BRANCH_LEQ', feature: 0, value: 0, t: 1, f: 2 }, { id: 1, leaf: [[0, 1]] }, { id: 2, leaf: [] }]])).message).toMatch(/has no target weights/);
    expect(importRefusal(base([stump('BRANCH_SOMETIMES')])).message).toMatch(/node mode "BRANCH_SOMETIMES" .*is not supported/);
  });

  it('a weight for a target outside n_targets, a feature beyond the input', () => {
    expect(importRefusal(base([[{ id: 0, leaf: [[3, 1]] }]])).message).toMatch(/target 3, outside \[0, 1\)/);
    const wide: Spec[] = [{ id: 0, mode: 'BRANCH_LEQ', feature: 5, value: 0, t: 1, f: 2 }, { id: 1, leaf: [[0, 1]] }, { id: 2, leaf: [[0, 2]] }];
    expect(importRefusal(base([wide])).message).toMatch(/reads feature 5 but the input has 2 features/);
  });

  it('an unknown aggregate function or post-transform', () => {
    expect(importRefusal(regressor([stump('BRANCH_LEQ')], { aggregate_function: { string: 'MEDIAN' } })).message).toMatch(/aggregate_function "MEDIAN"/);
    expect(importRefusal(regressor([stump('BRANCH_LEQ')], { post_transform: { string: 'TANH' } })).message).toMatch(/post_transform "TANH"/);
  });
});

describe('tree attribute mutations', () => {
  it('never hang or escape as anything but DeepPowersError (500 seeded mutations of the fixture tree)', () => {
    const f = loadFixture('sk_tree_breast_cancer');
    const original = readFileSync(f.modelPath);
    const feeds = new Map([[f.data.input_name, inputTensor(f.data, f.data.test_inputs.slice(0, 5))]]);
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let accepted = 0;
    for (let i = 0; i < 500; i++) {
      const model = onnxProto.onnx.ModelProto.decode(original);
      const attrs = model.graph!.node![0]!.attribute!;
      for (let k = 0; k < 1 + rand(3); k++) {
        const a = attrs[rand(attrs.length)]!;
        if (a.ints && a.ints.length > 0) a.ints[rand(a.ints.length)] = rand(40) - 5;
        else if (a.floats && a.floats.length > 0) a.floats[rand(a.floats.length)] = [NaN, -1, 0, 1e30][rand(4)]!;
        else if (a.strings && a.strings.length > 0) a.strings[rand(a.strings.length)] = new TextEncoder().encode(['LEAF', 'BRANCH_GT', 'BOGUS'][rand(3)]!);
        if (rand(10) === 0) (a.ints ?? []).pop();
      }
      try {
        const graph = importModel(onnxProto.onnx.ModelProto.encode(model).finish());
        runGraph(graph, feeds);
        accepted++;
      } catch (e) {
        expect(e, String(e)).toBeInstanceOf(DeepPowersError);
      }
    }
    // Some mutations (a changed threshold or weight) leave a valid model.
    expect(accepted).toBeGreaterThan(0);
  });
});
