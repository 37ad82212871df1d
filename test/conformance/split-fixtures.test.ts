/**
 * The split of every fixture is exact: client prologue → encrypted body (float64, exact
 * activations) → client epilogue reproduces the reference interpreter's outputs on the fixture's
 * test rows. The one deliberate difference is float32 rounding at a Cast inside the body (the
 * encrypted body computes in real arithmetic), so the exact oracle is the original graph with those
 * casts read as Identity; against the untouched graph, labels agree exactly and values to float32
 * precision. A tree ensemble is not a chain: the chain split refuses it and the tree body takes it
 * (sk_tree_wine below, with what inspect --lowered says); k-NN is refused for its own reason.
 */
import { describe, expect, it } from 'vitest';
import { ONNX_DOMAIN, type Graph } from '../../compiler/graph/graph';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import type { Value } from '../../compiler/graph/tensor';
import { importModelFile } from '../../compiler/onnx/import';
import type { SplitModel } from '../../compiler/chain/stages';
import { splitBody, splitGraph } from '../../compiler/passes/split-graph';
import { inspectModel } from '../../runtime/cli/inspect';
import { runSplit } from '../../compiler/chain/run';
import { inputTensor, listFixtures, loadFixture } from '../helpers/fixtures';
import { refusalOf } from '../helpers/refusal';

/** The chain each fixture must reduce to, and where the body ends. */
const EXPECTED: Record<string, { chain: string[]; epilogue: string[]; bodyOutput?: string }> = {
  pt_cnn_digits: { chain: ['affine 64→256', 'relu ×256', 'affine 256→10'], epilogue: [], bodyOutput: 'output' },
  pt_logreg_breast_cancer_sigmoid: { chain: ['affine 30→1'], epilogue: ['Sigmoid'], bodyOutput: '/0/Gemm_output_0' },
  pt_mlp_bn_digits: { chain: ['affine 64→32', 'relu ×32', 'affine 32→10'], epilogue: [], bodyOutput: 'output' },
  pt_mlp_digits_relu: { chain: ['affine 64→32', 'relu ×32', 'affine 32→16', 'relu ×16', 'affine 16→10'], epilogue: [], bodyOutput: 'output' },
  sk_linearsvc_breast_cancer: { chain: ['affine 30→1'], epilogue: ['LinearClassifier', 'ArrayFeatureExtractor'] },
  sk_linreg_diabetes: { chain: ['affine 10→1'], epilogue: [], bodyOutput: 'variable' },
  sk_logreg_breast_cancer: { chain: ['affine 30→1'], epilogue: ['LinearClassifier', 'Normalizer'] },
  sk_logreg_iris_multinomial: { chain: ['affine 4→3'], epilogue: ['LinearClassifier', 'Cast', 'Normalizer', 'ZipMap'] },
  sk_mlp_breast_cancer_tanh: {
    chain: ['affine 30→16', 'tanh ×16', 'affine 16→1'],
    epilogue: ['Sigmoid', 'Sub', 'Concat', 'ArgMax', 'ArrayFeatureExtractor', 'Reshape', 'Cast'],
    bodyOutput: 'add_result1',
  },
  sk_mlp_digits_relu: {
    chain: ['affine 64→32', 'relu ×32', 'affine 32→10'],
    epilogue: ['Softmax', 'Identity', 'ArgMax', 'ArrayFeatureExtractor', 'Reshape', 'Cast'],
    bodyOutput: 'add_result1',
  },
  sk_ridge_diabetes: { chain: ['affine 10→1'], epilogue: [], bodyOutput: 'variable' },
  // The log link's inverse runs on the client, exactly, after decryption.
  sk_poisson_diabetes: { chain: ['affine 10→1'], epilogue: ['Exp', 'Reshape'], bodyOutput: 'Ad_C0' },
  // The log-loss probability (Sigmoid, 1 − p) is an epilogue step; the body ends at the score.
  sk_sgd_logloss_breast_cancer: {
    chain: ['affine 30→1'],
    epilogue: ['Sigmoid', 'Sub', 'Concat', 'ArgMax', 'ArrayFeatureExtractor', 'Reshape', 'Cast'],
    bodyOutput: 'score',
  },
  // A residual block, x + f(x): the last map reads both ReLU outputs (a DAG), nothing is refused.
  pt_resmlp_digits: { chain: ['affine 64→24', 'relu ×24', 'affine 24→24', 'relu ×24', 'affine 48→10'], epilogue: [], bodyOutput: 'output' },
  sk_elasticnet_diabetes: { chain: ['affine 10→1'], epilogue: [], bodyOutput: 'variable' },
  sk_linearsvr_synthetic: { chain: ['affine 8→1'], epilogue: [], bodyOutput: 'variable' },
  sk_ridgeclf_wine: { chain: ['affine 13→3'], epilogue: ['LinearClassifier'] },
  // MinMax scaling and PCA fold into the classifier's map: one affine stage.
  sk_minmax_pca_logreg_digits: { chain: ['affine 64→10'], epilogue: ['LinearClassifier', 'Normalizer'] },
};

function chainShape(split: SplitModel): string[] {
  return split.body.map((s) => (s.kind === 'affine' ? `affine ${s.inSize}→${s.outSize}` : s.kind === 'maxpool' ? `maxpool ${s.inSize}→${s.windows.length}` : s.kind === 'activation' ? `${s.fn} ×${s.size}` : s.kind === 'product' || s.kind === 'rowwise' ? `${s.kind} ×${s.size}` : `${s.kind} ${s.inSize}`));
}

/** The original graph with every float→float Cast outside prologue and epilogue read as Identity. */
function withoutBodyCasts(graph: Graph, split: SplitModel): Graph {
  const client = new Set([...split.prologue, ...split.epilogue].flatMap((n) => n.outputs));
  const floatTargets = new Set([1, 10, 11, 16]);
  const nodes = graph.nodes.map((n) => {
    const to = n.attributes.get('to');
    const isFloatCast = n.opType === 'Cast' && n.domain === ONNX_DOMAIN && to?.type === 'int' && floatTargets.has(to.value);
    return isFloatCast && !n.outputs.some((o) => client.has(o)) ? { ...n, opType: 'Identity', attributes: new Map() } : n;
  });
  return { ...graph, nodes };
}

/** Largest |a − b| / max(1, |b|) over numeric outputs; labels and strings must match exactly. */
function compareOutputs(actual: Map<string, Value>, expected: Map<string, Value>): { maxRel: number; labelMismatches: number } {
  let maxRel = 0;
  let labelMismatches = 0;
  for (const [name, e] of expected) {
    const a = actual.get(name);
    expect(a, `output ${name}`).toBeDefined();
    if (e.kind === 'sequence-of-maps') {
      expect(a!.kind).toBe('sequence-of-maps');
      const maps = (a as typeof e).maps;
      expect(maps.length).toBe(e.maps.length);
      e.maps.forEach((m, i) => {
        expect([...maps[i]!.keys()]).toEqual([...m.keys()]);
        for (const [k, v] of m) maxRel = Math.max(maxRel, Math.abs(maps[i]!.get(k)! - v) / Math.max(1, Math.abs(v)));
      });
      continue;
    }
    expect(a!.kind).toBe(e.kind);
    expect(a!.kind === 'sequence-of-maps' ? [] : a!.shape).toEqual(e.shape);
    if (e.kind === 'string' || e.dtype === 'int64') {
      const ad = (a as typeof e).data;
      e.data.forEach((v: number | string, i: number) => {
        if (ad[i] !== v) labelMismatches++;
      });
      continue;
    }
    const ad = (a as typeof e).data as Float64Array;
    e.data.forEach((v, i) => {
      maxRel = Math.max(maxRel, Math.abs(ad[i]! - v) / Math.max(1, Math.abs(v)));
    });
  }
  return { maxRel, labelMismatches };
}

const names = listFixtures();

describe('prologue / body / epilogue split of the fixtures', () => {
  it('covers the eleven first encryptable fixtures and the tree', () => {
    for (const name of Object.keys(EXPECTED)) expect(names).toContain(name);
    expect(names).toContain('sk_tree_breast_cancer');
  });

  for (const name of Object.keys(EXPECTED)) {
    it(`${name}: chain shape and an exact split on the test rows`, () => {
      const f = loadFixture(name);
      const graph = importModelFile(f.modelPath);
      const split = splitGraph(graph).split;
      const want = EXPECTED[name]!;
      expect(chainShape(split)).toEqual(want.chain);
      expect(split.epilogue.map((n) => n.opType)).toEqual(want.epilogue);
      if (want.bodyOutput) expect(split.bodyOutput).toBe(want.bodyOutput);
      expect(split.prologue).toEqual([]);
      expect(split.inputShape).toEqual(f.data.input_shape);
      // Every affine stage names the ONNX nodes it came from.
      for (const s of split.body) expect(s.sources.length).toBeGreaterThan(0);

      const input = inputTensor(f.data, f.data.test_inputs);
      const feeds = new Map<string, Value>([[split.inputName, input]]);
      const viaSplit = runSplit(split, input);

      const exact = compareOutputs(viaSplit, runGraph(withoutBodyCasts(graph, split), feeds));
      expect(exact.labelMismatches).toBe(0);
      expect(exact.maxRel).toBeLessThan(1e-9);

      const original = compareOutputs(viaSplit, runGraph(graph, feeds));
      expect(original.labelMismatches).toBe(0);
      expect(original.maxRel).toBeLessThan(1e-6);
    });
  }

  it('sk_knn_breast_cancer: imports and runs in the clear, and is refused at compile for its own reason with models that compile instead', () => {
    const f = loadFixture('sk_knn_breast_cancer');
    const graph = importModelFile(f.modelPath);
    const labels = runGraph(graph, new Map([[graph.inputs[0]!.name, inputTensor(f.data, f.data.test_inputs)]])).get('label');
    expect(labels?.kind === 'numeric' ? Array.from(labels.data) : labels).toEqual(f.data.expected['label']);
    const message = refusalOf(() => splitGraph(graph), 'NOT_ENCRYPTABLE').message;
    expect(message).toMatch(/^TopK node "To_TopK" .*k-nearest neighbours cannot be encrypted: .*needs comparisons/);
    expect(message).toMatch(/LogisticRegression/);
    expect(message).not.toMatch(/unsupported operator|not supported for encryption yet/);
  });

  it('sk_tree_wine: comes out of the passes as a tree body, and inspect --lowered says it is encryptable and how', () => {
    const f = loadFixture('sk_tree_wine');
    const graph = importModelFile(f.modelPath);
    // The reference: the exporter's own attributes (README: DecisionTreeClassifier(max_depth=4) on wine, 13 features, 3 classes).
    const node = graph.nodes.find((n) => n.opType === 'TreeEnsembleClassifier')!;
    const modes = node.attributes.get('nodes_modes');
    if (modes?.type !== 'strings') throw new Error('nodes_modes missing');
    const leaves = modes.value.filter((m) => m === 'LEAF').length;
    const body = splitBody(graph);
    expect(body.kind).toBe('trees');
    const report = inspectModel(f.modelPath, { lowered: true });
    if (!report.lowered || !('trees' in report.lowered)) throw new Error(`inspect --lowered: ${JSON.stringify(report.lowered)}`);
    expect(report.lowered.trees.ensemble).toEqual({
      node: { name: node.name, opType: 'TreeEnsembleClassifier', domain: 'ai.onnx.ml' },
      task: 'classifier',
      trees: 1,
      depth: 4,
      branches: modes.value.length - leaves,
      leaves,
      features: 13,
    });
    expect(report.lowered.trees.columns).toBe(3);
    expect(report.lowered.text[0]).toBe('encryptable: yes, as a tree ensemble (batch layout: N/2 rows per ciphertext)');
    expect(report.lowered.text.join('\n')).not.toMatch(/not supported/);
    // The chain passes alone do not take a tree ensemble, and say why in words that are true.
    expect(refusalOf(() => splitGraph(graph), 'NOT_ENCRYPTABLE').message).toMatch(/a tree ensemble is not a chain: it is encrypted as a tree body/);
  });
});
