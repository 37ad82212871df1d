/**
 * Whether a model is a transformer, and how the compiler holds its attention: products of two
 * tensors that both depend on the input (Q·Kᵀ, then the attention weights by V) become
 * ciphertext × ciphertext product stages, Softmax and LayerNorm row-wise stages (see trace.ts).
 * `inspect` prints this line; it refuses nothing (the trace and the approximation step say what
 * they cannot hold, node by node).
 */
import { describeNode, ONNX_DOMAIN, type Graph, type Node } from '../graph/graph';

/** Operators whose output carries the input's shape but none of its values. */
const SHAPE_ONLY = new Set(['Shape', 'Size']);

export interface AttentionFacts {
  /** MatMuls of two input-derived tensors, in graph order. */
  readonly products: readonly Node[];
  readonly softmaxes: number;
  /** LayerNormalization nodes, or the ReduceMean pairs torch writes below opset 17 (counted by ReduceMean). */
  readonly norms: number;
}

/** The transformer facts of `graph`, or null when no MatMul multiplies two input-derived tensors. */
export function attentionFacts(graph: Graph): AttentionFacts | null {
  // Older exporters list initializers among the graph inputs too: weights are not the input.
  const derived = new Set(graph.inputs.map((i) => i.name).filter((n) => !graph.initializers.has(n)));
  const products: Node[] = [];
  let softmaxes = 0;
  let reduceMeans = 0;
  let layerNorms = 0;
  for (const node of graph.nodes) {
    if (!node.inputs.some((x) => derived.has(x))) continue;
    if (node.domain !== ONNX_DOMAIN) {
      for (const o of node.outputs) derived.add(o);
      continue;
    }
    if (SHAPE_ONLY.has(node.opType)) continue;
    if (node.opType === 'MatMul' && derived.has(node.inputs[0]!) && derived.has(node.inputs[1]!)) products.push(node);
    if (node.opType === 'Softmax') softmaxes++;
    if (node.opType === 'LayerNormalization') layerNorms++;
    if (node.opType === 'ReduceMean') reduceMeans++;
    for (const o of node.outputs) derived.add(o);
  }
  if (products.length === 0) return null;
  return { products, softmaxes, norms: layerNorms + Math.floor(reduceMeans / 2) };
}

/** One line for inspect: what the compiler makes of the transformer's attention. */
export function describeAttention(facts: AttentionFacts, graph: Graph): string {
  const n = facts.products.length;
  const around = [facts.softmaxes > 0 ? `${facts.softmaxes} Softmax` : '', facts.norms > 0 ? `${facts.norms} LayerNorm` : ''].filter(Boolean).join(' and ');
  return (
    `a transformer (attention, first at ${describeNode(facts.products[0]!, graph.opsets)}): ${n} MatMul${n === 1 ? '' : 's'} of two tensors computed from the input ` +
    `(Q·Kᵀ, the attention weights by V) become ciphertext × ciphertext product stages` +
    (around ? `; ${around} become row-wise stages the server evaluates as polynomials` : '')
  );
}
