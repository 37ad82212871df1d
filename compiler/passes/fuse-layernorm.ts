/**
 * LayerNorm written out (torch.onnx below opset 17):
 *   m = ReduceMean(x, axes=[-1]); d = Sub(x, m); v = ReduceMean(Pow(d, 2), axes=[-1]);
 *   y = Div(d, Sqrt(Add(v, ε)))
 * becomes one node of ROWWISE_DOMAIN (LayerNorm over the last axis, no scale or shift: torch's
 * Mul and Add after it stay affine maps), so the trace sees the same row-wise function as for
 * opset 17's LayerNormalization. Fused only when the inner values are read by nothing else and
 * are not graph outputs. The node has no kernel: it exists only between this pass and the trace.
 */
import { ONNX_DOMAIN, graphEdges, type Graph, type Node } from '../graph/graph';
import type { Tensor } from '../graph/tensor';
import { replaceFused, type Fusion, type SourceTable } from './node-sources';
import { ROWWISE_DOMAIN } from './rowwise-ops';

/** The operators of the written-out LayerNorm this pass fuses (Mul: the square written as d·d); `made` takes only these, and `deeppowers support` lists them. */
export const LAYERNORM_PATTERN_OPS = ['ReduceMean', 'Sub', 'Pow', 'Mul', 'Add', 'Sqrt', 'Div'] as const;
type PatternOp = (typeof LAYERNORM_PATTERN_OPS)[number];

export interface FusedLayerNorms {
  readonly graph: Graph;
  readonly sources: SourceTable;
}

export function fuseLayerNorms(graph: Graph, sources: SourceTable): FusedLayerNorms {
  const { producer, readers, outputs } = graphEdges(graph);
  const constants = graph.initializers;
  const made = (value: string, opType: PatternOp): Node | undefined => {
    const n = producer.get(value);
    return n && n.domain === ONNX_DOMAIN && n.opType === opType && n.outputs[0] === value ? n : undefined;
  };

  const fused = new Map<Node, { input: string; epsilon: number; members: Node[] }>();
  const consumed = new Set<Node>();
  for (const div of graph.nodes) {
    if (div.domain !== ONNX_DOMAIN || div.opType !== 'Div') continue;
    const [d, s] = div.inputs as [string, string];
    const sub = made(d, 'Sub');
    const sqrt = made(s, 'Sqrt');
    const add = sqrt && made(sqrt.inputs[0]!, 'Add');
    if (!sub || !add) continue;
    const [x, m] = sub.inputs as [string, string];
    const mean = made(m, 'ReduceMean');
    const epsAt = add.inputs.findIndex((i) => scalarOf(constants.get(i)) !== undefined);
    if (!mean || mean.inputs[0] !== x || epsAt < 0 || !lastAxis(mean, constants)) continue;
    const variance = made(add.inputs[1 - epsAt]!, 'ReduceMean');
    const square = variance && (made(variance.inputs[0]!, 'Pow') ?? made(variance.inputs[0]!, 'Mul'));
    if (!variance || !square || !lastAxis(variance, constants)) continue;
    const squares = square.opType === 'Pow' ? square.inputs[0] === d && scalarOf(constants.get(square.inputs[1]!)) === 2 : square.inputs[0] === d && square.inputs[1] === d;
    if (!squares) continue;
    const members = [mean, sub, square, variance, add, sqrt, div];
    const inner = members.filter((n) => n !== div);
    const sealed = inner.every((n) => n.outputs.every((o) => !outputs.has(o) && (readers.get(o) ?? []).every((r) => members.includes(r))));
    if (!sealed || members.some((n) => consumed.has(n))) continue;
    for (const n of members) consumed.add(n);
    fused.set(div, { input: x, epsilon: scalarOf(constants.get(add.inputs[epsAt]!))!, members });
  }
  if (fused.size === 0) return { graph, sources };
  const replaced = new Map<Node, Fusion>();
  for (const [div, f] of fused) {
    const node: Node = {
      name: div.name,
      opType: 'LayerNormalization',
      domain: ROWWISE_DOMAIN,
      inputs: [f.input],
      outputs: [div.outputs[0]!],
      attributes: new Map([['epsilon', { type: 'float', value: f.epsilon }]]),
    };
    replaced.set(div, { node, members: new Set(f.members) });
  }
  return replaceFused(graph, sources, replaced);
}

function scalarOf(t: Tensor | undefined): number | undefined {
  return t && t.kind === 'numeric' && t.data.length === 1 ? t.data[0] : undefined;
}

/** A ReduceMean over the last axis only, keeping it (axes [-1] as an attribute, or as input 1 from opset 18). */
function lastAxis(node: Node, constants: ReadonlyMap<string, Tensor>): boolean {
  const keep = node.attributes.get('keepdims');
  if (keep && keep.type === 'int' && keep.value === 0) return false;
  const attr = node.attributes.get('axes');
  const axes = attr?.type === 'ints' ? attr.value : node.inputs[1] ? Array.from((constants.get(node.inputs[1]) as { data?: Float64Array } | undefined)?.data ?? []) : [];
  return axes.length === 1 && axes[0] === -1;
}
