/**
 * ai.onnx.ml LinearClassifier / LinearRegressor split into their affine part and the rest:
 *   LinearClassifier(x) → Gemm(x, W, b) = raw scores → LinearClassifier(raw) with identity weights
 * The Gemm is what the encrypted body computes; the identity classifier (same labels, same
 * post_transform, same multi_class) is what the client runs after decryption. Its identity
 * weights reproduce the raw scores exactly (x·1 + 0 is exact in floating point), so labels and
 * probabilities — binary single-score quirks included — are the original operator's.
 *
 * A binary classifier whose two rows are exact negations (scikit-learn's export: scores −z, z)
 * keeps one score in the body, Gemm(x, w, b) = z, and the client's classifier takes the pair
 * back with coefficients [−1, 1]: z·(−1) + 0 = −z is exact, so the encrypted body computes and
 * returns half as much for the same labels and probabilities.
 *
 * Before → after (three classes):
 *   label, p = LinearClassifier(x; coefficients W, intercepts b)
 *   z = Gemm(x, W, b)   label, p = LinearClassifier(z; coefficients I₃, intercepts 0)
 */
import { ML_DOMAIN, ONNX_DOMAIN, type AttributeValue, type Graph, type Node, type ValueType } from '../graph/graph';
import { numeric, type Tensor } from '../graph/tensor';
import { nodeLabel, sourcesOf, withSources, type SourceTable } from './node-sources';

export interface ExpandResult {
  readonly graph: Graph;
  readonly sources: SourceTable;
  /** Nodes made here that the client runs: allowed in the epilogue although their operator carries weights in general. */
  readonly clientNodes: ReadonlySet<Node>;
}

/** The ai.onnx.ml operators this pass splits into an encrypted Gemm and a client step. */
export const LINEAR_ML_OPS: ReadonlySet<string> = new Set(['LinearClassifier', 'LinearRegressor']);

const FLOAT32 = 1;

export function expandLinearMl(graph: Graph, sources: SourceTable = new Map()): ExpandResult {
  const initializers = new Map<string, Tensor>(graph.initializers);
  const valueTypes = new Map<string, ValueType>(graph.valueTypes);
  const taken = new Set<string>([...initializers.keys(), ...valueTypes.keys(), ...graph.nodes.flatMap((n) => n.outputs)]);
  const fresh = (base: string): string => {
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };
  let table: SourceTable = sources;
  const clientNodes = new Set<Node>();
  const nodes: Node[] = [];

  for (const node of graph.nodes) {
    const kind = node.domain === ML_DOMAIN && LINEAR_ML_OPS.has(node.opType) ? (node.opType as 'LinearClassifier' | 'LinearRegressor') : undefined;
    if (!kind) {
      nodes.push(node);
      continue;
    }
    const origin = sourcesOf(node, table);
    const label = nodeLabel(node);
    const coefficients = floats(node, 'coefficients');
    const intercepts = floats(node, 'intercepts');
    const targets = kind === 'LinearClassifier' ? intercepts.length : intAttr(node, 'targets', 1);
    if (targets < 1 || coefficients.length === 0 || coefficients.length % targets !== 0) {
      nodes.push(node); // malformed: the importer's kernel validation names the problem
      continue;
    }
    const features = coefficients.length / targets;
    const transform = stringAttr(node, 'post_transform', 'NONE');

    let x = node.inputs[0]!;
    const xType = valueTypes.get(x);
    const batch = xType?.kind === 'tensor' && xType.shape ? xType.shape[0] ?? null : null;
    if (!(xType?.kind === 'tensor' && xType.dtype === 'float32')) {
      // The ml operators read any numeric input as float; Gemm would keep an integer type.
      const cast: Node = { name: `${label}/cast`, opType: 'Cast', domain: ONNX_DOMAIN, inputs: [x], outputs: [fresh(`${x}/float`)], attributes: new Map([['to', { type: 'int', value: FLOAT32 }]]) };
      valueTypes.set(cast.outputs[0]!, { kind: 'tensor', dtype: 'float32', shape: xType?.kind === 'tensor' ? xType.shape : null });
      nodes.push(cast);
      table = withSources(table, cast, origin);
      x = cast.outputs[0]!;
    }

    const bias = intercepts.length === targets ? intercepts : new Array<number>(targets).fill(0);
    const pair = kind === 'LinearClassifier' && negatedPair(coefficients, bias, features);
    const scores = pair ? 1 : targets;
    const wName = fresh(`${label}/coefficients`);
    initializers.set(wName, numeric('float32', [scores, features], pair ? coefficients.slice(features) : coefficients));
    const bName = fresh(`${label}/intercepts`);
    initializers.set(bName, numeric('float32', [scores], pair ? bias.slice(1) : bias));

    const direct = kind === 'LinearRegressor' && transform === 'NONE';
    const raw = direct ? node.outputs[0]! : fresh(`${label}/raw_scores`);
    const gemm: Node = { name: node.name, opType: 'Gemm', domain: ONNX_DOMAIN, inputs: [x, wName, bName], outputs: [raw], attributes: new Map([['transB', { type: 'int', value: 1 }]]) };
    valueTypes.set(raw, { kind: 'tensor', dtype: 'float32', shape: [batch, scores] });
    nodes.push(gemm);
    table = withSources(table, gemm, origin);
    if (direct) continue;

    const attributes = new Map<string, AttributeValue>(node.attributes);
    const identity = new Array<number>(targets * scores).fill(0);
    if (pair) identity.splice(0, 2, -1, 1);
    else for (let i = 0; i < targets; i++) identity[i * targets + i] = 1;
    attributes.set('coefficients', { type: 'floats', value: identity });
    attributes.set('intercepts', { type: 'floats', value: new Array<number>(targets).fill(0) });
    const post: Node = { ...node, name: `${label}/post`, inputs: [raw], attributes };
    nodes.push(post);
    clientNodes.add(post);
    table = withSources(table, post, origin);
  }

  const opsets = new Map(graph.opsets);
  if (!opsets.has(ONNX_DOMAIN)) opsets.set(ONNX_DOMAIN, 13);
  return { graph: { ...graph, opsets, nodes, initializers, valueTypes }, sources: table, clientNodes };
}

/** Two rows (and intercepts) that are exact negations of each other: scores −z and z. */
function negatedPair(coefficients: readonly number[], intercepts: readonly number[], features: number): boolean {
  if (intercepts.length !== 2 || coefficients.length !== 2 * features) return false;
  if (intercepts[0] !== -intercepts[1]!) return false;
  for (let j = 0; j < features; j++) if (coefficients[j] !== -coefficients[features + j]!) return false;
  return true;
}

function floats(node: Node, name: string): number[] {
  const a = node.attributes.get(name);
  return a && (a.type === 'floats' || a.type === 'ints') ? [...a.value] : [];
}

function intAttr(node: Node, name: string, fallback: number): number {
  const a = node.attributes.get(name);
  return a && a.type === 'int' ? a.value : fallback;
}

function stringAttr(node: Node, name: string, fallback: string): string {
  const a = node.attributes.get(name);
  return a && a.type === 'string' ? a.value : fallback;
}
