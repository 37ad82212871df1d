/**
 * Nearest-neighbour models are refused before tracing, with their own reason. Their distances to
 * the stored training rows are degree 2 in the input, but choosing the k nearest (TopK) and voting
 * are comparisons, which CKKS evaluates only as deep polynomial approximations — a sign of the
 * difference of every pair of distances, far beyond a leveled circuit's depth. Handing the distances
 * to the client instead would show it the distance to every training row.
 *
 * Before → after:
 *   d = ReduceSum(Pow(Sub(x, rows), 2))   v, i = TopK(Neg(d), k)   label = … vote …
 *   NOT_ENCRYPTABLE "…: k-nearest neighbours cannot be encrypted: picking the k nearest training
 *   rows needs comparisons …"
 */
import { fail } from '../errors';
import { describeNode, ONNX_DOMAIN, type Graph } from '../graph/graph';

export function refuseNearestNeighbours(graph: Graph): void {
  const derived = new Set(graph.inputs.map((i) => i.name));
  for (const node of graph.nodes) {
    if (!node.inputs.some((x) => derived.has(x))) continue;
    for (const o of node.outputs) derived.add(o);
    if (node.domain !== ONNX_DOMAIN || node.opType !== 'TopK') continue;
    fail(
      'NOT_ENCRYPTABLE',
      `${describeNode(node, graph.opsets)}: k-nearest neighbours cannot be encrypted: picking the k nearest training rows needs comparisons ` +
        '(the distances are degree 2, the selection is not a low-degree polynomial), and sending the distances to the client would reveal the training data; ' +
        'a model of the same task that compiles: LogisticRegression, LinearSVC, RidgeClassifier or an MLPClassifier',
    );
  }
}
