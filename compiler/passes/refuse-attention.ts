/**
 * Transformers are refused before tracing, with their own reason. Attention multiplies two
 * tensors that both depend on the input (Q·Kᵀ, then the attention weights by V): a product of two
 * ciphertexts, which the affine/activation chain cannot hold, and around it sit Softmax and
 * LayerNorm, which have no encrypted form here yet. The model still imports and runs in the clear.
 *
 * Before → after:
 *   q = MatMul(x, Wq)   k = MatMul(x, Wk)   v = MatMul(x, Wv)   a = Softmax(MatMul(q, Transpose(k)))   o = MatMul(a, v)
 *   NOT_ENCRYPTABLE "…: a transformer (attention) cannot be encrypted yet: 2 MatMuls multiply two
 *   tensors computed from the input (Q·Kᵀ and the attention weights by V), …"
 */
import { fail } from '../errors';
import { describeNode, ONNX_DOMAIN, type Graph, type Node } from '../graph/graph';

/** Operators whose output carries the input's shape but none of its values. */
const SHAPE_ONLY = new Set(['Shape', 'Size']);

export function refuseAttention(graph: Graph): void {
  // Older exporters list initializers among the graph inputs too: weights are not the input.
  const derived = new Set(graph.inputs.map((i) => i.name).filter((n) => !graph.initializers.has(n)));
  const products: Node[] = [];
  let softmaxes = 0;
  let norms = 0;
  for (const node of graph.nodes) {
    if (!node.inputs.some((x) => derived.has(x))) continue;
    if (node.domain !== ONNX_DOMAIN) {
      for (const o of node.outputs) derived.add(o);
      continue;
    }
    if (SHAPE_ONLY.has(node.opType)) continue;
    if (node.opType === 'MatMul' && derived.has(node.inputs[0]!) && derived.has(node.inputs[1]!)) products.push(node);
    if (node.opType === 'Softmax') softmaxes++;
    // LayerNormalization at opset 17; below it torch.onnx writes ReduceMean for the mean and for the variance.
    if (node.opType === 'LayerNormalization' || node.opType === 'ReduceMean') norms++;
    for (const o of node.outputs) derived.add(o);
  }
  if (products.length === 0) return;
  const around = [softmaxes > 0 ? 'Softmax' : '', norms > 0 ? 'LayerNorm' : ''].filter(Boolean).join(' and ');
  fail(
    'NOT_ENCRYPTABLE',
    `${describeNode(products[0]!, graph.opsets)}: a transformer (attention) cannot be encrypted yet: ${products.length} MatMul${products.length === 1 ? '' : 's'} multiply two tensors computed from the input ` +
      `(Q·Kᵀ and the attention weights by V), a product of two ciphertexts${around ? `, and its ${around} have no encrypted form yet` : ''}; ` +
      'it runs in the clear with `deeppowers predict --mode reference`',
  );
}
