/**
 * Shape arithmetic on encrypted values, folded: exporters compute the target of a Reshape (heads
 * split out of the hidden axis) or an Expand (a CLS token copied to every row) from `Shape` of a
 * value computed from the input — Shape → Gather → Unsqueeze → Concat, ConstantOfShape → Equal →
 * Where. The per-sample dimensions are fixed, so every such value is a constant except where it
 * carries the batch size. This pass finds the values computed only from Shape/Size of
 * input-derived tensors and constants, evaluates them with the reference kernels on zero inputs
 * at two batch sizes, and
 *  - makes every value that is the same at both sizes an initializer;
 *  - where a 1-D shape differs only in entries that are a multiple k·B of the batch size B, and it
 *    is a Reshape's target with one such entry, writes it as −1 (the one inferred axis: the input
 *    holds a multiple of B values, so −1 is k·B at every batch size; torch's MultiheadAttention
 *    reshapes (L, B, E) to (L, B·heads, E/heads) this way), or, when the target already has a −1,
 *    a first entry B as 0 (copy the input's batch); where it is an Expand's target and the entries
 *    are B itself, as 1 (Expand broadcasts, so a per-sample constant stays per sample and an
 *    input-derived value keeps its own batch).
 * Any other use of the batch size (a ConstantOfShape of it, a shape with B + c) is left as it is,
 * and the trace refuses it with its own reason. Where the batch axis then sits is batch-axis.ts's
 * business. Models whose shape values fail to
 * evaluate are returned unchanged.
 */
import { DeepPowersError } from '../errors';
import { ONNX_DOMAIN, type Graph, type Node } from '../graph/graph';
import { runGraph } from '../graph/ops/interpreter';
import { numeric, type NumericTensor, type Tensor, type Value } from '../graph/tensor';

/** Operators whose output is the shape (or size) of their input, not its values. */
const SHAPE_OF = new Set(['Shape', 'Size']);

/** Two batch sizes that no per-sample dimension is mistaken for (a dimension equal to both cannot exist). */
const BATCHES = [2, 3] as const;

export function foldShapes(graph: Graph): Graph {
  if (graph.inputs.length !== 1) return graph;
  const input = graph.inputs[0]!;
  if (input.type.kind !== 'tensor' || input.type.dtype === 'string' || !input.type.shape) return graph;
  const dims = input.type.shape;
  if (dims.length < 1 || dims.slice(1).some((d) => typeof d !== 'number')) return graph;
  const dtype = input.type.dtype;

  const isConstant = (x: string): boolean => x === '' || graph.initializers.has(x);
  const derived = new Set<string>([input.name]);
  const shapeOnly = new Set<string>();
  const shapeNodes: Node[] = [];
  for (const node of graph.nodes) {
    const present = node.inputs.filter((x) => x !== '');
    if (node.domain === ONNX_DOMAIN && SHAPE_OF.has(node.opType) && derived.has(present[0] ?? '')) {
      shapeNodes.push(node);
      for (const o of node.outputs) if (o) shapeOnly.add(o);
    } else if (present.some((x) => shapeOnly.has(x)) && present.every((x) => shapeOnly.has(x) || isConstant(x))) {
      shapeNodes.push(node);
      for (const o of node.outputs) if (o) shapeOnly.add(o);
    } else if (present.some((x) => derived.has(x) || shapeOnly.has(x))) {
      for (const o of node.outputs) if (o) derived.add(o);
    }
  }
  if (shapeNodes.length === 0) return graph;

  const values = BATCHES.map((b) => evaluateShapes(graph, shapeNodes, b, dims.slice(1) as number[], dtype));
  if (values.some((v) => v === null)) return graph;
  const [small, large] = values as [Map<string, Value>, Map<string, Value>];

  const initializers = new Map<string, Tensor>(graph.initializers);
  const batchEntries = new Map<string, { tensor: NumericTensor; at: number[]; factors: number[] }>();
  for (const name of shapeOnly) {
    const a = small.get(name);
    const b = large.get(name);
    if (!a || !b || a.kind !== 'numeric' || b.kind !== 'numeric') continue;
    if (sameTensor(a, b)) initializers.set(name, a);
    else {
      const entries = batchPositions(a, b);
      if (entries) batchEntries.set(name, { tensor: a, ...entries });
    }
  }

  const nodes: Node[] = [];
  for (const node of graph.nodes) {
    if (node.outputs.length > 0 && node.outputs.every((o) => !o || initializers.has(o)) && shapeNodes.includes(node)) continue;
    const target = node.inputs[1];
    const entry = target !== undefined ? batchEntries.get(target) : undefined;
    const rewritten = entry && node.domain === ONNX_DOMAIN ? perSampleTarget(node, entry.tensor, entry.at, entry.factors) : null;
    if (!rewritten) {
      nodes.push(node);
      continue;
    }
    const name = `${target}#per-sample`;
    initializers.set(name, rewritten);
    nodes.push({ ...node, inputs: [node.inputs[0]!, name, ...node.inputs.slice(2)] });
  }
  return { ...graph, nodes, initializers };
}

/** The shape-only values at batch size `batch` (zero inputs), or null when the graph cannot run them. */
function evaluateShapes(graph: Graph, shapeNodes: readonly Node[], batch: number, sample: readonly number[], dtype: NumericTensor['dtype']): Map<string, Value> | null {
  // The nodes the Shape/Size nodes read through, then the shape arithmetic itself.
  const producer = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const needed = new Set<Node>(shapeNodes);
  const pending = shapeNodes.flatMap((n) => n.inputs);
  while (pending.length > 0) {
    const n = producer.get(pending.pop()!);
    if (!n || needed.has(n)) continue;
    needed.add(n);
    pending.push(...n.inputs);
  }
  const wanted = shapeNodes.flatMap((n) => n.outputs.filter((o) => o !== ''));
  const input = graph.inputs[0]!;
  const shape = [batch, ...sample];
  try {
    const sub: Graph = { ...graph, nodes: graph.nodes.filter((n) => needed.has(n)), outputs: [] };
    return runGraph(sub, new Map([[input.name, numeric(dtype, shape, new Float64Array(shape.reduce((p, d) => p * d, 1)))]]), wanted);
  } catch (e) {
    if (e instanceof DeepPowersError || e instanceof RangeError || e instanceof TypeError) return null;
    throw e;
  }
}

function sameTensor(a: NumericTensor, b: NumericTensor): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]) && a.data.every((v, i) => Object.is(v, b.data[i]));
}

/**
 * For a 1-D tensor that differs between the two batch sizes only where it holds a multiple k·B
 * of the batch size: those positions and their factors k.
 */
function batchPositions(a: NumericTensor, b: NumericTensor): { at: number[]; factors: number[] } | null {
  if (a.shape.length !== 1 || b.shape.length !== 1 || a.shape[0] !== b.shape[0]) return null;
  const at: number[] = [];
  const factors: number[] = [];
  for (let i = 0; i < a.data.length; i++) {
    if (a.data[i] === b.data[i]) continue;
    const k = a.data[i]! / BATCHES[0];
    if (!Number.isInteger(k) || k < 1 || b.data[i] !== k * BATCHES[1]) return null;
    at.push(i);
    factors.push(k);
  }
  return at.length > 0 ? { at, factors } : null;
}

/** The target a Reshape or Expand reads, with its batch entries written per sample; null for any other use. */
function perSampleTarget(node: Node, tensor: NumericTensor, at: readonly number[], factors: readonly number[]): NumericTensor | null {
  const data = Float64Array.from(tensor.data);
  if (node.opType === 'Expand') {
    if (factors.some((k) => k !== 1)) return null;
    for (const i of at) data[i] = 1;
    return numeric(tensor.dtype, tensor.shape, data);
  }
  if (node.opType === 'Reshape') {
    if (at.length !== 1) return null;
    const i = at[0]!;
    const allowZero = node.attributes.get('allowzero');
    const zeroCopies = !(allowZero?.type === 'int' && allowZero.value !== 0);
    // −1 whenever it is free: a 0 copies the input's first axis, which holds B only while the batch is first.
    if (!data.includes(-1)) data[i] = -1;
    else if (i === 0 && factors[0] === 1 && zeroCopies) data[0] = 0;
    else return null;
    return numeric(tensor.dtype, tensor.shape, data);
  }
  return null;
}
