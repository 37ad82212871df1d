import { closeSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { extname } from 'node:path';
import { fail } from '../../compiler/errors';
import { numeric, type NumericTensor } from '../../compiler/graph/tensor';
import { flattenRow } from './flatten-row';
import { CsvRowReader, linesOf } from './parse-csv-rows';
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

/** Bytes read at a time from a CSV file: lines are parsed as they arrive, never the whole file as one string. */
const READ_CHUNK = 1 << 20;

export function loadRows(file: string, spec: RowSpec, purpose: RowPurpose = 'data'): RowBatch {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    cannotRead(file, e);
  }
  try {
    const buffer = Buffer.alloc(READ_CHUNK);
    const decoder = new StringDecoder('utf8');
    const read = (): number => {
      try {
        return readSync(fd, buffer, 0, READ_CHUNK, null);
      } catch (e) {
        return cannotRead(file, e);
      }
    };
    const first = decoder.write(buffer.subarray(0, read()));
    if (formatOf(file, first) === 'json') {
      // JSON has no row boundaries to stop at: it is read whole (CSV suits very large files).
      let text = first;
      for (let n; (n = read()) > 0; ) text += decoder.write(buffer.subarray(0, n));
      return parseRows(text + decoder.end(), file, spec, purpose);
    }
    const rows = new RowCollector(file, spec);
    const reader = rows.csvReader();
    let pending = first;
    const feed = (text: string, last: boolean): void => {
      pending += text;
      let at = 0;
      for (let nl; (nl = pending.indexOf('\n', at)) >= 0; at = nl + 1) reader.line(stripCr(pending.slice(at, nl)));
      pending = pending.slice(at);
      if (last) reader.line(stripCr(pending));
    };
    feed('', false);
    for (let n; (n = read()) > 0; ) feed(decoder.write(buffer.subarray(0, n)), false);
    feed(decoder.end(), true);
    reader.end();
    return rows.batch(null);
  } finally {
    closeSync(fd);
  }
}

function cannotRead(file: string, e: unknown): never {
  const err = e as NodeJS.ErrnoException;
  return fail('BAD_DATA', `cannot read data file ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : (err.code ?? err.message)}`);
}

export function parseRows(text: string, file: string, spec: RowSpec, purpose: RowPurpose = 'data'): RowBatch {
  const rows = new RowCollector(file, spec);
  if (formatOf(file, text) === 'json') {
    const json = parseJsonRows(text, file, purpose);
    const member = json.member;
    const at = (i: number) => `${file}${member ? ` "${member}"` : ''}: row ${i + 1}`;
    json.rows.forEach((row, i) => rows.add(flattenRow(row, spec.rowShape, at(i), spec.inputName)));
    return rows.batch(member);
  }
  const reader = rows.csvReader();
  for (const line of linesOf(text)) reader.line(line);
  reader.end();
  return rows.batch(null);
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** Flat rows appended into one growing Float64Array: 8 bytes a value, however many rows. */
class RowCollector {
  private values = new Float64Array(1024);
  private count = 0;
  private readonly size: number;

  constructor(
    private readonly file: string,
    private readonly spec: RowSpec,
  ) {
    this.size = rowCount(spec);
  }

  add(row: ArrayLike<number>): void {
    const need = (this.count + 1) * this.size;
    if (need > this.values.length) {
      const grown = new Float64Array(Math.max(need, this.values.length * 2));
      grown.set(this.values);
      this.values = grown;
    }
    this.values.set(row, this.count * this.size);
    this.count++;
  }

  csvReader(): CsvRowReader {
    const { file, spec, size } = this;
    return new CsvRowReader(file, (row, line, index) => {
      if (row.length !== size) {
        fail('BAD_DATA', `${file} line ${line}: row ${index + 1} has ${row.length} values, the model input ${spec.inputName} expects ${size} per row (shape ${formatShape(spec.rowShape)})`);
      }
      this.add(row);
    });
  }

  batch(member: string | null): RowBatch {
    const values = this.values.slice(0, this.count * this.size);
    return { file: this.file, ...(member !== null ? { member } : {}), rows: this.count, rowShape: this.spec.rowShape, values };
  }
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
    case 'float32': {
      // Math.fround turns anything beyond float32's range into ±Infinity, which no model can use.
      const f = Math.fround(v);
      if (!Number.isFinite(f)) {
        fail('BAD_DATA', `${file}: row ${row + 1}, column ${col + 1} is ${v}, beyond the float32 range (±3.4028235e38) of the model input ${spec.inputName}`);
      }
      return f;
    }
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
