/**
 * Which nodes are row-wise functions of an encrypted value (chain/rowwise.ts), and the affine maps
 * around them: Softmax along one axis (rows gathered from that axis when it is not the last, and
 * put back after), LayerNormalization over its trailing axes (its Scale and B become the map
 * after it), and the LayerNorm the fusion pass (fuse-layernorm) makes from torch's opset-14
 * ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div.
 */
import { ONNX_DOMAIN, type Node } from '../graph/graph';
import { NodeView } from '../graph/kernel';
import { stridesOf } from '../graph/ops/operands';
import { sizeOf, type Tensor } from '../graph/tensor';
import type { RowFunction } from '../chain/rowwise';
import { LocalMapBuilder, type LocalMap } from './affine-map';
import { broadcastSource } from './affine-rule';

/** The private domain of fused LayerNorm nodes: they exist only between the fusion pass and the trace. */
export const ROWWISE_DOMAIN = 'ai.deeppowers.rowwise';

/** The ONNX operators the body holds as row-wise stages (the fused LayerNorm of ROWWISE_DOMAIN aside). */
export const ROWWISE_OPS: ReadonlyMap<string, ReadonlySet<string>> = new Map([[ONNX_DOMAIN, new Set(['Softmax', 'LayerNormalization'])]]);

export interface RowwiseUse {
  readonly fn: RowFunction;
  readonly rowLength: number;
  /** Gathers the input into contiguous rows (and centres a Softmax's rows); null for the identity. */
  readonly before: LocalMap | null;
  /** From the row-wise result to the node's output (the inverse gather, LayerNorm's scale and shift); null for the identity. */
  readonly after: LocalMap | null;
}

/**
 * The row-wise function `node` computes on its encrypted first input of per-sample shape `shape`,
 * a refusal, or undefined for a node that is none. `constants[i]` is input i when constant.
 */
export function rowwiseOf(node: Node, opsets: ReadonlyMap<string, number>, shape: readonly number[], constants: readonly (Tensor | undefined)[]): RowwiseUse | { readonly refused: string } | undefined {
  if (node.domain === ROWWISE_DOMAIN && node.opType === 'LayerNormalization') {
    const epsilon = node.attributes.get('epsilon');
    if (shape.length === 0) return { refused: 'a LayerNorm of a scalar per sample' };
    return { fn: { kind: 'layernorm', epsilon: epsilon?.type === 'float' ? epsilon.value : 1e-5 }, rowLength: shape[shape.length - 1]!, before: null, after: null };
  }
  if (!ROWWISE_OPS.get(node.domain)?.has(node.opType)) return undefined;
  const view = new NodeView(node, opsets.get(node.domain)!, opsets);
  const rank = shape.length + 1;
  const size = sizeOf(shape);
  if (node.opType === 'Softmax') {
    const axis = normalized(view.int('axis', view.opset >= 13 ? -1 : 1), rank);
    if (axis === null) return { refused: `Softmax along axis ${view.int('axis', -1)} of a rank-${rank} value` };
    if (axis === 0) return { refused: 'Softmax along the batch axis' };
    // Below opset 13 Softmax works on the value flattened to 2-D at `axis`: rows are the trailing axes together.
    if (view.opset < 13) return { fn: { kind: 'softmax' }, rowLength: sizeOf(shape.slice(axis - 1)), before: centred(null, size, sizeOf(shape.slice(axis - 1))), after: null };
    const p = axis - 1;
    if (p === shape.length - 1) return { fn: { kind: 'softmax' }, rowLength: shape[p]!, before: centred(null, size, shape[p]!), after: null };
    const order = [...shape.keys()].filter((d) => d !== p).concat(p);
    const gather = permutation(shape, order);
    return { fn: { kind: 'softmax' }, rowLength: shape[p]!, before: centred(gather, size, shape[p]!), after: inverse(gather, size) };
  }
  const outputs = node.outputs.filter((o, i) => i > 0 && o !== '');
  if (outputs.length > 0) return { refused: 'LayerNormalization with its Mean or InvStdDev output' };
  const axis = normalized(view.int('axis', -1), rank);
  if (axis === null) return { refused: `LayerNormalization over axis ${view.int('axis', -1)} of a rank-${rank} value` };
  if (axis === 0) return { refused: 'LayerNormalization over the batch axis' };
  const rows = shape.slice(axis - 1);
  const rowLength = sizeOf(rows);
  const scale = constants[1];
  const bias = node.inputs[2] ? constants[2] : undefined;
  if (!scale || scale.kind !== 'numeric' || (node.inputs[2] && (!bias || bias.kind !== 'numeric'))) return { refused: 'LayerNormalization with a Scale or B computed from the input' };
  const scaleAt = broadcastSource(scale.shape, rows);
  const biasAt = bias && bias.kind === 'numeric' ? broadcastSource(bias.shape, rows) : null;
  const after = new LocalMapBuilder(size, [size]);
  for (let i = 0; i < size; i++) {
    const j = i % rowLength;
    after.add(i, i, scale.data[scaleAt[j]!]!);
    if (biasAt && bias?.kind === 'numeric') after.addBias(i, bias.data[biasAt[j]!]!);
  }
  return { fn: { kind: 'layernorm', epsilon: view.float('epsilon', 1e-5) }, rowLength, before: null, after: after.build() };
}

/**
 * Each row minus its mean, after `gather` (or on the value as it is): softmax(x − c) = softmax(x)
 * for c constant along the row, so the result is exact, and the scores the server's exp sees are
 * centred per row, which narrows their calibrated range and that of the row sums (Σ exp(x_i − x̄) ≥ n)
 * — lower degrees, fewer Newton steps. It folds into the affine map before the Softmax at no cost.
 */
function centred(gather: LocalMap | null, n: number, rowLength: number): LocalMap {
  const source = (i: number): number => (gather ? gather.cols[gather.rowStart[i]!]! : i);
  const builder = new LocalMapBuilder(n, [n]);
  for (let i = 0; i < n; i++) {
    const start = i - (i % rowLength);
    // Row i of the result: x_i − mean of its row, as columns of the value before the gather.
    const coefs = new Map<number, number>();
    for (let j = start; j < start + rowLength; j++) coefs.set(source(j), (coefs.get(source(j)) ?? 0) - 1 / rowLength);
    coefs.set(source(i), (coefs.get(source(i)) ?? 0) + 1);
    for (const c of [...coefs.keys()].sort((a, b) => a - b)) builder.add(i, c, coefs.get(c)!);
  }
  return builder.build();
}

function normalized(axis: number, rank: number): number | null {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : null;
}

/** The gather that lists `shape`'s values with its axes in `order` (a transpose). */
function permutation(shape: readonly number[], order: readonly number[]): LocalMap {
  const out = order.map((d) => shape[d]!);
  const strides = stridesOf(shape);
  const n = sizeOf(shape);
  const builder = new LocalMapBuilder(n, [n]);
  const index = new Array<number>(out.length).fill(0);
  for (let o = 0; o < n; o++) {
    let src = 0;
    for (let d = 0; d < out.length; d++) src += index[d]! * strides[order[d]!]!;
    builder.add(o, src, 1);
    for (let d = out.length - 1; d >= 0; d--) {
      if (++index[d]! < out[d]!) break;
      index[d] = 0;
    }
  }
  return builder.build();
}

/** The inverse of a permutation map (one entry of 1 per row). */
function inverse(p: LocalMap, n: number): LocalMap {
  const source = new Int32Array(n);
  for (let row = 0; row < n; row++) source[p.cols[p.rowStart[row]!]!] = row;
  const builder = new LocalMapBuilder(n, [n]);
  for (let i = 0; i < n; i++) builder.add(i, source[i]!, 1);
  return builder.build();
}
