import type { Graph } from '../compiler/graph/graph';
import { runGraph } from '../compiler/graph/interpreter';
import { batchTensor, type RowBatch } from './data/load-rows';
import type { RowSpec } from './data/row-spec';
import { fail } from '../compiler/errors';
import { appendRowOutputs, rowOutputs, type RowOutputs } from './outputs';

/**
 * Rows through the float64 reference interpreter, in the per-row output format. A model
 * exported with a fixed batch size k (torch exports often fix k = 1) runs in chunks of k rows.
 */
export function predictReference(graph: Graph, spec: RowSpec, batch: RowBatch): RowOutputs {
  const names = graph.outputs.map((o) => o.name);
  const chunk = spec.fixedBatch ?? batch.rows;
  if (chunk <= 0 || batch.rows % chunk !== 0) {
    fail('BAD_DATA', `${batch.file}: the model input ${spec.inputName} has a fixed batch size of ${chunk}, and ${batch.rows} rows do not divide into batches of that size`);
  }
  let out: RowOutputs = {};
  for (let first = 0; first < batch.rows; first += chunk) {
    const values = runGraph(graph, new Map([[spec.inputName, batchTensor(batch, spec, first, chunk)]]));
    out = appendRowOutputs(out, rowOutputs(values, names, chunk));
  }
  return out;
}
