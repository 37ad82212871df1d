/**
 * A graph whose encrypted part is one ONNX tree ensemble (TreeEnsembleClassifier /
 * TreeEnsembleRegressor, as skl2onnx writes DecisionTree/RandomForest/ExtraTrees and onnxmltools
 * writes XGBoost): the ensemble's structure and finalisation attributes, plus the nodes the client
 * runs before it (its input's producers) and after it (readers of its outputs).
 *
 * Before → after:
 *   c = Cast(x)   label, p = TreeEnsembleClassifier(c)   z = ZipMap(p)
 *   TreeModel { before: [Cast], input: c, ensemble: the trees' nodes and leaves, after: [ZipMap] }
 */
import { fail } from '../errors';
import { describeNode, ML_DOMAIN, type Graph, type Node } from '../graph/graph';
import { NodeView } from '../graph/kernel';
import { classLabels, floatList, postTransform, type ClassLabels, type PostTransform } from '../graph/ops/ml-common';
import { treeEnsembleOf, type TreeEnsemble } from '../graph/ops/ml-tree-ensemble';

/** The ai.onnx.ml tree ensembles whose scores the encrypted body computes. */
export const TREE_OPS: ReadonlySet<string> = new Set(['TreeEnsembleClassifier', 'TreeEnsembleRegressor']);

export type TreeTask =
  | { readonly kind: 'classifier'; readonly labels: ClassLabels }
  | { readonly kind: 'regressor'; /** AVERAGE divides the sum by the tree count. */ readonly average: boolean };

export interface TreeModel {
  readonly node: Node;
  readonly task: TreeTask;
  readonly ensemble: TreeEnsemble;
  /** Classes or targets: the width of the score vector. */
  readonly outputs: number;
  readonly baseValues: readonly number[];
  readonly transform: PostTransform;
  /** The value the ensemble reads: [batch, features]. */
  readonly input: string;
  readonly features: number;
  /** Nodes that compute `input` from the graph input, in graph order (run by the client). */
  readonly before: readonly Node[];
  /** Nodes that read the ensemble's outputs, in graph order (run by the client). */
  readonly after: readonly Node[];
}

export function isTreeNode(n: Node): boolean {
  return n.domain === ML_DOMAIN && TREE_OPS.has(n.opType);
}

/** Whether the graph's computation goes through a tree ensemble (then `treeModel` applies). */
export function hasTreeEnsemble(graph: Graph): boolean {
  return graph.nodes.some(isTreeNode);
}

export function treeModel(graph: Graph): TreeModel {
  const trees = graph.nodes.filter(isTreeNode);
  if (trees.length !== 1) fail('NOT_ENCRYPTABLE', `the graph has ${trees.length} tree ensembles; one per model is supported for encryption`);
  const node = trees[0]!;
  const view = new NodeView(node, graph.opsets.get(node.domain) ?? 1, graph.opsets);
  const input = node.inputs[0]!;
  const width = featureWidth(graph, input);

  let task: TreeTask;
  let outputs: number;
  let ensemble: TreeEnsemble;
  if (node.opType === 'TreeEnsembleClassifier') {
    const labels = classLabels(view, 'classlabels_int64s', 'classlabels_strings', true)!;
    outputs = labels.values.length;
    ensemble = treeEnsembleOf(view, 'class', outputs);
    task = { kind: 'classifier', labels };
  } else {
    outputs = view.int('n_targets', 1);
    const aggregate = view.string('aggregate_function', 'SUM');
    if (aggregate !== 'SUM' && aggregate !== 'AVERAGE') {
      fail('NOT_ENCRYPTABLE', `${describeNode(node, graph.opsets)}: aggregate_function ${aggregate} needs a comparison of encrypted scores; only SUM and AVERAGE are supported for encryption`);
    }
    ensemble = treeEnsembleOf(view, 'target', outputs);
    task = { kind: 'regressor', average: aggregate === 'AVERAGE' };
  }
  if (ensemble.maxFeature >= width) fail('BAD_GRAPH', `${describeNode(node, graph.opsets)}: a branch reads feature ${ensemble.maxFeature} of ${width}`);

  const { before, after } = clientNodes(graph, node);
  return {
    node,
    task,
    ensemble,
    outputs,
    baseValues: floatList(view, 'base_values') ?? [],
    transform: postTransform(view),
    input,
    features: width,
    before,
    after,
  };
}

function featureWidth(graph: Graph, value: string): number {
  const t = graph.valueTypes.get(value);
  const shape = t?.kind === 'tensor' ? t.shape : null;
  const last = shape && shape.length === 2 ? shape[1] : undefined;
  if (typeof last !== 'number') fail('NOT_ENCRYPTABLE', `the tree ensemble's input "${value}" needs a known shape [batch, features]`);
  return last;
}

/**
 * The producers of the ensemble's input (before), and every other node (after). The nodes after
 * may read only the ensemble's outputs, constants and each other: the client runs them on the
 * decrypted scores alone.
 */
function clientNodes(graph: Graph, tree: Node): { before: Node[]; after: Node[] } {
  const producer = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) producer.set(o, n);
  const upstream = new Set<Node>();
  const pending = [...tree.inputs];
  while (pending.length > 0) {
    const n = producer.get(pending.pop()!);
    if (!n || upstream.has(n)) continue;
    upstream.add(n);
    pending.push(...n.inputs);
  }
  const before = graph.nodes.filter((n) => upstream.has(n));
  const after = graph.nodes.filter((n) => n !== tree && !upstream.has(n));
  const available = new Set<string>(tree.outputs.filter((o) => o !== ''));
  for (const n of after) {
    const outside = n.inputs.find((x) => x !== '' && !available.has(x) && !graph.initializers.has(x));
    if (outside !== undefined) {
      fail('NOT_ENCRYPTABLE', `${describeNode(n, graph.opsets)} reads "${outside}" besides the tree ensemble's scores; the client has only the decrypted scores after the ensemble`);
    }
    for (const o of n.outputs) if (o) available.add(o);
  }
  for (const o of graph.outputs) {
    if (!available.has(o.name)) fail('NOT_ENCRYPTABLE', `graph output "${o.name}" does not come from the tree ensemble's scores`);
  }
  return { before, after };
}
