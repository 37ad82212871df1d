/**
 * An embedding on token ids (`Gather(table, ids)`, torch's nn.Embedding, ids the graph input) as
 * the body can hold it: the client one-hot encodes its own ids before encryption, and the server
 * multiplies the encrypted one-hot by the table, an affine map — the table never leaves the
 * server, and the client learns nothing it did not hold. The Gather becomes
 *   u = Unsqueeze(ids, −1); h = Cast(Equal(u, [0 … V−1])) + Cast(Equal(u, [−V … −1])); MatMul(h, table)
 * (the second Equal gives a negative id, which Gather counts from the end, its row). The nodes
 * before the MatMul are the client's (the trace puts them in the prologue). An id outside
 * [−V, V) one-hot encodes to zeros where Gather would refuse it.
 */
import { ONNX_DOMAIN, type AttributeValue, type Graph, type Node } from '../graph/graph';
import { numeric, type Tensor } from '../graph/tensor';
import { sourcesOf, withSources, type SourceTable } from './node-sources';

/** The embedding lookups on token ids this pass rewrites (the test below says which Gathers). */
export const EMBEDDING_OPS: ReadonlyMap<string, ReadonlySet<string>> = new Map([[ONNX_DOMAIN, new Set(['Gather'])]]);

export interface OneHotEmbeddings {
  readonly graph: Graph;
  readonly sources: SourceTable;
  /** The nodes the client runs before encryption (the one-hot encoding). */
  readonly clientPrologue: ReadonlySet<Node>;
}

const FLOAT = 1;

export function oneHotEmbeddings(graph: Graph, sources: SourceTable): OneHotEmbeddings {
  const inputs = new Set(graph.inputs.map((i) => i.name).filter((n) => !graph.initializers.has(n)));
  const opset = graph.opsets.get(ONNX_DOMAIN) ?? 0;
  const initializers = new Map<string, Tensor>(graph.initializers);
  const clientPrologue = new Set<Node>();
  const valueTypes = new Map(graph.valueTypes);
  let table: SourceTable = sources;
  const nodes: Node[] = [];
  for (const node of graph.nodes) {
    const [data, ids] = node.inputs as [string, string | undefined];
    const weights = graph.initializers.get(data);
    const axis = node.attributes.get('axis');
    const isEmbedding =
      EMBEDDING_OPS.get(node.domain)?.has(node.opType) === true &&
      ids !== undefined &&
      inputs.has(ids) &&
      (axis === undefined || (axis.type === 'int' && axis.value === 0)) &&
      weights?.kind === 'numeric' &&
      weights.shape.length === 2;
    if (!isEmbedding || weights?.kind !== 'numeric') {
      nodes.push(node);
      continue;
    }
    const vocabulary = weights.shape[0]!;
    const at = (suffix: string): string => `${node.outputs[0]!}#${suffix}`;
    initializers.set(at('ids'), numeric('int64', [vocabulary], Array.from({ length: vocabulary }, (_v, i) => i)));
    initializers.set(at('negative-ids'), numeric('int64', [vocabulary], Array.from({ length: vocabulary }, (_v, i) => i - vocabulary)));
    const made = (opType: string, ins: string[], out: string, attributes: [string, AttributeValue][] = []): Node => ({ name: `${node.name}/${opType}`, opType, domain: ONNX_DOMAIN, inputs: ins, outputs: [out], attributes: new Map(attributes) });
    const unsqueeze =
      opset >= 13
        ? (initializers.set(at('last-axis'), numeric('int64', [1], [-1])), made('Unsqueeze', [ids, at('last-axis')], at('unsqueezed')))
        : made('Unsqueeze', [ids], at('unsqueezed'), [['axes', { type: 'ints', value: [-1] }]]);
    const client = [
      unsqueeze,
      made('Equal', [at('unsqueezed'), at('ids')], at('equal')),
      made('Equal', [at('unsqueezed'), at('negative-ids')], at('equal-negative')),
      made('Cast', [at('equal')], at('one-hot'), [['to', { type: 'int', value: FLOAT }]]),
      made('Cast', [at('equal-negative')], at('one-hot-negative'), [['to', { type: 'int', value: FLOAT }]]),
      made('Add', [at('one-hot'), at('one-hot-negative')], at('one-hot-sum')),
    ];
    for (const n of client) clientPrologue.add(n);
    // What the client encrypts: the ids' shape with one more axis of V (the trace needs it per sample).
    const idsType = graph.valueTypes.get(ids) ?? graph.inputs.find((i) => i.name === ids)?.type;
    if (idsType?.kind === 'tensor' && idsType.shape) valueTypes.set(at('one-hot-sum'), { kind: 'tensor', dtype: 'float32', shape: [...idsType.shape, vocabulary] });
    const matmul = made('MatMul', [at('one-hot-sum'), data], node.outputs[0]!);
    table = withSources(table, matmul, sourcesOf(node, table));
    nodes.push(...client, matmul);
  }
  if (clientPrologue.size === 0) return { graph, sources, clientPrologue };
  return { graph: { ...graph, nodes, initializers, valueTypes }, sources: table, clientPrologue };
}
