/**
 * Symbolic walk over the graph from its input: every value that depends on the input is either
 *  - a prologue value (cheap client preprocessing before anything affine happens),
 *  - a body value: an affine function of the current chain head, tracked as a dense map, or
 *  - the output of a node that cannot run in the body ("stopped"), with the reason why.
 * Elementwise activations on a body value start a new head. A value that combines several heads
 * (a residual sum, a concatenation of branches) is a map over all of them: the body becomes a DAG.
 * The split pass decides afterwards
 * where the encrypted body ends; this pass only records what each node could be.
 *
 * Before → after (each value's kind):
 *   h = MatMul(x, W1)   g = Add(h, b1)   a = Tanh(g)   z = Add(MatMul(a, W2), b2)   y = ArgMax(z)
 *   h: body W1·x   g: body W1·x + b1   a: activation, the new head   z: body W2·a + b2
 *   y: stopped, with the reason (ArgMax has no affine rule)
 */
import { fail } from '../errors';
import { ML_DOMAIN, ONNX_DOMAIN, type Graph, type Node } from '../graph/graph';
import { NodeView } from '../graph/kernel';
import { sizeOf, type DType, type Tensor } from '../graph/tensor';
import { elementwiseProduct, matrixProduct, type ProductMaps } from './product-maps';
import { rowwiseOf } from './rowwise-ops';
import type { RowFunction } from '../chain/rowwise';
import { composeLocal, identityMap, LocalMapBuilder, widenMap, type HeadMap } from './affine-map';
import { maxPoolWindows } from '../graph/ops/pool';
import type { Window } from '../graph/ops/window';
import { recognizeActivation, type ActivationUse } from '../activations/registry';
import { affineOutcome, isLayoutOnly } from './affine-ops';
import { sourcesOf, type SourceTable } from './node-sources';

/**
 * What starts a new head: an elementwise activation, or a MaxPool (the client's max of masked
 * window values between two segments; `windows` index the value `input` names, disjoint).
 */
export type HeadOp =
  | { readonly kind: 'activation'; readonly use: ActivationUse }
  /** Products of values of `input` and `other`: product i multiplies input[left[i]] by other[right[i]] (see product-maps). */
  | { readonly kind: 'product'; readonly other: string; readonly left: Int32Array; readonly right: Int32Array }
  /** Softmax or LayerNorm on each row of `rowLength` consecutive values of `input` (see rowwise-ops). */
  | { readonly kind: 'rowwise'; readonly fn: RowFunction; readonly rowLength: number }
  | { readonly kind: 'maxpool'; readonly windows: readonly (readonly number[])[]; readonly geometry: string };

/** An activation or a MaxPool: it starts a new head of the chain. */
export interface HeadStart {
  readonly node: Node;
  readonly op: HeadOp;
  /** Original ONNX nodes the activation stands for (several when the fusion pass joined them). */
  readonly sources: readonly string[];
  /** The value the activation reads: an affine function of the previous head. */
  readonly input: string;
  /** The activation's output, the new head. */
  readonly head: string;
}

export interface BodyValue {
  /** The latest head the value depends on: 0 is the body input, k the output of headStarts[k − 1]. */
  readonly head: number;
  /**
   * The heads the map is over, ascending; its columns are their values concatenated. One head in a
   * chain; several where branches meet (a residual sum, a concatenation).
   */
  readonly heads: readonly number[];
  readonly shape: readonly number[];
  readonly map: HeadMap;
  /** Original ONNX nodes whose weights are in `map`, in graph order. */
  readonly sources: readonly string[];
}

export interface Trace {
  readonly inputName: string;
  readonly inputShape: readonly number[];
  readonly inputDType: DType;
  readonly batch: number | null;
  readonly prologue: readonly Node[];
  readonly bodyInput: string;
  readonly headStarts: readonly HeadStart[];
  readonly values: ReadonlyMap<string, BodyValue>;
  /** Size of each head's vector (0: the body input, k: headStarts[k − 1]'s output). */
  readonly headSizes: readonly number[];
  /** Nodes after the prologue that depend on the input, in graph order. */
  readonly order: readonly Node[];
  /** Nodes of `order` that cannot run in the body, with the sentence that says why. */
  readonly stopped: ReadonlyMap<Node, string>;
  /** For a stopped node that only reads what another stopped node made: that node. */
  readonly causes: ReadonlyMap<Node, Node>;
}

/** The stopped node at the root of `node`'s trouble: the first one that could not run for its own reason. */
export function rootCause(trace: Trace, node: Node): Node {
  let n = node;
  while (trace.causes.has(n)) n = trace.causes.get(n)!;
  return n;
}

/** Client-side steps allowed before encryption: they need the whole clear row or are not affine. */
export const PROLOGUE_OPS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  [ONNX_DOMAIN, new Set(['Clip', 'Cast'])],
  [ML_DOMAIN, new Set(['Normalizer'])],
]);

/**
 * Operators the encrypted body runs with the client's help: a MaxPool cuts the body, and the
 * client takes the max of masked window values between the two segments (see refresh-plan).
 */
export const CLIENT_AIDED_OPS: ReadonlyMap<string, ReadonlySet<string>> = new Map([[ONNX_DOMAIN, new Set(['MaxPool'])]]);

/**
 * Operators the body holds as a product of two encrypted values (a ciphertext × ciphertext
 * multiplication, see productOf): MatMul and Mul of two encrypted values (attention's Q·Kᵀ and
 * A·V), Pow with exponent 2 of one.
 */
export const PRODUCT_OPS: ReadonlyMap<string, ReadonlySet<string>> = new Map([[ONNX_DOMAIN, new Set(['MatMul', 'Mul', 'Pow'])]]);

function isPrologueOp(node: Node): boolean {
  if (!PROLOGUE_OPS.get(node.domain)?.has(node.opType)) return false;
  if (node.opType === 'Cast') {
    const to = node.attributes.get('to');
    // Casts to float types are identities in the body; only a cast that rounds belongs here.
    return !(to?.type === 'int' && [1, 10, 11, 16].includes(to.value));
  }
  return true;
}

function defaultReason(node: Node): string {
  if (node.opType.startsWith('TreeEnsemble')) return 'a tree ensemble is not a chain: it is encrypted as a tree body (splitBody, steps/encode-trees), not traced';
  if (node.opType === 'Softmax' || node.opType === 'LogSoftmax') {
    return `${node.opType} inside the network is not supported for encryption yet (only as a final step, which the client computes)`;
  }
  return `the ${node.opType} operator is not supported for encryption yet`;
}

/** Dense maps beyond this many weights (256 MiB of float64) are refused rather than run out of memory. */
const MAX_DENSE_CELLS = 1 << 25;


/**
 * `clientPrologue`: nodes the passes made for the client to run before encryption (an embedding's one-hot).
 * `layoutRefusals`: nodes (by first output) that batch-axis.ts added to move the batch back, with why it could not follow it.
 */
export function traceGraph(graph: Graph, sources: SourceTable, clientPrologue: ReadonlySet<Node> = new Set(), layoutRefusals: ReadonlyMap<string, string> = new Map()): Trace {
  if (graph.inputs.length !== 1) {
    fail('NOT_ENCRYPTABLE', `the model has ${graph.inputs.length} inputs (${graph.inputs.map((i) => i.name).join(', ')}); models with several inputs are not supported for encryption yet`);
  }
  const input = graph.inputs[0]!;
  if (input.type.kind !== 'tensor' || input.type.dtype === 'string') fail('NOT_ENCRYPTABLE', `input "${input.name}" is not a numeric tensor; only numeric inputs can be encrypted`);
  const dims = input.type.shape;
  if (!dims || dims.length < 2 || dims.slice(1).some((d) => typeof d !== 'number')) {
    fail('NOT_ENCRYPTABLE', `input "${input.name}" has shape [${dims?.map((d) => d ?? '?').join(', ') ?? 'unknown'}]; encryption needs [batch, …] with every per-sample dimension fixed`);
  }
  const batch = typeof dims[0] === 'number' ? dims[0] : null;
  const inputShape = dims.slice(1) as number[];

  const constants = graph.initializers;
  const derived = new Set<string>([input.name]);
  const prologueValues = new Set<string>([input.name]);
  const prologue: Node[] = [];
  const order: Node[] = [];
  const stopped = new Map<Node, string>();
  const causes = new Map<Node, Node>();
  const producer = new Map<string, Node>();
  const values = new Map<string, BodyValue>();
  const headStarts: HeadStart[] = [];
  /** Size of each head's vector. */
  const headSizes: number[] = [];
  let bodyInput: string | undefined;

  const perSample = (name: string): number[] | undefined => {
    const t = graph.valueTypes.get(name);
    if (!t || t.kind !== 'tensor' || !t.shape || t.shape.length < 1) return undefined;
    const rest = t.shape.slice(1);
    return rest.every((d) => typeof d === 'number') ? (rest as number[]) : undefined;
  };

  for (const node of graph.nodes) {
    const reads = node.inputs.filter((x) => x !== '' && derived.has(x));
    if (reads.length === 0) continue;
    for (const o of node.outputs) {
      if (!o) continue;
      derived.add(o);
      producer.set(o, node);
    }

    if (bodyInput === undefined && reads.every((x) => prologueValues.has(x)) && (isPrologueOp(node) || clientPrologue.has(node))) {
      prologue.push(node);
      for (const o of node.outputs) if (o) prologueValues.add(o);
      continue;
    }
    order.push(node);
    const fromPrologue = reads.filter((x) => prologueValues.has(x));
    if (fromPrologue.length > 0) {
      if (bodyInput === undefined && new Set(fromPrologue).size === 1) {
        bodyInput = fromPrologue[0]!;
        const shape = bodyInput === input.name ? inputShape : perSample(bodyInput);
        if (!shape) fail('NOT_ENCRYPTABLE', `the per-sample shape of "${bodyInput}" is unknown; encryption needs it fixed`);
        values.set(bodyInput, { head: 0, heads: [0], shape, map: identityMap(sizeOf(shape)), sources: [] });
        headSizes.push(sizeOf(shape));
      } else if (fromPrologue.some((x) => x !== bodyInput)) {
        stopped.set(node, 'reading more than one client-prepared value is not supported for encryption yet');
        continue;
      }
    }
    const notInBody = reads.find((x) => !values.has(x));
    if (notInBody !== undefined) {
      stopped.set(node, defaultReason(node));
      const upstream = producer.get(notInBody);
      if (upstream && stopped.has(upstream)) causes.set(node, upstream);
      continue;
    }
    const layoutRefusal = layoutRefusals.get(node.outputs[0] ?? '');
    if (layoutRefusal !== undefined) {
      stopped.set(node, `${layoutRefusal} is not supported for encryption yet`);
      continue;
    }
    const current = headStarts.length;
    const activation = recognizeActivation(
      node,
      graph.opsets,
      node.inputs.map((x) => (x && !derived.has(x) ? constants.get(x) : undefined)),
    );
    if (activation && 'refused' in activation) {
      stopped.set(node, `${activation.refused} is not supported for encryption yet`);
      continue;
    }
    if (activation) {
      const x = values.get(reads[0]!)!;
      headStarts.push({ node, op: { kind: 'activation', use: activation }, sources: sourcesOf(node, sources), input: reads[0]!, head: node.outputs[0]! });
      headSizes.push(x.map.size);
      values.set(node.outputs[0]!, { head: current + 1, heads: [current + 1], shape: x.shape, map: identityMap(x.map.size), sources: [] });
      continue;
    }
    const x0 = values.get(node.inputs[0]!);
    const rows = x0 ? rowwiseOf(node, graph.opsets, x0.shape, node.inputs.map((x) => (x && !derived.has(x) ? constants.get(x) : undefined))) : undefined;
    if (rows && x0) {
      if ('refused' in rows) {
        stopped.set(node, `${rows.refused} is not supported for encryption yet`);
        continue;
      }
      const out = node.outputs[0]!;
      let input = node.inputs[0]!;
      if (rows.before) {
        input = `${out}#rows`;
        values.set(input, { ...x0, shape: [x0.map.size], map: composeLocal(rows.before, [x0.map]) });
      }
      const head = rows.after ? `${out}#rowwise` : out;
      headStarts.push({ node, op: { kind: 'rowwise', fn: rows.fn, rowLength: rows.rowLength }, sources: sourcesOf(node, sources), input, head });
      headSizes.push(x0.map.size);
      values.set(head, { head: current + 1, heads: [current + 1], shape: rows.after ? [x0.map.size] : x0.shape, map: identityMap(x0.map.size), sources: [] });
      if (rows.after) values.set(out, { head: current + 1, heads: [current + 1], shape: x0.shape, map: composeLocal(rows.after, [identityMap(x0.map.size)]), sources: sourcesOf(node, sources) });
      continue;
    }
    const view = new NodeView(node, graph.opsets.get(node.domain)!, graph.opsets);
    const factors = productOf(node, (x) => values.get(x), constants);
    if (factors) {
      if ('refused' in factors) {
        stopped.set(node, `${factors.refused} is not supported for encryption yet`);
        continue;
      }
      const out = node.outputs[0]!;
      const [left, right] = factors.inputs;
      const { maps } = factors;
      headStarts.push({ node, op: { kind: 'product', other: right, left: maps.left, right: maps.right }, sources: sourcesOf(node, sources), input: left, head: `${out}#product` });
      headSizes.push(factors.maps.size);
      values.set(`${out}#product`, { head: current + 1, heads: [current + 1], shape: [factors.maps.size], map: identityMap(factors.maps.size), sources: [] });
      values.set(out, { head: current + 1, heads: [current + 1], shape: factors.maps.shape, map: composeLocal(factors.maps.sum, [identityMap(factors.maps.size)]), sources: [] });
      continue;
    }
    if (CLIENT_AIDED_OPS.get(node.domain)?.has(node.opType)) {
      const pool = maxPoolHead(node, view, values.get(reads[0]!)!);
      if ('refused' in pool) {
        stopped.set(node, pool.refused);
        continue;
      }
      if (pool.gathered) values.set(pool.input, pool.gathered);
      headStarts.push({ node, op: pool.op, sources: sourcesOf(node, sources), input: pool.input, head: node.outputs[0]! });
      headSizes.push(pool.op.windows.length);
      values.set(node.outputs[0]!, { head: current + 1, heads: [current + 1], shape: pool.shape, map: identityMap(pool.op.windows.length), sources: [] });
      continue;
    }
    const outcome = affineOutcome(node, {
      view,
      body: node.inputs.map((x) => values.get(x)?.shape),
      constants: node.inputs.map((x) => (x && !derived.has(x) ? constants.get(x) : undefined)),
      batch,
    });
    if (!outcome) {
      stopped.set(node, defaultReason(node));
      continue;
    }
    if (outcome.kind === 'refused') {
      stopped.set(node, `${outcome.reason} is not supported for encryption yet`);
      continue;
    }
    if (outcome.kind === 'reshape') {
      const x = values.get(node.inputs[outcome.input]!)!;
      if (sizeOf(outcome.shape) !== x.map.size) view.invalid(`reshape of ${x.map.size} values to [${outcome.shape.join(', ')}]`);
      values.set(node.outputs[0]!, { ...x, shape: outcome.shape });
      continue;
    }
    const ins = outcome.inputs.map((i) => values.get(node.inputs[i]!)!);
    const heads = [...new Set(ins.flatMap((v) => v.heads))].sort((a, b) => a - b);
    const width = heads.reduce((n, h) => n + headSizes[h]!, 0);
    const cells = outcome.map.outSize * width;
    if (cells > MAX_DENSE_CELLS) {
      stopped.set(node, `an affine map of ${outcome.map.outSize} × ${width} weights (more than ${MAX_DENSE_CELLS} held densely) is not supported for encryption yet`);
      continue;
    }
    const own = isLayoutOnly(node) ? [] : sourcesOf(node, sources);
    const merged = [...new Set([...ins.flatMap((v) => v.sources), ...own])];
    const maps = ins.map((v) => widenMap(v.map, v.heads, heads, headSizes));
    values.set(node.outputs[0]!, { head: heads[heads.length - 1]!, heads, shape: outcome.shape, map: composeLocal(outcome.map, maps), sources: merged });
  }

  return {
    inputName: input.name,
    inputShape,
    inputDType: input.type.dtype,
    batch,
    prologue,
    bodyInput: bodyInput ?? input.name,
    headStarts,
    values,
    order,
    headSizes,
    stopped,
    causes,
  };
}


/**
 * A MatMul or Mul of two encrypted values, or an encrypted value squared (Pow with exponent 2):
 * the two values it multiplies and the maps that line them up; a refusal when the shapes do not
 * fit; undefined for any other node (or when a factor is a constant: that product is affine).
 */
function productOf(
  node: Node,
  body: (name: string) => BodyValue | undefined,
  constants: ReadonlyMap<string, Tensor>,
): { readonly inputs: readonly [string, string]; readonly maps: ProductMaps } | { readonly refused: string } | undefined {
  if (!PRODUCT_OPS.get(node.domain)?.has(node.opType)) return undefined;
  const [x, y] = node.inputs as [string, string | undefined];
  const a = body(x);
  if (!a || y === undefined) return undefined;
  if (node.opType === 'Pow') {
    const e = constants.get(y);
    if (!e || e.kind !== 'numeric' || e.data.length !== 1 || e.data[0] !== 2) return undefined;
    const maps = elementwiseProduct(a.shape, a.shape);
    return 'refused' in maps ? maps : { inputs: [x, x], maps };
  }
  const b = body(y);
  if (!b) return undefined;
  const maps = node.opType === 'MatMul' ? matrixProduct(a.shape, b.shape) : node.opType === 'Mul' ? elementwiseProduct(a.shape, b.shape) : undefined;
  if (!maps) return undefined;
  return 'refused' in maps ? maps : { inputs: [x, y], maps };
}

type MaxPoolHead =
  | { readonly op: Extract<HeadOp, { kind: 'maxpool' }>; readonly input: string; readonly gathered: BodyValue | null; readonly shape: number[] }
  | { readonly refused: string };

/**
 * A MaxPool on body value `x` ([C, D1…] per sample): its windows over x, padding left out (it
 * counts as −∞). Windows that overlap (stride below the kernel) read x through a gather that
 * copies each window's values next to each other, composed into x's map, so every value the
 * client sees belongs to one window only and carries that window's mask.
 */
function maxPoolHead(node: Node, view: NodeView, x: BodyValue): MaxPoolHead {
  if (node.outputs.length > 1 && node.outputs[1]) return { refused: 'MaxPool with its Indices output is not supported for encryption yet (the positions of the maxima would leave the client)' };
  if (x.shape.length < 2) return { refused: `MaxPool needs an input of shape [C, D1, …] per sample, got [${x.shape.join(', ')}]` };
  const [channels, ...spatial] = x.shape as [number, ...number[]];
  const { windows, output, win } = maxPoolWindows(view, channels, spatial);
  if (windows.some((w) => w.length === 0)) return { refused: 'MaxPool with a window that lies wholly in the padding is not supported for encryption yet' };
  const geometry = poolGeometry(win);
  const shape = [channels, ...output];
  const seen = new Uint8Array(x.map.size);
  const overlap = windows.some((w) => w.some((i) => seen[i]++ > 0));
  if (!overlap) return { op: { kind: 'maxpool', windows, geometry }, input: node.inputs[0]!, gathered: null, shape };
  const total = windows.reduce((n, w) => n + w.length, 0);
  if (total * x.map.headSize > MAX_DENSE_CELLS) return { refused: `MaxPool windows that overlap copy ${total} values, beyond an affine map held densely, which is not supported for encryption yet` };
  const gather = new LocalMapBuilder(total, [x.map.size]);
  const grouped: number[][] = [];
  let row = 0;
  for (const w of windows) {
    const group: number[] = [];
    for (const i of w) {
      gather.add(row, i, 1);
      group.push(row++);
    }
    grouped.push(group);
  }
  const gathered: BodyValue = { ...x, shape: [total], map: composeLocal(gather.build(), [x.map]) };
  return { op: { kind: 'maxpool', windows: grouped, geometry: `${geometry}, overlapping windows copied apart` }, input: `${node.outputs[0]!}#windows`, gathered, shape };
}

function poolGeometry(win: Window): string {
  const dims = (v: readonly number[]): string => v.join('×');
  const pads = [...win.padBegin, ...win.padEnd].some((p) => p > 0) ? `pads ${dims(win.padBegin)} before, ${dims(win.padEnd)} after` : 'no padding';
  const dilated = win.dilations.some((d) => d !== 1) ? `, dilations ${dims(win.dilations)}` : '';
  return `${dims(win.kernel)} window, strides ${dims(win.strides)}, ${pads}${dilated}`;
}
