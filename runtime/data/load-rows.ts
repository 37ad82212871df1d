import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fail } from '../../compiler/errors';
import { numeric, type NumericTensor } from '../../compiler/graph/tensor';
import { flattenRow } from './flatten-row';
import { parseCsvRows } from './parse-csv-rows';
import { parseJsonRows, type RowPurpose } from './parse-json-rows';
import { formatShape, rowCount, type RowSpec } from './row-spec';

/** Rows read from a data file, flattened and checked against one model input. */
export interface RowBatch {
  readonly file: string;
  /** The JSON object member the rows came from (`calibration`, `test_inputs`, ...); absent for an array or CSV. */
  readonly member?: string;
  readonly rows: number;
  readonly rowShape: readonly number[];
  /** rows × rowSize values, row-major, exactly as written in the file (float64). */
  readonly values: Float64Array;
}

export type DataFormat = 'json' | 'csv';

/** Where a batch's rows came from, for output: `200 rows of data.json ("calibration")`. */
export function describeBatch(batch: { readonly file: string; readonly member?: string | null; readonly rows: number }): string {
  return `${batch.rows} row${batch.rows === 1 ? '' : 's'} of ${batch.file}${batch.member ? ` ("${batch.member}")` : ''}`;
}

/** JSON by extension `.json`, CSV by `.csv`; otherwise sniffed from the first character. */
export function formatOf(file: string, text: string): DataFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.csv') return 'csv';
  return /^\s*[[{]/.test(text) ? 'json' : 'csv';
}

export function loadRows(file: string, spec: RowSpec, purpose: RowPurpose = 'data'): RowBatch {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    fail('BAD_DATA', `cannot read data file ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : (err.code ?? err.message)}`);
  }
  return parseRows(text, file, spec, purpose);
}

export function parseRows(text: string, file: string, spec: RowSpec, purpose: RowPurpose = 'data'): RowBatch {
  const size = rowCount(spec);
  const flatRows: number[][] = [];
  let member: string | null = null;
  if (formatOf(file, text) === 'json') {
    const json = parseJsonRows(text, file, purpose);
    member = json.member;
    const at = (i: number) => `${file}${member ? ` "${member}"` : ''}: row ${i + 1}`;
    json.rows.forEach((row, i) => flatRows.push(flattenRow(row, spec.rowShape, at(i), spec.inputName)));
  } else {
    const csv = parseCsvRows(text, file);
    csv.rows.forEach((row, i) => {
      if (row.length !== size) {
        fail('BAD_DATA', `${file} line ${csv.lines[i]}: row ${i + 1} has ${row.length} values, the model input ${spec.inputName} expects ${size} per row (shape ${formatShape(spec.rowShape)})`);
      }
      flatRows.push(row);
    });
  }
  const values = new Float64Array(flatRows.length * size);
  flatRows.forEach((row, i) => values.set(row, i * size));
  return { file, ...(member !== null ? { member } : {}), rows: flatRows.length, rowShape: spec.rowShape, values };
}

/**
 * The batch as the model's input tensor [rows, ...rowShape], with values rounded to the
 * declared element type the way an ONNX runtime would receive them (float32 inputs are
 * float32 numbers; integer inputs must be integers).
 */
export function batchTensor(batch: RowBatch, spec: RowSpec, first = 0, count = batch.rows): NumericTensor {
  const size = rowCount(spec);
  const slice = batch.values.slice(first * size, (first + count) * size);
  for (let i = 0; i < slice.length; i++) slice[i] = toDType(slice[i]!, spec, batch.file, first + Math.floor(i / size), i % size);
  return numeric(spec.dtype, [count, ...spec.rowShape], slice);
}

function toDType(v: number, spec: RowSpec, file: string, row: number, col: number): number {
  switch (spec.dtype) {
    case 'float32':
      return Math.fround(v);
    case 'float64':
    // Half-precision inputs are left unrounded: no fixture uses them and the reference is float64.
    case 'float16':
    case 'bfloat16':
      return v;
    case 'bool':
      return v !== 0 ? 1 : 0;
    default:
      if (!Number.isInteger(v)) {
        fail('BAD_DATA', `${file}: row ${row + 1}, column ${col + 1} is ${v}, but the model input ${spec.inputName} holds ${spec.dtype} integers`);
      }
      return v;
  }
}
