/**
 * Activations written as several nodes become one: every match of a registry pattern (torch's
 * SiLU as Mul(x, Sigmoid(x)), GELU as Div, Erf, Add, Mul, Mul) is replaced by a single node of the
 * private domain FUSED_ACTIVATION_DOMAIN whose op type is the activation and whose float
 * attributes are its parameters. The trace then sees one elementwise activation reading x, where
 * it would otherwise see x read twice across an activation (a branch it refuses).
 *
 * A match is fused only when its inner values are read by nothing outside it and are not graph
 * outputs; larger patterns win because roots are tried from the end of the graph.
 *
 * Before → after:
 *   s = Sigmoid(x)   y = Mul(x, s)
 *   y = ai.deeppowers.activation:silu(x)
 */
import { ACTIVATIONS, FUSED_ACTIVATION_DOMAIN, type ActivationRecord } from '../activations/registry';
import type { Pattern } from '../activations/pattern';
import { ONNX_DOMAIN, type AttributeValue, graphEdges, type Graph, type Node } from '../graph/graph';
import type { Tensor } from '../graph/tensor';
import { replaceFused, type Fusion, type SourceTable } from './node-sources';

export interface FusedActivations {
  readonly graph: Graph;
  readonly sources: SourceTable;
}

/** Ops whose two inputs may come in either order. */
const COMMUTATIVE = new Set(['Add', 'Mul']);

/** Constants and attributes are compared to float32 precision: exporters write them as float32. */
function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
}

interface MatchState {
  readonly input: string | undefined;
  readonly nodes: readonly Node[];
}

class Matcher {
  constructor(
    private readonly producer: ReadonlyMap<string, Node>,
    private readonly constants: ReadonlyMap<string, Tensor>,
  ) {}

  match(p: Pattern, value: string, state: MatchState): MatchState | undefined {
    switch (p.kind) {
      case 'input':
        if (this.constants.has(value)) return undefined;
        if (state.input === undefined) return { ...state, input: value };
        return state.input === value ? state : undefined;
      case 'scalar': {
        const t = this.constants.get(value);
        if (!t || t.kind !== 'numeric' || t.data.length === 0) return undefined;
        return t.data.every((v) => close(v, p.value)) ? state : undefined;
      }
      case 'either':
        for (const option of p.options) {
          const s = this.match(option, value, state);
          if (s) return s;
        }
        return undefined;
      case 'op':
        return this.matchNode(p, value, state);
    }
  }

  private matchNode(p: Extract<Pattern, { kind: 'op' }>, value: string, state: MatchState): MatchState | undefined {
    const node = this.producer.get(value);
    if (!node || node.domain !== ONNX_DOMAIN || node.opType !== p.opType || node.outputs[0] !== value) return undefined;
    if (node.inputs.length !== p.inputs.length || node.inputs.some((x) => x === '')) return undefined;
    for (const [name, expected] of Object.entries(p.attributes)) {
      const a = node.attributes.get(name);
      if (!a || (a.type !== 'float' && a.type !== 'int') || !close(a.value, expected)) return undefined;
    }
    const orders = COMMUTATIVE.has(p.opType) && p.inputs.length === 2 ? [[0, 1], [1, 0]] : [p.inputs.map((_p, i) => i)];
    for (const order of orders) {
      let s: MatchState | undefined = { ...state, nodes: [...state.nodes, node] };
      for (let i = 0; i < p.inputs.length && s; i++) s = this.match(p.inputs[i]!, node.inputs[order[i]!]!, s);
      if (s) return s;
    }
    return undefined;
  }
}

interface PatternMatch {
  readonly record: ActivationRecord;
  readonly params: Readonly<Record<string, number>>;
  readonly input: string;
  readonly root: Node;
  readonly nodes: ReadonlySet<Node>;
}

export function fuseActivations(graph: Graph, sources: SourceTable = new Map()): FusedActivations {
  const { producer, readers, outputs } = graphEdges(graph);
  const matcher = new Matcher(producer, graph.initializers);
  const patterns = ACTIVATIONS.flatMap((record) => record.patterns.map((pattern) => ({ record, pattern })));

  const consumed = new Set<Node>();
  const fusions = new Map<Node, PatternMatch>();
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const root = graph.nodes[i]!;
    if (consumed.has(root) || root.outputs.length !== 1) continue;
    for (const { record, pattern } of patterns) {
      const state = matcher.match(pattern.root, root.outputs[0]!, { input: undefined, nodes: [] });
      if (!state || state.input === undefined) continue;
      const nodes = new Set(state.nodes);
      const inner = [...nodes].filter((n) => n !== root);
      const sealed = inner.every((n) => n.outputs.every((o) => !outputs.has(o) && (readers.get(o) ?? []).every((r) => nodes.has(r))));
      const inputProducer = producer.get(state.input);
      if (!sealed || [...nodes].some((n) => consumed.has(n)) || (inputProducer && nodes.has(inputProducer))) continue;
      for (const n of nodes) consumed.add(n);
      fusions.set(root, { record, params: pattern.params, input: state.input, root, nodes });
      break;
    }
  }
  if (fusions.size === 0) return { graph, sources };
  const replaced = new Map<Node, Fusion>();
  for (const [root, fusion] of fusions) {
    const node: Node = {
      name: root.name,
      opType: fusion.record.fn,
      domain: FUSED_ACTIVATION_DOMAIN,
      inputs: [fusion.input],
      outputs: [root.outputs[0]!],
      attributes: new Map(Object.entries(fusion.params).map(([k, v]): [string, AttributeValue] => [k, { type: 'float', value: v }])),
    };
    replaced.set(root, { node, members: fusion.nodes });
  }
  return replaceFused(graph, sources, replaced);
}
