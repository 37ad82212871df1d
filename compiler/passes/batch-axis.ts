/**
 * Where the batch (sample) axis is, followed through the graph, and every input-derived value
 * rewritten batch-first, so that the trace (which reads a value as [batch, …sample]) can take
 * models whose exporter moves the batch axis: torch's nn.MultiheadAttention and
 * nn.TransformerEncoderLayer go sequence-first (L, B, E), split heads into (L, B·heads, E/heads),
 * transpose to (B·heads, L, E/heads), multiply, and come back the same way.
 *
 * A value's batch axis is one axis of its full tensor whose size is outer·B·inner, the sample b
 * holding indices o·B·inner + b·inner + i there (its placement). Every sample's values, read in
 * the full tensor's row-major order, make its per-sample vector; the batch-first ("canonical")
 * tensor stacks those vectors as [B, …per-sample shape], the per-sample shape being the full
 * shape with B taken out of that axis (the axis dropped when outer·inner is 1). A Reshape keeps
 * the row-major order, so it is separable when B stays a factor of one axis with the same stride
 * below it; a Transpose moves the axis. Each node that reads a value whose batch is not first is
 * rewritten to the same computation on canonical tensors (a new perm, target, axis, or constant
 * laid out batch-first); a value whose batch is first keeps its name, so the rest of the graph
 * is unchanged. Where a node cannot be rewritten (it works along the batch axis, or the reshape
 * mixes the batch index with sample values), the original value is rebuilt from the canonical
 * one by a Reshape-Transpose-Reshape that moves the batch back, and `refusals` says why for the
 * trace; the graph always computes what it computed before.
 *
 * Before → after (torch's MultiheadAttention, batch B, 8 tokens of 16, 4 heads):
 *   t = Transpose(x [B, 8, 16], perm [1, 0, 2])      [8, B, 16]       t# = Identity(x)             [B, 8, 16]
 *   r = Reshape(q [8, B, 16], [8, -1, 4])           [8, B·4, 4]      r# = Reshape(q#, [0, 8, 4, 4])  [B, 8, 4, 4]
 *   h = Transpose(r, perm [1, 0, 2])                [B·4, 8, 4]      h# = Transpose(r#, [0, 2, 1, 3]) [B, 4, 8, 4]
 *   y = Gemm(z [8·B, 16], W, c)                     [8·B, 16]        y# = Add(MatMul(z#, Wᵀ), c)     [B, 8, 16]
 */
import { ONNX_DOMAIN, graphEdges, type Graph, type Node, type AttributeValue, type ValueType } from '../graph/graph';
import { NodeView, runKernel } from '../graph/kernel';
import { findKernel } from '../graph/ops/index';
import { numeric, sizeOf, type NumericTensor, type Tensor, type Value } from '../graph/tensor';
import { sourcesOf, withSources, type SourceTable } from './node-sources';

/** Where the batch sits in a value's full tensor (see the file comment). */
export interface Placement {
  /** Full tensor dimensions with B taken out: dims[axis] = outer·inner. */
  readonly dims: readonly number[];
  readonly axis: number;
  readonly outer: number;
  readonly inner: number;
}

export interface BatchAxisRewrite {
  readonly graph: Graph;
  readonly sources: SourceTable;
  /**
   * Keyed by its first output: each node that moves the batch back to where a node that cannot be
   * rewritten reads it, with the reason (it completes "… is not supported for encryption yet").
   */
  readonly refusals: ReadonlyMap<string, string>;
}

/** Two batch sizes the shapes are checked at (as fold-shapes: no per-sample dimension is mistaken for both). */
const BATCHES = [2, 3] as const;

const LAYOUT_OPS = new Set(['Transpose', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);

/** Operators that apply one function to each element of one encrypted input (constant parameters aside) and keep the layout. */
const UNARY = new Set([
  'Identity', 'Relu', 'Sigmoid', 'Tanh', 'Erf', 'Exp', 'Log', 'Sqrt', 'Abs', 'Neg', 'Reciprocal', 'Softplus', 'Softsign', 'Elu', 'Selu',
  'LeakyRelu', 'HardSigmoid', 'HardSwish', 'Gelu', 'Mish', 'Sin', 'Cos', 'Floor', 'Ceil', 'Round', 'Sign', 'Cast', 'Dropout', 'Clip',
]);

/** Elementwise operators of several inputs, broadcasting (numpy rules) encrypted values and constants. */
const BROADCASTING = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Where', 'PRelu']);

const REDUCE = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceSumSquare', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp']);

export function isStandard(p: Placement): boolean {
  return p.axis === 0 && p.outer === 1 && p.inner === 1;
}

/** The axis keeps a place in the per-sample shape when a sample holds more than one index of it. */
function kept(p: Placement): boolean {
  return p.outer * p.inner > 1;
}

/** The per-sample (canonical) shape: the full shape with B taken out. */
export function sampleShape(p: Placement): number[] {
  return kept(p) ? [...p.dims] : p.dims.filter((_d, i) => i !== p.axis);
}

/** The canonical axis (batch first) of full axis `a`, which is not the batch axis or the axis is kept. */
function canonicalAxis(p: Placement, a: number): number {
  return 1 + (kept(p) || a < p.axis ? a : a - 1);
}

/**
 * The axis attribute for full axis `a` batch-first: an axis after the batch keeps its negative
 * index (the trailing axes are the same in both layouts, and fusions look for axes [-1]).
 */
function axisAttr(p: Placement, a: number): number {
  return a > p.axis ? a - p.dims.length : canonicalAxis(p, a);
}

/** The full dims, written with B where it enters: [8, B·4, 4]. */
export function describePlacement(p: Placement): string {
  const f = (d: number, i: number): string => (i !== p.axis ? String(d) : p.outer === 1 && p.inner === 1 ? 'B' : `${p.outer > 1 ? `${p.outer}·` : ''}B${p.inner > 1 ? `·${p.inner}` : ''}`);
  return `[${p.dims.map(f).join(', ')}]`;
}

/** A dimension of a full tensor: c, or c·B when `batch`. */
interface SymDim {
  readonly c: number;
  readonly batch: boolean;
}

/**
 * The placement of a reshape of a value placed at `p` to full dims `target` (one of them c·B),
 * or why it is not separable: the batch index must stay the factor of one axis with the same
 * number of values below it.
 */
export function reshapePlacement(p: Placement, target: readonly SymDim[]): Placement | string {
  const q = target.findIndex((d) => d.batch);
  if (q < 0 || target.filter((d) => d.batch).length !== 1) return 'a reshape that does not keep the batch size as a factor of one axis';
  const below = sizeOf(target.slice(q + 1).map((d) => d.c));
  const stride = p.inner * sizeOf(p.dims.slice(p.axis + 1));
  const k = target[q]!.c;
  if (stride % below !== 0 || k % (stride / below) !== 0) return 'a reshape that mixes the batch index with sample values (the batch is not separable)';
  const inner = stride / below;
  return { dims: target.map((d) => d.c), axis: q, outer: k / inner, inner };
}

/** The full symbolic dims of a value placed at `p`. */
function symbolic(p: Placement): SymDim[] {
  return p.dims.map((c, i) => ({ c, batch: i === p.axis }));
}

function times(a: SymDim, b: SymDim): SymDim | null {
  if (a.batch && b.batch) return null;
  return { c: a.c * b.c, batch: a.batch || b.batch };
}

type Handled = { readonly nodes: readonly Node[]; readonly out: Placement } | { readonly refused: string };

interface Tracked {
  /** The name of the batch-first tensor. */
  readonly canonical: string;
  readonly place: Placement;
}

export function batchFirst(graph: Graph, sources: SourceTable): BatchAxisRewrite {
  const unchanged = { graph, sources, refusals: new Map<string, string>() };
  if (graph.inputs.length !== 1) return unchanged;
  const input = graph.inputs[0]!;
  if (input.type.kind !== 'tensor' || input.type.dtype === 'string' || !input.type.shape) return unchanged;
  const inDims = input.type.shape;
  if (inDims.length < 1 || inDims.slice(1).some((d) => typeof d !== 'number')) return unchanged;
  // Only models that transpose or reshape an input-derived value need the walk.
  const derived = new Set([input.name]);
  let layout = false;
  for (const n of graph.nodes) {
    if (!n.inputs.some((x) => derived.has(x))) continue;
    if (n.domain === ONNX_DOMAIN && LAYOUT_OPS.has(n.opType)) layout = true;
    for (const o of n.outputs) if (o) derived.add(o);
  }
  if (!layout) return unchanged;

  const { readers } = graphEdges(graph);
  const initializers = new Map<string, Tensor>(graph.initializers);
  const valueTypes = new Map<string, ValueType>(graph.valueTypes);
  const tracked = new Map<string, Tracked>();
  /** Zero tensors of each canonical value at the two batch sizes, for shapes. */
  const zeros = BATCHES.map(() => new Map<string, Value>());
  const refusals = new Map<string, string>();
  const restored = new Set<string>();
  const nodes: Node[] = [];
  let table: SourceTable = sources;
  const batchDim = inDims[0] ?? 'batch';

  const sample = inDims.slice(1) as number[];
  tracked.set(input.name, { canonical: input.name, place: { dims: [1, ...sample], axis: 0, outer: 1, inner: 1 } });
  BATCHES.forEach((b, i) => zeros[i]!.set(input.name, numeric(input.type.kind === 'tensor' && input.type.dtype !== 'string' ? input.type.dtype : 'float32', [b, ...sample], new Float64Array(b * sizeOf(sample)))));

  const constant = (name: string | undefined): NumericTensor | undefined => {
    const t = name ? initializers.get(name) : undefined;
    return t && t.kind === 'numeric' ? t : undefined;
  };
  const addConstant = (name: string, t: NumericTensor): string => {
    initializers.set(name, t);
    return name;
  };
  const ints = (dtype: NumericTensor['dtype'], data: readonly number[]): NumericTensor => numeric(dtype, [data.length], data);

  /** Runs `ns` on the zero tensors at both batch sizes, keeping their outputs; false when a kernel fails. */
  const runZeros = (ns: readonly Node[]): boolean => {
    for (let i = 0; i < BATCHES.length; i++) {
      const values = zeros[i]!;
      for (const n of ns) {
        const kernel = findKernel(n.domain, n.opType);
        if (!kernel) return false;
        try {
          const view = new NodeView(n, graph.opsets.get(n.domain)!, graph.opsets);
          const results = runKernel(kernel, view, n.inputs.map((x) => (x ? (values.get(x) ?? initializers.get(x)) : undefined)));
          n.outputs.forEach((o, j) => {
            if (o && results[j] !== undefined) values.set(o, results[j]!);
          });
        } catch {
          // A node the zero run cannot take (data-dependent shapes): its outputs are not followed.
          return false;
        }
      }
    }
    return true;
  };
  const shapeAt = (name: string, i: number): readonly number[] | undefined => {
    const v = zeros[i]!.get(name);
    return v && v.kind === 'numeric' ? v.shape : undefined;
  };
  const record = (original: string, canonical: string, place: Placement): void => {
    tracked.set(original, { canonical, place });
    const v = zeros[0]!.get(canonical);
    if (v && v.kind === 'numeric') valueTypes.set(canonical, { kind: 'tensor', dtype: v.dtype, shape: [batchDim, ...sampleShape(place)] });
  };
  /** Whether canonical value `name` has shape [B, …sampleShape(p)] at both batch sizes. */
  const shaped = (name: string, p: Placement): boolean =>
    BATCHES.every((b, i) => {
      const s = shapeAt(name, i);
      const want = [b, ...sampleShape(p)];
      return !!s && s.length === want.length && s.every((d, j) => d === want[j]);
    });

  /** The original value `name` rebuilt from its canonical tensor (nodes appended), once. */
  const restore = (name: string, reason: string, label: string): void => {
    const t = tracked.get(name)!;
    if (isStandard(t.place) || restored.has(name)) return;
    restored.add(name);
    const { dims, axis, outer, inner } = t.place;
    const before = dims.slice(0, axis);
    const after = dims.slice(axis + 1);
    const split = addConstant(`${name}#batch-axis/split-shape`, ints('int64', [-1, ...before, outer, inner, ...after]));
    const joined = addConstant(`${name}#batch-axis/join-shape`, ints('int64', [...before, -1, ...after]));
    const perm = [...before.map((_d, i) => i + 1), axis + 1, 0, ...[inner, ...after].map((_d, i) => axis + 2 + i)];
    const base = `${label}#batch-axis`;
    const made: Node[] = [
      { name: `${base}/split`, opType: 'Reshape', domain: ONNX_DOMAIN, inputs: [t.canonical, split], outputs: [`${name}#batch-axis/split`], attributes: new Map() },
      { name: base, opType: 'Transpose', domain: ONNX_DOMAIN, inputs: [`${name}#batch-axis/split`], outputs: [`${name}#batch-axis/moved`], attributes: new Map<string, AttributeValue>([['perm', { type: 'ints', value: perm }]]) },
      { name: `${base}/join`, opType: 'Reshape', domain: ONNX_DOMAIN, inputs: [`${name}#batch-axis/moved`, joined], outputs: [name], attributes: new Map() },
    ];
    refusals.set(made[1]!.outputs[0]!, reason);
    nodes.push(...made);
    runZeros(made);
  };

  for (const node of graph.nodes) {
    const reads = node.inputs.map((x) => (x ? tracked.get(x) : undefined));
    if (!reads.some((r) => r)) {
      nodes.push(node);
      continue;
    }
    const moved = reads.some((r) => r && !isStandard(r.place));
    const isLayout = node.domain === ONNX_DOMAIN && LAYOUT_OPS.has(node.opType);
    const view = new NodeView(node, graph.opsets.get(node.domain)!, graph.opsets);
    if (!moved && !isLayout) {
      // Batch-first in, unchanged; its output is batch-first when the kernel says so at both sizes.
      nodes.push(node);
      if (!runZeros([node])) continue;
      for (const o of node.outputs) {
        if (!o) continue;
        const ok = BATCHES.map((b, i) => shapeAt(o, i)).every((s, i) => s && s.length >= 1 && s[0] === BATCHES[i]);
        const s2 = shapeAt(o, 0);
        const s3 = shapeAt(o, 1);
        if (ok && s2 && s3 && s2.length === s3.length && s2.slice(1).every((d, j) => d === s3[j + 1])) record(o, o, { dims: [1, ...s2.slice(1)], axis: 0, outer: 1, inner: 1 });
      }
      continue;
    }
    const out = node.outputs[0] ?? '';
    const extraUsed = node.outputs.slice(1).some((o) => o && ((readers.get(o)?.length ?? 0) > 0 || graph.outputs.some((g) => g.name === o)));
    const handled: Handled = extraUsed
      ? { refused: `${node.opType} with its extra outputs used` }
      : rewrite(node, view, reads, { constant, addConstant, ints, canonicalName: (p) => (isStandard(p) ? out : `${out}#batch-first`) });
    const made = 'nodes' in handled ? handled.nodes[handled.nodes.length - 1]!.outputs[0]! : '';
    const place = 'nodes' in handled && runZeros(handled.nodes) ? withRunDims(handled.out, shapeAt(made, 0)) : null;
    if ('nodes' in handled && place && shaped(made, place)) {
      if (!moved && isStandard(place)) {
        // A reshape that keeps the batch first computes the same tensor as written: the node stays.
        nodes.push(node);
        runZeros([node]);
        record(out, out, place);
        continue;
      }
      nodes.push(...handled.nodes);
      for (const n of handled.nodes) table = withSources(table, n, sourcesOf(node, sources));
      record(out, made, place);
      continue;
    }
    const why = 'refused' in handled ? handled.refused : `${node.opType} on a value whose batch axis is not first`;
    const label = node.name || `${node.opType}→${out}`;
    node.inputs.forEach((x, i) => {
      const r = reads[i];
      if (r) restore(x, `${why} (node "${label}" reads "${x}", shaped ${describePlacement(r.place)} with B the batch)`, label);
    });
    nodes.push(node);
    // Outputs of a node read in the original layout are not followed further.
    for (const o of node.outputs) if (o) tracked.delete(o);
  }
  for (const o of graph.outputs) {
    const t = tracked.get(o.name);
    if (t && !isStandard(t.place)) restore(o.name, `an output whose batch axis is not first (shaped ${describePlacement(t.place)})`, o.name);
  }
  if (refusals.size === 0 && nodes.length === graph.nodes.length && nodes.every((n, i) => n === graph.nodes[i])) return unchanged;
  return { graph: { ...graph, nodes, initializers, valueTypes }, sources: table, refusals };
}

interface RewriteTools {
  readonly constant: (name: string | undefined) => NumericTensor | undefined;
  readonly addConstant: (name: string, t: NumericTensor) => string;
  readonly ints: (dtype: NumericTensor['dtype'], data: readonly number[]) => NumericTensor;
  /** The output's canonical name for a given placement: its own name when batch-first. */
  readonly canonicalName: (p: Placement) => string;
}

function normalizeAxis(a: number, rank: number): number {
  return a < 0 ? a + rank : a;
}

/** The same computation on batch-first tensors, or why not. */
function rewrite(node: Node, view: NodeView, reads: readonly (Tracked | undefined)[], tools: RewriteTools): Handled {
  const x = reads[0];
  if (node.domain !== ONNX_DOMAIN) return { refused: `${node.opType} (${node.domain}) on a value whose batch axis is not first` };
  const op = node.opType;
  const with1 = (inputs: readonly string[], attributes: ReadonlyMap<string, AttributeValue>, p: Placement): Handled => ({
    nodes: [{ ...node, inputs, outputs: [tools.canonicalName(p)], attributes }],
    out: p,
  });
  const canonicalInputs = (): string[] => node.inputs.map((n, i) => reads[i]?.canonical ?? n);
  if (UNARY.has(op)) {
    if (!x || reads.some((r, i) => i > 0 && r)) return { refused: `${node.opType} with an encrypted parameter` };
    if (node.inputs.slice(1).some((n) => n && !tools.constant(n))) return { refused: `${node.opType} with a computed parameter` };
    return with1(canonicalInputs(), node.attributes, x.place);
  }
  if (BROADCASTING.has(op)) return elementwise(node, reads, tools);
  if (!x) return { refused: `${node.opType} whose first input is not the encrypted value` };
  const p = x.place;
  const rank = p.dims.length;
  switch (op) {
    case 'Transpose': {
      const perm = view.ints('perm') ?? Array.from({ length: rank }, (_v, i) => rank - 1 - i);
      if (perm.length !== rank) return { refused: `Transpose with ${perm.length} perm entries for rank ${rank}` };
      const q: Placement = { dims: perm.map((a) => p.dims[a]!), axis: perm.indexOf(p.axis), outer: p.outer, inner: p.inner };
      const inAxes = p.dims.map((_d, i) => i).filter((i) => kept(p) || i !== p.axis);
      const outAxes = q.dims.map((_d, i) => i).filter((i) => kept(q) || i !== q.axis);
      const cperm = [0, ...outAxes.map((a) => 1 + inAxes.indexOf(perm[a]!))];
      // The batch moved but the samples' values kept their order (it only crossed axes of one index).
      if (cperm.every((a, i) => a === i)) return { nodes: [{ ...node, opType: 'Identity', inputs: [x.canonical], outputs: [tools.canonicalName(q)], attributes: new Map() }], out: q };
      return with1([x.canonical], new Map<string, AttributeValue>([['perm', { type: 'ints', value: cperm }]]), q);
    }
    case 'Reshape':
    case 'Flatten':
    case 'Squeeze':
    case 'Unsqueeze': {
      const target = reshapeTarget(node, view, p, tools);
      if (typeof target === 'string') return { refused: target };
      const q = reshapePlacement(p, target);
      if (typeof q === 'string') return { refused: q };
      const shape = tools.addConstant(`${node.outputs[0]}#batch-first/shape`, tools.ints('int64', [-1, ...sampleShape(q)]));
      return { nodes: [{ name: node.name, opType: 'Reshape', domain: ONNX_DOMAIN, inputs: [x.canonical, shape], outputs: [tools.canonicalName(q)], attributes: new Map() }], out: q };
    }
    case 'Softmax':
    case 'LogSoftmax':
    case 'Hardmax': {
      const a = normalizeAxis(view.int('axis', view.opset >= 13 ? -1 : 1), rank);
      const coerced = view.opset < 13;
      if (coerced ? p.axis >= a : p.axis === a) return { refused: `${node.opType} along the batch axis` };
      return with1([x.canonical], new Map([...node.attributes, ['axis', { type: 'int', value: axisAttr(p, a) }]]), p);
    }
    case 'LayerNormalization': {
      const a = normalizeAxis(view.int('axis', -1), rank);
      if (p.axis >= a) return { refused: 'LayerNormalization over the batch axis' };
      if (reads.some((r, i) => i > 0 && r)) return { refused: 'LayerNormalization with an encrypted scale or bias' };
      return with1(canonicalInputs(), new Map([...node.attributes, ['axis', { type: 'int', value: axisAttr(p, a) }]]), p);
    }
    case 'MatMul':
      return matMul(node, reads, tools);
    case 'Gemm':
      return gemm(node, view, x, tools);
    case 'Slice': {
      if (view.opset < 10) return { refused: 'Slice before opset 10' };
      const starts = tools.constant(node.inputs[1]);
      const axesT = node.inputs[3] ? tools.constant(node.inputs[3]) : undefined;
      if (!starts || (node.inputs[3] && !axesT) || reads.some((r, i) => i > 0 && r) || node.inputs.slice(1).some((n) => n && !tools.constant(n))) return { refused: 'Slice with computed starts, ends, axes or steps' };
      const axes = axesT ? Array.from(axesT.data, (a) => normalizeAxis(a, rank)) : Array.from(starts.data, (_v, i) => i);
      if (axes.includes(p.axis)) return { refused: 'Slice along the batch axis' };
      const name = tools.addConstant(`${node.outputs[0]}#batch-first/axes`, tools.ints('int64', axes.map((a) => axisAttr(p, a))));
      const inputs = canonicalInputs();
      while (inputs.length < 4) inputs.push('');
      inputs[3] = name;
      return withDims(with1(inputs, node.attributes, p));
    }
    case 'Gather': {
      const indices = tools.constant(node.inputs[1]);
      if (!indices) return { refused: 'Gather with computed indices' };
      const a = normalizeAxis(view.int('axis', 0), rank);
      if (a === p.axis) return { refused: 'Gather along the batch axis' };
      const axis = p.axis < a ? p.axis : p.axis - 1 + indices.shape.length;
      return withDims(with1(canonicalInputs(), new Map([...node.attributes, ['axis', { type: 'int', value: axisAttr(p, a) }]]), { ...p, axis }));
    }
    case 'Concat': {
      const a = normalizeAxis(view.int('axis', 0), rank);
      if (a === p.axis) return { refused: 'Concat along the batch axis' };
      const inputs: string[] = [];
      for (let i = 0; i < node.inputs.length; i++) {
        const r = reads[i];
        if (r) {
          if (!samePlacement(r.place, p, true)) return { refused: 'Concat of values whose batch axes differ' };
          inputs.push(r.canonical);
          continue;
        }
        const c = tools.constant(node.inputs[i]);
        if (!c || c.shape.length !== rank) return { refused: 'Concat with a computed value or a constant of another rank' };
        if (c.shape[p.axis] !== 1) return { refused: 'Concat with a constant that varies along the batch axis' };
        inputs.push(tools.addConstant(`${node.outputs[0]}#batch-first/${i}`, canonicalConstant(c, p)));
      }
      return withDims(with1(inputs, node.attributes, p));
    }
    default:
      if (REDUCE.has(op)) return reduce(node, view, x, tools);
      return { refused: `${node.opType} on a value whose batch axis is not first` };
  }
}

/** Marks a handled node whose output dims are read from the zero run (ops that change sizes or rank away from the batch axis). */
function withDims(h: Handled): Handled {
  if (!('nodes' in h)) return h;
  return { nodes: h.nodes, out: { ...h.out, dims: [] } };
}

/** A placement whose dims were left to the zero run, completed from the canonical output's shape there. */
function withRunDims(p: Placement, shape: readonly number[] | undefined): Placement | null {
  if (p.dims.length > 0) return p;
  if (!shape) return null;
  const perSample = shape.slice(1);
  const dims = kept(p) ? perSample : [...perSample.slice(0, p.axis), 1, ...perSample.slice(p.axis)];
  if (p.axis >= dims.length || dims[p.axis] !== p.outer * p.inner) return null;
  return { ...p, dims };
}

function samePlacement(a: Placement, b: Placement, ignoreDims = false): boolean {
  return a.axis === b.axis && a.outer === b.outer && a.inner === b.inner && a.dims.length === b.dims.length && (ignoreDims || a.dims.every((d, i) => d === b.dims[i]));
}

/** A constant of the full rank with 1 on the batch axis, laid out batch-first: [1, …] with the axis dropped when the placement drops it. */
function canonicalConstant(c: NumericTensor, p: Placement): NumericTensor {
  const shape = kept(p) ? [...c.shape] : c.shape.filter((_d, i) => i !== p.axis);
  return numeric(c.dtype, [1, ...shape], c.data);
}

function elementwise(node: Node, reads: readonly (Tracked | undefined)[], tools: RewriteTools): Handled {
  const enc = reads.filter((r): r is Tracked => !!r);
  const p = enc[0]!.place;
  const rank = p.dims.length;
  if (enc.some((r) => r.place.dims.length !== rank || !samePlacement(r.place, p, true))) return { refused: `${node.opType} of encrypted values whose batch axes differ` };
  const inputs: string[] = [];
  for (let i = 0; i < node.inputs.length; i++) {
    const name = node.inputs[i]!;
    const r = reads[i];
    if (r || !name) {
      inputs.push(r ? r.canonical : name);
      continue;
    }
    const c = tools.constant(name);
    if (!c) return { refused: `${node.opType} with a computed operand` };
    if (c.shape.length > rank) return { refused: `${node.opType} with a constant that adds axes in front of the batch` };
    // Right-aligned: a constant that does not reach the batch axis broadcasts the same way batch-first.
    const reach = c.shape.length - (rank - p.axis);
    if (reach < 0) {
      inputs.push(name);
      continue;
    }
    if (c.shape[reach] !== 1) return { refused: `${node.opType} with a constant that varies along the batch axis` };
    const full = numeric(c.dtype, [...new Array<number>(rank - c.shape.length).fill(1), ...c.shape], c.data);
    inputs.push(tools.addConstant(`${node.outputs[0]}#batch-first/${i}`, canonicalConstant(full, p)));
  }
  return withDims({ nodes: [{ ...node, inputs, outputs: [tools.canonicalName(p)] }], out: p });
}

function matMul(node: Node, reads: readonly (Tracked | undefined)[], tools: RewriteTools): Handled {
  const [a, b] = reads;
  if (a && b) {
    const r = a.place.dims.length;
    if (b.place.dims.length !== r || !samePlacement(a.place, b.place, true)) return { refused: 'MatMul of encrypted values whose batch axes differ' };
    if (a.place.axis >= r - 2) return { refused: 'MatMul of two encrypted values with the batch in a matrix axis' };
    if (a.place.dims.slice(0, r - 2).some((d, i) => d !== b.place.dims[i])) return { refused: 'MatMul of encrypted values that broadcast against each other' };
    return withDims({ nodes: [{ ...node, inputs: [a.canonical, b.canonical], outputs: [tools.canonicalName(a.place)] }], out: a.place });
  }
  if (a) {
    const w = tools.constant(node.inputs[1]);
    if (!w || w.shape.length > 2) return { refused: 'MatMul by a computed value or a constant of rank above 2' };
    if (a.place.axis === a.place.dims.length - 1) return { refused: 'MatMul contracting the batch axis' };
    return withDims({ nodes: [{ ...node, inputs: [a.canonical, node.inputs[1]!], outputs: [tools.canonicalName(a.place)] }], out: a.place });
  }
  const w = tools.constant(node.inputs[0]);
  const x = b!;
  if (!w || w.shape.length !== 2) return { refused: 'MatMul of a computed value or a constant of rank other than 2 by the encrypted value' };
  if (x.place.axis >= x.place.dims.length - 2) return { refused: 'MatMul of a constant by a value with the batch in a matrix axis' };
  return withDims({ nodes: [{ ...node, inputs: [node.inputs[0]!, x.canonical], outputs: [tools.canonicalName(x.place)] }], out: x.place });
}

/** Gemm on a value with the batch in the rows of A: MatMul by the (transposed, scaled) weight and Add of the scaled bias, batch-first. */
function gemm(node: Node, view: NodeView, a: Tracked, tools: RewriteTools): Handled {
  const p = a.place;
  if (p.dims.length !== 2) return { refused: 'Gemm of a value of rank other than 2' };
  const transA = view.int('transA', 0) !== 0;
  if (p.axis !== (transA ? 1 : 0)) return { refused: 'Gemm contracting the batch axis' };
  const w = tools.constant(node.inputs[1]);
  if (!w || w.shape.length !== 2) return { refused: 'Gemm by a computed weight' };
  const alpha = view.float('alpha', 1);
  const beta = view.float('beta', 1);
  const transB = view.int('transB', 0) !== 0;
  const [k, n] = transB ? [w.shape[1]!, w.shape[0]!] : [w.shape[0]!, w.shape[1]!];
  const weight = new Float64Array(k * n);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) weight[i * n + j] = alpha * w.data[transB ? j * k + i : i * n + j]!;
  const out = node.outputs[0]!;
  const made: Node[] = [];
  let rows = a.canonical;
  if (transA && kept(p)) {
    // Canonical [B, K, m]: rows last, so transpose them in front of K.
    made.push({ name: `${node.name}#batch-first/transA`, opType: 'Transpose', domain: ONNX_DOMAIN, inputs: [rows], outputs: [`${out}#batch-first/transA`], attributes: new Map<string, AttributeValue>([['perm', { type: 'ints', value: [0, 2, 1] }]]) });
    rows = `${out}#batch-first/transA`;
  }
  const q: Placement = { dims: [p.dims[p.axis]!, n], axis: 0, outer: p.outer, inner: p.inner };
  const wName = tools.addConstant(`${out}#batch-first/weight`, numeric(w.dtype, [k, n], weight));
  const c = node.inputs[2] ? tools.constant(node.inputs[2]) : undefined;
  if (node.inputs[2] && !c) return { refused: 'Gemm with a computed bias' };
  if (!c || beta === 0) {
    made.push({ name: node.name, opType: 'MatMul', domain: ONNX_DOMAIN, inputs: [rows, wName], outputs: [tools.canonicalName(q)], attributes: new Map() });
    return { nodes: made, out: q };
  }
  // C broadcasts to [rows, n]: it may vary along n only (the rows hold the batch).
  const cShape = c.shape.length === 2 ? c.shape : c.shape.length === 1 ? [1, c.shape[0]!] : [1, 1];
  if (cShape[0] !== 1) return { refused: 'Gemm with a bias that varies along the batch axis' };
  const bias = tools.addConstant(`${out}#batch-first/bias`, numeric(c.dtype, [cShape[1]!], Array.from(c.data, (v) => beta * v)));
  made.push({ name: `${node.name}#batch-first/matmul`, opType: 'MatMul', domain: ONNX_DOMAIN, inputs: [rows, wName], outputs: [`${out}#batch-first/matmul`], attributes: new Map() });
  made.push({ name: node.name, opType: 'Add', domain: ONNX_DOMAIN, inputs: [`${out}#batch-first/matmul`, bias], outputs: [tools.canonicalName(q)], attributes: new Map() });
  return { nodes: made, out: q };
}

function reduce(node: Node, view: NodeView, x: Tracked, tools: RewriteTools): Handled {
  const p = x.place;
  const rank = p.dims.length;
  const fromInput = node.inputs.length > 1 && !!node.inputs[1];
  const axesT = fromInput ? tools.constant(node.inputs[1]) : undefined;
  if (fromInput && !axesT) return { refused: `${node.opType} with computed axes` };
  const listed = axesT ? Array.from(axesT.data) : view.ints('axes');
  if (!listed || listed.length === 0) return { refused: `${node.opType} over every axis, the batch axis included` };
  const axes = listed.map((a) => normalizeAxis(a, rank));
  if (axes.includes(p.axis)) return { refused: `${node.opType} over the batch axis` };
  const keep = view.int('keepdims', 1) !== 0;
  const canonical = axes.map((a) => axisAttr(p, a));
  const axis = keep ? p.axis : p.axis - axes.filter((a) => a < p.axis).length;
  const inputs = [x.canonical, ...node.inputs.slice(1)];
  let attributes = node.attributes;
  if (axesT) inputs[1] = tools.addConstant(`${node.outputs[0]}#batch-first/axes`, tools.ints('int64', canonical));
  else attributes = new Map([...node.attributes, ['axes', { type: 'ints', value: canonical }]]);
  return withDims({ nodes: [{ ...node, inputs, outputs: [tools.canonicalName({ ...p, axis })], attributes }], out: { ...p, axis } });
}

/** The full output dims of a Reshape, Flatten, Squeeze or Unsqueeze of a value placed at `p`, with B where it enters. */
function reshapeTarget(node: Node, view: NodeView, p: Placement, tools: RewriteTools): SymDim[] | string {
  const dims = symbolic(p);
  const rank = dims.length;
  const total = dims.reduce<SymDim>((t, d) => times(t, d)!, { c: 1, batch: false });
  switch (node.opType) {
    case 'Reshape': {
      const t = tools.constant(node.inputs[1]);
      if (!t) return 'a Reshape whose target shape is computed';
      const allowZero = view.int('allowzero', 0) !== 0;
      const entries: (SymDim | null)[] = Array.from(t.data, (v, i) => (v === -1 ? null : v === 0 && !allowZero ? (dims[i] ?? { c: 0, batch: false }) : { c: v, batch: false }));
      const known = entries.filter((e): e is SymDim => e !== null);
      const product = known.reduce<SymDim | null>((acc, d) => (acc ? times(acc, d) : null), { c: 1, batch: false });
      if (!product) return 'a Reshape that repeats the batch size';
      const wild = entries.indexOf(null);
      if (wild >= 0) {
        if (entries.lastIndexOf(null) !== wild) view.invalid('more than one -1 in the target shape');
        if (product.c === 0 || total.c % product.c !== 0 || (product.batch && !total.batch)) view.invalid(`cannot reshape ${describePlacement(p)} to [${Array.from(t.data).join(', ')}]`);
        entries[wild] = { c: total.c / product.c, batch: !product.batch };
      } else if (product.c !== total.c || product.batch !== total.batch) {
        return `a Reshape to [${Array.from(t.data).join(', ')}], which does not keep the batch size as a factor of one axis`;
      }
      return entries as SymDim[];
    }
    case 'Flatten': {
      const a = normalizeAxis(view.int('axis', 1), rank);
      const prod = (ds: readonly SymDim[]): SymDim => ds.reduce<SymDim>((acc, d) => times(acc, d)!, { c: 1, batch: false });
      return [prod(dims.slice(0, a)), prod(dims.slice(a))];
    }
    case 'Squeeze':
    case 'Unsqueeze': {
      const fromInput = view.opset >= 13;
      const t = fromInput && node.inputs[1] ? tools.constant(node.inputs[1]) : undefined;
      if (fromInput && node.inputs[1] && !t) return `an ${node.opType} with computed axes`;
      const listed = t ? Array.from(t.data) : fromInput ? undefined : view.ints('axes');
      if (node.opType === 'Squeeze') {
        if (!listed) return dims.filter((d) => d.batch || d.c !== 1);
        const drop = new Set(listed.map((a) => normalizeAxis(a, rank)));
        if (drop.has(p.axis)) return 'a Squeeze of the batch axis';
        return dims.filter((_d, i) => !drop.has(i));
      }
      if (!listed) view.invalid('axes are required');
      const outRank = rank + listed.length;
      const inserted = new Set(listed.map((a) => normalizeAxis(a, outRank)));
      const out: SymDim[] = [];
      let next = 0;
      for (let i = 0; i < outRank; i++) out.push(inserted.has(i) ? { c: 1, batch: false } : dims[next++]!);
      return out;
    }
    default:
      return `${node.opType} is not a reshape`;
  }
}
