/**
 * Which original ONNX nodes a (possibly rewritten) node stands for, so reports can name them after
 * passes have fused or split nodes. Keyed by the node's first output, which stays unique even when
 * exporters leave node names empty.
 *
 * Before → after (activation fusion of an unnamed Sigmoid and a Mul named m):
 *   s = Sigmoid(x)   y = Mul(x, s) named m        table: (empty)
 *   y = ai.deeppowers.activation:silu(x)          table: y → ["Sigmoid→s", "m"]
 */
import type { Node } from '../graph/graph';

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
