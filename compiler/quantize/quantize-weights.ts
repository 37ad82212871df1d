/**
 * Post-training weight quantization of the model's own layers, as Concrete ML does it: the learned
 * weight tensors of Gemm, MatMul and Conv (LinearClassifier/LinearRegressor arrive here as Gemm,
 * and a BatchNormalization folded into its Gemm/Conv is part of that layer's effective weights)
 * are rounded to a symmetric per-output-channel grid. Everything else stays exact: preprocessing
 * (Scaler, Sub/Mul/Div by constants, an unfolded BatchNormalization), pooling and padding maps,
 * and biases, which are added once and cost no precision in CKKS.
 *
 * This runs on the prepared graph, before the trace merges layers: merged with a Scaler,
 * (x − offset)·scale turns one weight row into w_j·scale_j, whose entries span orders of
 * magnitude, and a grid over that row rounds the small ones to zero.
 */
import { fail } from '../errors';
import { ONNX_DOMAIN, type Graph, type Node } from '../graph/graph';
import { numeric, type Tensor } from '../graph/tensor';
import type { Stage } from '../chain/stages';
import type { PreparedGraph } from '../passes/split-graph';
import { nodeLabel, sourcesOf } from '../passes/node-sources';
import { checkQuantizeOptions, quantizeValues, type ChannelLayout, type QuantizeOptions } from './grid';
import type { QuantizationSummary, StageQuantization } from './summary';

/** One quantized weight tensor, before the passes say which chain stage it ends up in. */
export interface TensorQuantization {
  /** Label of the layer node reading the tensor. */
  readonly node: string;
  readonly sources: readonly string[];
  /** Initializer name in the rewritten graph. */
  readonly tensor: string;
  readonly channels: number;
  readonly perChannelSize: number;
  readonly maxScale: number;
  readonly maxAbsError: number;
  readonly zeroFraction: number;
}

export interface QuantizedGraph {
  readonly prepared: PreparedGraph;
  readonly options: QuantizeOptions;
  readonly tensors: readonly TensorQuantization[];
}

interface WeightUse {
  readonly slot: number;
  readonly layout: ChannelLayout;
}

/**
 * The weight operand of a layer node and where its output channels are, or undefined when the
 * node is not a layer with a constant weight and an input-dependent operand.
 */
export function weightUse(node: Node, initializers: ReadonlyMap<string, Tensor>): WeightUse | undefined {
  if (node.domain !== ONNX_DOMAIN) return undefined;
  const isConst = (slot: number): boolean => initializers.get(node.inputs[slot] ?? '')?.kind === 'numeric';
  const shape = (slot: number): readonly number[] => (initializers.get(node.inputs[slot]!) as { shape: readonly number[] }).shape;
  const count = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);
  switch (node.opType) {
    case 'Gemm': {
      if (isConst(0) || !isConst(1) || shape(1).length !== 2) return undefined;
      const [r, c] = shape(1) as [number, number];
      const transB = node.attributes.get('transB');
      // B is [K, N] (channels are columns) or, transposed, [N, K] (channels are rows).
      return { slot: 1, layout: transB?.type === 'int' && transB.value !== 0 ? { channels: r, inner: c } : { channels: c, inner: 1 } };
    }
    case 'Conv': {
      if (isConst(0) || !isConst(1) || shape(1).length < 1) return undefined;
      const s = shape(1);
      return { slot: 1, layout: { channels: s[0]!, inner: count(s.slice(1)) } };
    }
    case 'MatMul': {
      if (isConst(0) === isConst(1)) return undefined;
      const slot = isConst(1) ? 1 : 0;
      const s = shape(slot);
      if (s.length < 2) return { slot, layout: { channels: 1, inner: count(s) } };
      // x·B: an output channel is a column of B; A·x: a row of A.
      return slot === 1 ? { slot, layout: { channels: s[s.length - 1]!, inner: 1 } } : { slot, layout: { channels: s[s.length - 2]!, inner: s[s.length - 1]! } };
    }
    default:
      return undefined;
  }
}

export function quantizeGraphWeights(prepared: PreparedGraph, options: QuantizeOptions): QuantizedGraph {
  checkQuantizeOptions(options);
  const { graph } = prepared;
  const initializers = new Map<string, Tensor>(graph.initializers);
  const readers = new Map<string, number>();
  for (const n of graph.nodes) for (const x of n.inputs) readers.set(x, (readers.get(x) ?? 0) + 1);
  const taken = new Set<string>([...initializers.keys(), ...graph.valueTypes.keys(), ...graph.nodes.flatMap((n) => n.outputs)]);
  const tensors: TensorQuantization[] = [];
  const nodes = graph.nodes.map((node): Node => {
    const use = weightUse(node, graph.initializers);
    if (!use) return node;
    const name = node.inputs[use.slot]!;
    const w = graph.initializers.get(name)!;
    if (w.kind !== 'numeric') return node;
    const label = nodeLabel(node);
    const q = quantizeValues(w.data, use.layout, options, `${node.opType} "${label}" weight "${name}"`);
    // A tensor read elsewhere too keeps its exact values there; this layer gets its own copy.
    const shared = (readers.get(name) ?? 0) > 1;
    const target = shared ? fresh(`${name}/quantized`, taken) : name;
    initializers.set(target, numeric(w.dtype, w.shape, q.values));
    tensors.push({
      node: label,
      sources: sourcesOf(node, prepared.sources),
      tensor: target,
      channels: options.perChannel ? use.layout.channels : 1,
      perChannelSize: options.perChannel ? w.data.length / use.layout.channels : w.data.length,
      maxScale: q.maxScale,
      maxAbsError: q.maxAbsError,
      zeroFraction: w.data.length === 0 ? 0 : q.zeros / w.data.length,
    });
    return shared ? { ...node, inputs: node.inputs.map((x, i) => (i === use.slot ? target : x)) } : node;
  });
  const quantized: Graph = { ...graph, nodes, initializers };
  return { prepared: { ...prepared, graph: quantized }, options, tensors };
}

function fresh(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

/**
 * The manifest's summary: each quantized tensor with the chain stage its layer ended up in. Every
 * layer with a weight reads the encrypted value, so it is in the body; one that is not means the
 * passes and this module disagree, which is a bug worth stopping on.
 */
export function quantizationSummary(q: QuantizedGraph, body: readonly Stage[]): QuantizationSummary {
  const stages = q.tensors.map((t): StageQuantization => {
    const stage = body.findIndex((s) => s.kind === 'affine' && t.sources.some((x) => s.sources.includes(x)));
    if (stage < 0) fail('BAD_GRAPH', `quantized layer "${t.node}" is not part of the encrypted chain`);
    return {
      stage,
      sources: t.sources,
      bits: q.options.bits,
      perChannel: q.options.perChannel,
      outSize: t.channels,
      inSize: t.perChannelSize,
      maxScale: t.maxScale,
      maxAbsError: t.maxAbsError,
      zeroFraction: t.zeroFraction,
    };
  });
  return { bits: q.options.bits, perChannel: q.options.perChannel, stages };
}
