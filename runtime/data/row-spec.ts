import { fail } from '../../compiler/errors';
import type { Graph } from '../../compiler/graph/graph';
import type { DType } from '../../compiler/graph/tensor';

/** What one row of a data file must look like to feed a model's input. */
export interface RowSpec {
  readonly inputName: string;
  readonly dtype: Exclude<DType, 'string'>;
  /** The input's shape without its leading batch dimension. */
  readonly rowShape: readonly number[];
  /** A fixed leading dimension (e.g. a model exported with batch size 1); null when symbolic. */
  readonly fixedBatch: number | null;
}

export function rowCount(spec: Pick<RowSpec, 'rowShape'>): number {
  return spec.rowShape.reduce((a, b) => a * b, 1);
}

export function formatShape(shape: readonly (number | string | null)[]): string {
  return `[${shape.map((d) => d ?? '?').join(', ')}]`;
}

/**
 * The row layout of a model with one numeric tensor input whose first dimension is the batch.
 * Everything else is refused with a message saying why, before any data is read.
 */
export function rowSpecOf(graph: Pick<Graph, 'inputs'>): RowSpec {
  if (graph.inputs.length !== 1) {
    fail('BAD_ARGUMENT', `the model has ${graph.inputs.length} inputs (${graph.inputs.map((i) => i.name).join(', ')}); predict reads data files for single-input models only`);
  }
  const input = graph.inputs[0]!;
  const t = input.type;
  if (t.kind !== 'tensor') fail('BAD_ARGUMENT', `model input ${input.name} is not a tensor`);
  if (t.dtype === 'string') fail('BAD_ARGUMENT', `model input ${input.name} holds strings; data files give numbers only`);
  if (t.shape === null || t.shape.length === 0) {
    fail('BAD_ARGUMENT', `model input ${input.name} has no declared shape with a batch dimension; cannot map data rows onto it`);
  }
  const [batch, ...rest] = t.shape;
  const rowShape = rest.map((d, i) => {
    if (typeof d !== 'number') {
      fail('BAD_ARGUMENT', `model input ${input.name} has shape ${formatShape(t.shape!)}: dimension ${i + 1} is not fixed, so a row's layout is unknown`);
    }
    return d;
  });
  return { inputName: input.name, dtype: t.dtype, rowShape, fixedBatch: typeof batch === 'number' ? batch : null };
}
