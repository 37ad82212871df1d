import type { DType, Tensor } from './tensor';

/** A dimension: a fixed size, a named symbolic size (e.g. the batch `N`), or unknown. */
export type Dim = number | string | null;

/** What static shape inference knows about a value. */
export type ValueType =
  | { readonly kind: 'tensor'; readonly dtype: DType; readonly shape: readonly Dim[] | null }
  | { readonly kind: 'sequence-of-maps'; readonly keyType: 'int64' | 'string'; readonly valueType: DType };

export interface ValueInfo {
  readonly name: string;
  readonly type: ValueType;
}

export type AttributeValue =
  | { readonly type: 'int'; readonly value: number }
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'ints'; readonly value: readonly number[] }
  | { readonly type: 'floats'; readonly value: readonly number[] }
  | { readonly type: 'strings'; readonly value: readonly string[] }
  | { readonly type: 'tensor'; readonly value: Tensor }
  /** A subgraph (Scan's body); `value` is absent for the GRAPHS list form, which no kernel reads. */
  | { readonly type: 'graph'; readonly value?: Subgraph }
  | { readonly type: 'other'; readonly onnxType: string };

/**
 * A graph held in a node attribute (Scan's body): its own inputs, outputs, constants and nodes in
 * file order. It runs with the enclosing model's opsets.
 */
export interface Subgraph {
  readonly name: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly initializers: ReadonlyMap<string, Tensor>;
  readonly nodes: readonly Node[];
}

/** Domain names are normalised: the default domain '' is written 'ai.onnx'. */
export const ONNX_DOMAIN = 'ai.onnx';
export const ML_DOMAIN = 'ai.onnx.ml';

export interface Node {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  /** '' marks an omitted optional input, as in ONNX. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, AttributeValue>;
}

export interface Graph {
  readonly name: string;
  readonly irVersion: number;
  readonly producer: string;
  /** domain → opset version, for every domain the model imports. */
  readonly opsets: ReadonlyMap<string, number>;
  /** Graph inputs that the caller supplies (initializers excluded). */
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly initializers: ReadonlyMap<string, Tensor>;
  /** Nodes in a valid topological order (the importer checks and re-sorts). */
  readonly nodes: readonly Node[];
  /** Types of every value: declared value_info, graph inputs/outputs and inferred ones. */
  readonly valueTypes: ReadonlyMap<string, ValueType>;
}

/** Each value's producing node, each value's reading nodes (in graph order), and the graph's output names. */
export function graphEdges(graph: Graph): { producer: Map<string, Node>; readers: Map<string, Node[]>; outputs: Set<string> } {
  const producer = new Map<string, Node>();
  const readers = new Map<string, Node[]>();
  for (const n of graph.nodes) {
    for (const o of n.outputs) if (o) producer.set(o, n);
    for (const x of n.inputs) if (x) readers.set(x, [...(readers.get(x) ?? []), n]);
  }
  return { producer, readers, outputs: new Set(graph.outputs.map((o) => o.name)) };
}

/** The human-readable name of a node for error messages: `Gemm node "fc1" (ai.onnx opset 13)`. */
export function describeNode(node: Node, opsets: ReadonlyMap<string, number>): string {
  const version = opsets.get(node.domain);
  const label = node.name ? ` "${node.name}"` : ` producing "${node.outputs[0] ?? '?'}"`;
  return `${node.opType} node${label} (${node.domain}${version !== undefined ? ` opset ${version}` : ''})`;
}
