/**
 * Constant folding: every node whose inputs are all constants (initializers, Constant nodes, or
 * earlier folded results) is evaluated once with the reference kernels and becomes an initializer.
 * Later passes then see weights, shapes and axes as plain tensors, whatever way the exporter
 * computed them.
 *
 * Before → after:
 *   c = Constant(value=[2])   s = Mul(c, [3])   y = Mul(x, s)
 *   y = Mul(x, s)   with s = [6] an initializer
 */
import { DeepPowersError, fail } from '../errors';
import type { Graph, Node } from '../graph/graph';
import { NodeView } from '../graph/kernel';
import { findKernel } from '../graph/ops/index';
import type { Tensor } from '../graph/tensor';

export function foldConstants(graph: Graph): Graph {
  const constants = new Map<string, Tensor>(graph.initializers);
  const kept: Node[] = [];
  for (const node of graph.nodes) {
    const present = node.inputs.filter((x) => x !== '');
    const foldable = present.every((x) => constants.has(x)) && (present.length > 0 || node.opType === 'Constant');
    const results = foldable ? evaluate(graph, node, constants) : undefined;
    if (!results) {
      kept.push(node);
      continue;
    }
    for (const [name, t] of results) constants.set(name, t);
  }
  return { ...graph, nodes: kept, initializers: constants };
}

/** The node's named outputs when they are all tensors; undefined when one is not (ZipMap's maps). */
function evaluate(graph: Graph, node: Node, constants: ReadonlyMap<string, Tensor>): Map<string, Tensor> | undefined {
  const kernel = findKernel(node.domain, node.opType);
  if (!kernel) fail('UNSUPPORTED_OP', `unsupported operator ${node.opType} (${node.domain})`);
  const view = new NodeView(node, graph.opsets.get(node.domain)!, graph.opsets);
  let results;
  try {
    results = kernel.run(view, node.inputs.map((x) => (x ? constants.get(x) : undefined)));
  } catch (e) {
    if (e instanceof DeepPowersError) throw e;
    fail('BAD_GRAPH', `${view.describe()}: ${(e as Error).message}`);
  }
  const tensors = new Map<string, Tensor>();
  for (const [i, name] of node.outputs.entries()) {
    if (!name) continue;
    const v = results[i];
    if (!v || v.kind === 'sequence-of-maps') return undefined;
    tensors.set(name, v);
  }
  return tensors;
}
