import type { Graph } from '../../compiler/graph/graph';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { batchTensor, type RowBatch } from '../data/load-rows';
import type { RowSpec } from '../data/row-spec';
import { fail } from '../../compiler/errors';
import { appendRowOutputs, rowOutputs, type RowOutputs } from './outputs';

/** Rows per interpreter run for a model with a symbolic batch: a large file runs in slices, so intermediates stay small. */
export const ROW_CHUNK = 8192;

/**
 * Rows through the float64 reference interpreter, in the per-row output format. A model
 * exported with a fixed batch size k (torch exports often fix k = 1) runs in chunks of k rows;
 * any other in chunks of ROW_CHUNK rows (rows are independent, so the result is the same).
 */
export function predictReference(graph: Graph, spec: RowSpec, batch: RowBatch): RowOutputs {
  const names = graph.outputs.map((o) => o.name);
  const fixed = spec.fixedBatch;
  if (fixed !== null && (fixed <= 0 || batch.rows % fixed !== 0)) {
    fail('BAD_DATA', `${batch.file}: the model input ${spec.inputName} has a fixed batch size of ${fixed}, and ${batch.rows} rows do not divide into batches of that size`);
  }
  const chunk = fixed ?? ROW_CHUNK;
  let out: RowOutputs = {};
  for (let first = 0; first < batch.rows; first += chunk) {
    const count = Math.min(chunk, batch.rows - first);
    const values = runGraph(graph, new Map([[spec.inputName, batchTensor(batch, spec, first, count)]]));
    out = appendRowOutputs(out, rowOutputs(values, names, count));
  }
  return out;
}
