/**
 * BatchNormalization (inference) folded into the Gemm or Conv that feeds it: the per-channel
 * y = a·x + b is pushed into that node's weights and bias, so the network has one affine node
 * where it had two. A BatchNormalization that cannot be folded (its input has other readers, or
 * comes from something else) stays; the affine extraction treats it as its own diagonal map.
 *
 * Before → after (a = γ/√(σ² + ε), per output channel):
 *   h = Gemm(x, W, b)   y = BatchNormalization(h, γ, β, μ, σ²)
 *   y = Gemm(x, a·W, a·(b − μ) + β)
 */
import { ONNX_DOMAIN, type AttributeValue, type Graph, type Node } from '../graph/graph';
import { numeric, type NumericTensor, type Tensor } from '../graph/tensor';
import { batchNormCoefficients } from './affine-linear';
import { nodeLabel, sourcesOf, withSources, type SourceTable } from './node-sources';

export interface FoldResult {
  readonly graph: Graph;
  readonly sources: SourceTable;
  /** Labels of the BatchNormalization nodes folded away. */
  readonly folded: readonly string[];
}

export function foldBatchNorm(graph: Graph, sources: SourceTable = new Map()): FoldResult {
  const constants = new Map<string, Tensor>(graph.initializers);
  const readers = new Map<string, number>();
  for (const n of graph.nodes) for (const x of n.inputs) readers.set(x, (readers.get(x) ?? 0) + 1);
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const producer = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) producer.set(o, n);

  const replaced = new Map<Node, Node>();
  const removed = new Set<Node>();
  let table: SourceTable = sources;
  const folded: string[] = [];
  for (const bn of graph.nodes) {
    if (bn.opType !== 'BatchNormalization' || bn.domain !== ONNX_DOMAIN) continue;
    const x = bn.inputs[0]!;
    const prev = producer.get(x);
    if (!prev || replaced.has(prev) || removed.has(prev) || readers.get(x) !== 1 || outputs.has(x)) continue;
    if (bn.outputs.slice(1).some(Boolean)) continue;
    const opset = graph.opsets.get(ONNX_DOMAIN) ?? 0;
    if (opset >= 14 && numberAttr(bn, 'training_mode', 0) !== 0) continue;
    const params = bn.inputs.slice(1, 5).map((name) => constants.get(name));
    if (params.length !== 4 || params.some((p) => !p || p.kind !== 'numeric')) continue;
    const [scale, bias, mean, variance] = params as NumericTensor[];
    const { a, b } = batchNormCoefficients(numberAttr(bn, 'epsilon', 1e-5), scale!, bias!, mean!, variance!);
    const fused = prev.opType === 'Gemm' ? foldIntoGemm(prev, bn, a, b, constants) : prev.opType === 'Conv' ? foldIntoConv(prev, bn, a, b, constants) : undefined;
    if (!fused) continue;
    replaced.set(prev, fused);
    removed.add(bn);
    table = withSources(table, fused, [...sourcesOf(prev, table), ...sourcesOf(bn, table)]);
    folded.push(nodeLabel(bn));
  }
  const nodes = graph.nodes.filter((n) => !removed.has(n)).map((n) => replaced.get(n) ?? n);
  return { graph: { ...graph, nodes, initializers: constants }, sources: table, folded };
}

/** A numeric attribute (exporters write ints and floats interchangeably for these). */
function numberAttr(node: Node, name: string, fallback: number): number {
  const a = node.attributes.get(name);
  return a && (a.type === 'int' || a.type === 'float') ? a.value : fallback;
}

function freshName(base: string, taken: ReadonlyMap<string, unknown>): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  return name;
}

/** Gemm: column j of alpha·A·B' + beta·C scaled by a_j and shifted by b_j. */
function foldIntoGemm(gemm: Node, bn: Node, a: Float64Array, b: Float64Array, constants: Map<string, Tensor>): Node | undefined {
  const w = constants.get(gemm.inputs[1] ?? '');
  const c = gemm.inputs[2] ? constants.get(gemm.inputs[2]) : undefined;
  if (!w || w.kind !== 'numeric' || w.shape.length !== 2 || (gemm.inputs[2] && (!c || c.kind !== 'numeric'))) return undefined;
  const transB = numberAttr(gemm, 'transB', 0) !== 0;
  const n = transB ? w.shape[0]! : w.shape[1]!;
  if (a.length !== n) return undefined;
  const beta = numberAttr(gemm, 'beta', 1);
  const cData = c && c.kind === 'numeric' ? perColumn(c, n) : new Float64Array(n);
  if (!cData) return undefined;
  const k = transB ? w.shape[1]! : w.shape[0]!;
  const weights = new Float64Array(w.data.length);
  for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) {
    const at = transB ? j * k + p : p * n + j;
    weights[at] = w.data[at]! * a[j]!;
  }
  const bias = Float64Array.from(cData, (v, j) => a[j]! * beta * v + b[j]!);
  const wName = freshName(`${bn.outputs[0]}/folded_B`, constants);
  constants.set(wName, numeric(w.dtype, w.shape, weights));
  const cName = freshName(`${bn.outputs[0]}/folded_C`, constants);
  constants.set(cName, numeric(w.dtype, [n], bias));
  const attributes = new Map<string, AttributeValue>(gemm.attributes);
  attributes.set('beta', { type: 'float', value: 1 });
  return { ...gemm, inputs: [gemm.inputs[0]!, wName, cName], outputs: [bn.outputs[0]!], attributes };
}

/** C broadcast to one value per output column, when it does not vary along the rows. */
function perColumn(c: NumericTensor, n: number): Float64Array | undefined {
  const dims = c.shape.length === 2 ? (c.shape[0] === 1 ? [c.shape[1]!] : undefined) : c.shape;
  if (!dims || dims.length > 1) return undefined;
  if (dims.length === 0 || dims[0] === 1) return new Float64Array(n).fill(c.data[0]!);
  return dims[0] === n ? Float64Array.from(c.data) : undefined;
}

/** Conv: output channel m's filter scaled by a_m, its bias mapped to a_m·bias_m + b_m. */
function foldIntoConv(conv: Node, bn: Node, a: Float64Array, b: Float64Array, constants: Map<string, Tensor>): Node | undefined {
  const w = constants.get(conv.inputs[1] ?? '');
  const bias = conv.inputs[2] ? constants.get(conv.inputs[2]) : undefined;
  if (!w || w.kind !== 'numeric' || (conv.inputs[2] && (!bias || bias.kind !== 'numeric'))) return undefined;
  const m = w.shape[0]!;
  if (a.length !== m) return undefined;
  const per = w.data.length / m;
  const weights = Float64Array.from(w.data, (v, i) => v * a[Math.floor(i / per)]!);
  const oldBias = bias && bias.kind === 'numeric' ? bias.data : new Float64Array(m);
  const newBias = Float64Array.from({ length: m }, (_v, i) => a[i]! * oldBias[i]! + b[i]!);
  const wName = freshName(`${bn.outputs[0]}/folded_W`, constants);
  constants.set(wName, numeric(w.dtype, w.shape, weights));
  const bName = freshName(`${bn.outputs[0]}/folded_B`, constants);
  constants.set(bName, numeric(w.dtype, [m], newBias));
  return { ...conv, inputs: [conv.inputs[0]!, wName, bName], outputs: [bn.outputs[0]!] };
}
