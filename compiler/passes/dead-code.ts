/**
 * Dead-code elimination: nodes none of whose outputs reach a graph output are dropped, so side
 * computations an exporter left behind (shape queries, unused branches) neither block the split
 * nor travel to the client.
 *
 * Before → after (graph output: y):
 *   s = Shape(x)   n = Gather(s, 0)   y = Gemm(x, W, b)
 *   y = Gemm(x, W, b)
 */
import type { Graph, Node } from '../graph/graph';

export function removeDeadNodes(graph: Graph): Graph {
  const needed = new Set(graph.outputs.map((o) => o.name));
  const live: Node[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i]!;
    if (!node.outputs.some((o) => o && needed.has(o))) continue;
    live.push(node);
    for (const x of node.inputs) if (x) needed.add(x);
  }
  live.reverse();
  return live.length === graph.nodes.length ? graph : { ...graph, nodes: live };
}
