/**
 * Runs a SplitModel in the clear: prologue and epilogue with the reference interpreter, the body
 * in float64 with exact activations. This is what the split promises to equal (the original graph)
 * and what calibration and simulation compare against.
 */
import { fail } from '../errors';
import type { Graph, Node, ValueInfo } from '../graph/graph';
import { runGraph } from '../graph/ops/interpreter';
import { numeric, sizeOf, type DType, type NumericTensor, type Value } from '../graph/tensor';
import { activationFunction } from '../activations/registry';
import type { SplitModel, Stage } from './stages';
import { evaluateStages, finalOutput } from './stage-graph';
import { multiplyFactors } from './product';
import { applyRows } from './rowwise';
import { applyStepStage, isStepStage } from './step-stages';
import { applyAffine } from './affine-apply';

/** One sample's flattened vector through one stage. */
export function applyStage(s: Stage, x: Float64Array): Float64Array {
  if (s.kind === 'activation') return x.map(activationFunction(s));
  if (isStepStage(s)) return applyStepStage(s, x);
  if (s.kind === 'product') return multiplyFactors(s, x);
  if (s.kind === 'rowwise') return applyRows(s.fn, s.rowLength, x);
  if (x.length !== s.inSize) fail('BAD_DATA', `the chain expects ${s.inSize} values, got ${x.length}`);
  return applyAffine(s, x);
}

/** One sample's flattened vector through the body (a chain or a DAG). */
export function applyStages(stages: readonly Stage[], input: Float64Array): Float64Array {
  return finalOutput(evaluateStages(stages, input, (s, x) => applyStage(s, x)), input);
}

function subgraph(split: SplitModel, name: string, input: ValueInfo, nodes: readonly Node[], outputs: readonly ValueInfo[]): Graph {
  return {
    name,
    irVersion: 8,
    producer: 'deeppowers split',
    opsets: split.opsets,
    inputs: [input],
    outputs,
    initializers: split.constants,
    nodes,
    valueTypes: new Map(),
  };
}

function tensorInfo(name: string, dtype: DType, sample: readonly number[]): ValueInfo {
  return { name, type: { kind: 'tensor', dtype, shape: [null, ...sample] } };
}

/** The client's step before encryption: the batch input → one body-input vector per row. */
export function runPrologue(split: SplitModel, input: NumericTensor): Float64Array[] {
  let x: Value = input;
  if (split.prologue.length > 0) {
    const g = subgraph(split, 'prologue', tensorInfo(split.inputName, split.inputDType, split.inputShape), split.prologue, [
      { name: split.bodyInput, type: { kind: 'tensor', dtype: 'float32', shape: null } },
    ]);
    x = runGraph(g, new Map([[split.inputName, input]]), [split.bodyInput]).get(split.bodyInput)!;
  }
  if (x.kind !== 'numeric') fail('BAD_GRAPH', `the body input "${split.bodyInput}" is not a numeric tensor`);
  const rows = x.shape[0] ?? 0;
  const width = rows === 0 ? 0 : x.data.length / rows;
  return Array.from({ length: rows }, (_v, r) => x.data.slice(r * width, (r + 1) * width));
}

/** The client's step after decryption: body outputs (one vector per row) → the graph outputs. */
export function runEpilogue(split: SplitModel, rows: readonly Float64Array[]): Map<string, Value> {
  const width = sizeOf(split.bodyOutputShape);
  const data = new Float64Array(rows.length * width);
  rows.forEach((r, i) => {
    if (r.length !== width) fail('BAD_DATA', `body output row ${i} has ${r.length} values, expected ${width}`);
    data.set(r, i * width);
  });
  const tensor = numeric(split.bodyOutputDType === 'string' ? 'float32' : split.bodyOutputDType, [rows.length, ...split.bodyOutputShape], data);
  const g = subgraph(split, 'epilogue', tensorInfo(split.bodyOutput, tensor.dtype, split.bodyOutputShape), split.epilogue, split.outputs);
  return runGraph(g, new Map([[split.bodyOutput, tensor]]));
}

/** The body on every row: what the server computes (here exactly, in float64). */
export function runBody(split: SplitModel, rows: readonly Float64Array[]): Float64Array[] {
  return rows.map((r) => applyStages(split.body, r));
}

/** prologue → body → epilogue, in the clear. */
export function runSplit(split: SplitModel, input: NumericTensor): Map<string, Value> {
  return runEpilogue(split, runBody(split, runPrologue(split, input)));
}
