import { readFileSync } from 'node:fs';
import { DeepPowersError, fail } from '../errors';
import { ONNX_DOMAIN, ML_DOMAIN, describeNode, type Graph, type Node, type Subgraph, type ValueType } from '../graph/graph';
import { NodeView, runKernel } from '../graph/kernel';
import { findKernel } from '../graph/ops/index';
import type { Tensor, Value } from '../graph/tensor';
import { decodeModel, type DecodedModel } from './decode';

/** Newest opset per domain whose semantics the kernels were written against. */
export const MAX_OPSET: ReadonlyMap<string, number> = new Map([
  [ONNX_DOMAIN, 21],
  [ML_DOMAIN, 3],
]);

/** Read, decode, check and type an ONNX model file. Throws DeepPowersError only. */
export function importModelFile(path: string): Graph {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    fail('IO', `cannot read model ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return importModel(bytes, path);
}

export function importModel(bytes: Uint8Array, source = 'model'): Graph {
  const decoded = decodeModel(bytes, source);
  checkOperators(decoded);
  const nodes = topologicalOrder(decoded);
  const valueTypes = inferTypes(decoded, nodes);
  return {
    name: decoded.name,
    irVersion: decoded.irVersion,
    producer: decoded.producer,
    opsets: decoded.opsets,
    inputs: decoded.inputs.map((i) => ({ name: i.name, type: valueTypes.get(i.name) ?? i.type })),
    outputs: decoded.outputs.map((o) => ({ name: o.name, type: valueTypes.get(o.name) ?? o.type })),
    initializers: decoded.initializers,
    nodes,
    valueTypes,
  };
}

/** Whether an operator is implemented, and why not if it is not. Used by `inspect` as well. */
export function operatorSupport(node: Node, opsets: ReadonlyMap<string, number>): { supported: true } | { supported: false; reason: string } {
  const opset = opsets.get(node.domain);
  if (opset === undefined) return { supported: false, reason: `the model does not import domain ${node.domain}` };
  const max = MAX_OPSET.get(node.domain);
  const kernel = findKernel(node.domain, node.opType);
  if (!kernel || max === undefined) return { supported: false, reason: 'operator not implemented' };
  if (opset > max) return { supported: false, reason: `opset ${opset} is newer than the supported ${max}` };
  if (opset < kernel.minOpset) return { supported: false, reason: `opset ${opset} is older than the supported ${kernel.minOpset}` };
  return { supported: true };
}

function checkOperators(m: DecodedModel): void {
  checkNodes(m.nodes, m.opsets);
}

function checkNodes(nodes: readonly Node[], opsets: ReadonlyMap<string, number>): void {
  for (const node of nodes) {
    const support = operatorSupport(node, opsets);
    if (!support.supported) {
      fail('UNSUPPORTED_OP', `unsupported operator: ${describeNode(node, opsets)}: ${support.reason}`);
    }
    const kernel = findKernel(node.domain, node.opType)!;
    for (const [name, a] of node.attributes) {
      if (a.type !== 'graph') continue;
      if (!a.value || !kernel.subgraphs?.includes(name)) fail('UNSUPPORTED_ATTRIBUTE', `${describeNode(node, opsets)}: subgraph attribute "${name}" is not supported`);
      checkSubgraph(a.value, node, opsets);
    }
    kernel.validate?.(new NodeView(node, opsets.get(node.domain)!, opsets));
  }
}

/** A subgraph's operators must have kernels, and it may read only its own inputs and constants. */
function checkSubgraph(body: Subgraph, owner: Node, opsets: ReadonlyMap<string, number>): void {
  checkNodes(body.nodes, opsets);
  const available = new Set<string>(['', ...body.inputs.map((i) => i.name), ...body.initializers.keys()]);
  for (const n of body.nodes) {
    const outer = n.inputs.find((x) => !available.has(x));
    if (outer !== undefined) {
      fail('UNSUPPORTED_ATTRIBUTE', `${describeNode(owner, opsets)}: its subgraph reads "${outer}" from the enclosing graph or before it is computed, which is not supported`);
    }
    for (const o of n.outputs) available.add(o);
  }
  const missing = body.outputs.find((o) => !available.has(o.name));
  if (missing) fail('BAD_GRAPH', `${describeNode(owner, opsets)}: its subgraph never computes its output "${missing.name}"`);
}

function topologicalOrder(m: DecodedModel): Node[] {
  const available = new Set<string>([...m.inputs.map((i) => i.name), ...m.initializers.keys(), '']);
  const producers = new Map<string, Node>();
  for (const node of m.nodes) {
    for (const out of node.outputs) {
      if (!out) continue;
      if (producers.has(out) || available.has(out)) fail('BAD_GRAPH', `value "${out}" is produced more than once (${describeNode(node, m.opsets)})`);
      producers.set(out, node);
    }
  }
  const order: Node[] = [];
  const pending = [...m.nodes];
  while (pending.length > 0) {
    const before = pending.length;
    for (let i = 0; i < pending.length; ) {
      const node = pending[i]!;
      if (node.inputs.every((x) => available.has(x))) {
        order.push(node);
        for (const out of node.outputs) available.add(out);
        pending.splice(i, 1);
      } else i++;
    }
    if (pending.length === before) {
      const node = pending[0]!;
      const missing = node.inputs.find((x) => !available.has(x))!;
      const why = producers.has(missing) ? 'the graph has a cycle through it' : 'nothing produces it';
      fail('BAD_GRAPH', `${describeNode(node, m.opsets)} reads "${missing}", but ${why}`);
    }
  }
  for (const o of m.outputs) {
    if (!available.has(o.name)) fail('BAD_GRAPH', `graph output "${o.name}" is never produced`);
  }
  return order;
}

function inferTypes(m: DecodedModel, nodes: readonly Node[]): Map<string, ValueType> {
  const types = new Map<string, ValueType>();
  const declared = new Map<string, ValueType>();
  for (const v of [...m.valueInfo, ...m.outputs]) declared.set(v.name, v.type);
  for (const i of m.inputs) types.set(i.name, i.type);
  const constants = new Map<string, Tensor>(m.initializers);
  for (const [name, t] of m.initializers) types.set(name, { kind: 'tensor', dtype: t.dtype, shape: [...t.shape] });

  for (const node of nodes) {
    const view = new NodeView(node, m.opsets.get(node.domain)!, m.opsets);
    const kernel = findKernel(node.domain, node.opType)!;
    const inTypes = node.inputs.map((x) => (x ? types.get(x) : undefined));
    const inConsts = node.inputs.map((x) => (x ? constants.get(x) : undefined));
    let outTypes: ValueType[];
    try {
      outTypes = kernel.infer(view, inTypes, inConsts);
    } catch (e) {
      if (e instanceof DeepPowersError) throw e;
      fail('BAD_GRAPH', `${view.describe()}: shape inference failed: ${(e as Error).message}`);
    }
    const allConstant = node.inputs.length === 0 || node.inputs.every((x, i) => x === '' || inConsts[i] !== undefined);
    let outValues: Value[] | undefined;
    if (allConstant && node.inputs.some((x) => x !== '') || node.opType === 'Constant') {
      outValues = runKernel(kernel, view, inConsts);
    }
    node.outputs.forEach((out, i) => {
      if (!out) return;
      const inferred = outTypes[i];
      const fromDecl = declared.get(out);
      const t = inferred && !(inferred.kind === 'tensor' && inferred.shape === null && fromDecl) ? inferred : fromDecl;
      if (t) types.set(out, t);
      const v = outValues?.[i];
      if (v && v.kind !== 'sequence-of-maps') constants.set(out, v);
    });
  }
  return types;
}
