import { fail } from '../errors';
import type { Graph, Node, ValueInfo } from '../graph/graph';
import { runGraph } from '../graph/interpreter';
import { numeric, sizeOf, type Tensor, type Value } from '../graph/tensor';
import type { BodyValue, ClientSide } from './types';

/**
 * The prologue and epilogue as graphs the reference interpreter (`runGraph`) runs on the client:
 * the prologue from the model input to the body input, the epilogue from the decrypted body
 * output to the model outputs. Values carry a leading batch dimension, as in the ONNX graph.
 */

export function prologueGraph(m: ClientSide): Graph {
  const input: ValueInfo = { name: m.input.name, type: { kind: 'tensor', dtype: m.input.dtype, shape: ['batch', ...m.input.shape] } };
  return partGraph(m, 'prologue', m.client.prologue, [input], [bodyValueInfo(m.bodyInput)]);
}

export function epilogueGraph(m: ClientSide): Graph {
  return partGraph(m, 'epilogue', m.client.epilogue, [bodyValueInfo(m.bodyOutput)], m.outputs);
}

/** Runs the prologue on a batch of model inputs; one body-input vector per sample. */
export function runPrologue(m: ClientSide, input: Value): Float64Array[] {
  const out = runGraph(prologueGraph(m), new Map([[m.input.name, input]])).get(m.bodyInput.name)!;
  const per = sizeOf(m.bodyInput.shape);
  if (out.kind !== 'numeric') fail('BAD_DATA', `the prologue made "${m.bodyInput.name}" ${out.kind === 'string' ? 'strings' : 'maps'}, not numbers`);
  if (out.shape.length === 0 || sizeOf(out.shape.slice(1)) !== per) {
    fail('BAD_DATA', `the prologue made "${m.bodyInput.name}" of shape [${out.shape.join(', ')}], expected [batch, ${m.bodyInput.shape.join(', ')}]`);
  }
  return Array.from({ length: out.shape[0]! }, (_, r) => out.data.slice(r * per, (r + 1) * per));
}

/** Runs the epilogue on decrypted body outputs (one vector per sample); the model outputs by name. */
export function runEpilogue(m: ClientSide, rows: readonly Float64Array[]): Map<string, Value> {
  return runGraph(epilogueGraph(m), new Map([[m.bodyOutput.name, bodyOutputTensor(m.bodyOutput, rows)]]));
}

/**
 * Decrypted rows as the tensor the ONNX graph had: its dtype and shape, batch first. Values stay
 * float64, as the reference interpreter keeps them, so the epilogue reproduces a reference run
 * exactly when given the reference body output.
 */
export function bodyOutputTensor(v: BodyValue, rows: readonly Float64Array[]): Tensor {
  if (v.dtype === 'string') fail('BAD_ARTIFACT', `body output "${v.name}" cannot hold strings`);
  const per = sizeOf(v.shape);
  const data = new Float64Array(rows.length * per);
  rows.forEach((row, r) => {
    if (row.length !== per) fail('BAD_DATA', `result row ${r} has ${row.length} values, "${v.name}" has ${per} per sample`);
    data.set(row, r * per);
  });
  return numeric(v.dtype, [rows.length, ...v.shape], data);
}

function bodyValueInfo(v: BodyValue): ValueInfo {
  return { name: v.name, type: { kind: 'tensor', dtype: v.dtype, shape: ['batch', ...v.shape] } };
}

function partGraph(m: ClientSide, name: string, nodes: readonly Node[], inputs: readonly ValueInfo[], outputs: readonly ValueInfo[]): Graph {
  const read = new Set(nodes.flatMap((n) => n.inputs));
  const initializers = new Map([...m.client.constants].filter(([k]) => read.has(k)));
  const valueTypes = new Map([...inputs, ...outputs].map((v) => [v.name, v.type]));
  return {
    name: `${m.source.name} ${name}`,
    irVersion: m.source.irVersion,
    producer: m.source.producer,
    opsets: m.source.opsets,
    inputs,
    outputs,
    initializers,
    nodes,
    valueTypes,
  };
}
