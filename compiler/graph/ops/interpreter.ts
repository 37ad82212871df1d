import { fail } from '../../errors';
import type { Graph } from '../graph';
import { NodeView, runKernel } from '../kernel';
import { findKernel } from './index';
import type { Value } from '../tensor';

/**
 * The float64 reference: runs every node of an imported graph in order. It is the ground truth
 * for calibration, simulation and encrypted runs, and is itself checked against onnxruntime and
 * the ONNX backend node tests.
 */
export function runGraph(graph: Graph, feeds: ReadonlyMap<string, Value>, wanted?: readonly string[]): Map<string, Value> {
  const values = new Map<string, Value>(graph.initializers);
  for (const input of graph.inputs) {
    const v = feeds.get(input.name);
    if (!v) fail('BAD_DATA', `missing input "${input.name}"`);
    checkFeed(input.name, input.type, v);
    values.set(input.name, v);
  }
  // Free each intermediate after its last reader so large graphs stay small in memory.
  const outputs = new Set(wanted ?? graph.outputs.map((o) => o.name));
  const lastUse = new Map<string, number>();
  graph.nodes.forEach((n, i) => n.inputs.forEach((x) => lastUse.set(x, i)));

  graph.nodes.forEach((node, index) => {
    const kernel = findKernel(node.domain, node.opType);
    if (!kernel) fail('UNSUPPORTED_OP', `unsupported operator ${node.opType} (${node.domain})`);
    const view = new NodeView(node, graph.opsets.get(node.domain)!, graph.opsets);
    const inputs = node.inputs.map((x) => (x ? values.get(x) : undefined));
    const results = runKernel(kernel, view, inputs);
    node.outputs.forEach((out, i) => {
      if (out && results[i] !== undefined) values.set(out, results[i]!);
    });
    for (const x of node.inputs) {
      if (lastUse.get(x) === index && !outputs.has(x) && !graph.initializers.has(x)) values.delete(x);
    }
  });

  const result = new Map<string, Value>();
  for (const name of outputs) {
    const v = values.get(name);
    if (!v) fail('BAD_GRAPH', `output "${name}" was not computed`);
    result.set(name, v);
  }
  return result;
}

function checkFeed(name: string, type: Graph['inputs'][number]['type'], v: Value): void {
  if (type.kind !== 'tensor' || v.kind === 'sequence-of-maps') return;
  if ((type.dtype === 'string') !== (v.kind === 'string')) {
    fail('BAD_DATA', `input "${name}" expects ${type.dtype} values, got ${v.dtype}`);
  }
  if (!type.shape) return;
  if (type.shape.length !== v.shape.length) {
    fail('BAD_DATA', `input "${name}" expects rank ${type.shape.length} [${type.shape.map((d) => d ?? '?').join(', ')}], got shape [${v.shape.join(', ')}]`);
  }
  type.shape.forEach((d, i) => {
    if (typeof d === 'number' && d !== v.shape[i]) {
      fail('BAD_DATA', `input "${name}" expects dimension ${i} to be ${d}, got ${v.shape[i]} (shape [${v.shape.join(', ')}])`);
    }
  });
}
