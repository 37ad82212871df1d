/**
 * Type inference and evaluation of a subgraph held in a node attribute (Scan's body), with the
 * enclosing model's opsets. The importer has already checked that every body operator has a
 * kernel and that the body reads nothing from the enclosing graph.
 */
import { fail } from '../../errors';
import type { Subgraph, ValueType } from '../graph';
import { NodeView } from '../kernel';
import { findKernel } from './index';
import type { Tensor, Value } from '../tensor';

function viewOf(node: Subgraph['nodes'][number], opsets: ReadonlyMap<string, number>): NodeView {
  return new NodeView(node, opsets.get(node.domain) ?? 1, opsets);
}

/** Output types of `body` given its input types; a declared output type stands in where inference knows less. */
export function inferSubgraph(body: Subgraph, inputs: readonly ValueType[], opsets: ReadonlyMap<string, number>): ValueType[] {
  const types = new Map<string, ValueType>();
  const constants = new Map<string, Tensor>(body.initializers);
  for (const [name, t] of body.initializers) types.set(name, { kind: 'tensor', dtype: t.dtype, shape: [...t.shape] });
  body.inputs.forEach((i, k) => types.set(i.name, inputs[k] ?? i.type));
  for (const node of body.nodes) {
    const kernel = findKernel(node.domain, node.opType)!;
    const out = kernel.infer(viewOf(node, opsets), node.inputs.map((x) => (x ? types.get(x) : undefined)), node.inputs.map((x) => (x ? constants.get(x) : undefined)));
    node.outputs.forEach((o, i) => {
      if (o && out[i]) types.set(o, out[i]!);
    });
  }
  return body.outputs.map((o) => {
    const t = types.get(o.name);
    return t && !(t.kind === 'tensor' && t.shape === null) ? t : o.type;
  });
}

/** Run `body` on one set of inputs, in node order. */
export function runSubgraph(body: Subgraph, inputs: readonly Value[], opsets: ReadonlyMap<string, number>): Value[] {
  if (inputs.length !== body.inputs.length) fail('BAD_GRAPH', `subgraph "${body.name}" takes ${body.inputs.length} inputs, got ${inputs.length}`);
  const values = new Map<string, Value>(body.initializers);
  body.inputs.forEach((i, k) => values.set(i.name, inputs[k]!));
  for (const node of body.nodes) {
    const out = findKernel(node.domain, node.opType)!.run(viewOf(node, opsets), node.inputs.map((x) => (x ? values.get(x) : undefined)));
    node.outputs.forEach((o, i) => {
      if (o && out[i] !== undefined) values.set(o, out[i]!);
    });
  }
  return body.outputs.map((o) => {
    const v = values.get(o.name);
    if (!v) fail('BAD_GRAPH', `subgraph "${body.name}" does not compute its output "${o.name}"`);
    return v;
  });
}
