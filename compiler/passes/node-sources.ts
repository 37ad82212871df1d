/**
 * Which original ONNX nodes a (possibly rewritten) node stands for, so reports can name them after
 * passes have fused or split nodes. Keyed by the node's first output, which stays unique even when
 * exporters leave node names empty.
 *
 * Before → after (activation fusion of an unnamed Sigmoid and a Mul named m):
 *   s = Sigmoid(x)   y = Mul(x, s) named m        table: (empty)
 *   y = ai.deeppowers.activation:silu(x)          table: y → ["Sigmoid→s", "m"]
 */
import type { Graph, Node } from '../graph/graph';

export type SourceTable = ReadonlyMap<string, readonly string[]>;

/** The name reports use for an original node: its ONNX name, or its op and output when unnamed. */
export function nodeLabel(node: Node): string {
  return node.name || `${node.opType}→${node.outputs[0] ?? '?'}`;
}

export function sourcesOf(node: Node, table: SourceTable): readonly string[] {
  return table.get(node.outputs[0] ?? '') ?? [nodeLabel(node)];
}

export function withSources(table: SourceTable, node: Node, sources: readonly string[]): Map<string, readonly string[]> {
  const next = new Map(table);
  next.set(node.outputs[0] ?? '', sources);
  return next;
}

/** A node that replaces a group of nodes: the node, and the members it stands for (their sources become its own). */
export interface Fusion {
  readonly node: Node;
  readonly members: ReadonlySet<Node>;
}

/**
 * The graph with each fusion's node where its root was, the other members dropped, and the
 * source table naming every member under the fused node; other nodes keep their order.
 */
export function replaceFused(graph: Graph, sources: SourceTable, fusions: ReadonlyMap<Node, Fusion>): { graph: Graph; sources: SourceTable } {
  const consumed = new Set([...fusions.values()].flatMap((f) => [...f.members]));
  let table: SourceTable = sources;
  const nodes: Node[] = [];
  for (const n of graph.nodes) {
    const fusion = fusions.get(n);
    if (!fusion) {
      if (!consumed.has(n)) nodes.push(n);
      continue;
    }
    table = withSources(table, fusion.node, graph.nodes.filter((m) => fusion.members.has(m)).flatMap((m) => sourcesOf(m, table)));
    nodes.push(fusion.node);
  }
  return { graph: { ...graph, nodes }, sources: table };
}
