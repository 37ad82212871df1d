import { fail } from '../compiler/errors';
import type { Value } from '../compiler/graph/tensor';

/**
 * The per-row output contract shared by every prediction mode (reference, simulate, fhe):
 * each ONNX graph output becomes an array with one entry per input row.
 *  - a label (a per-row scalar: output shape [N] or [N, 1]) → a number or a string;
 *  - any other tensor → the row's slice as a (nested) array;
 *  - ZipMap's sequence of maps → an object {label: probability}.
 * float32 values are printed as the float32 number they are (Math.fround), float64 at full
 * precision; NaN and ±Infinity have no JSON form and print as null.
 */
export type NestedNumbers = number | null | string | NestedNumbers[];
export type OutputEntry = number | string | null | NestedNumbers[] | { [label: string]: number };
export type RowOutputs = Record<string, OutputEntry[]>;

export function rowOutputs(values: ReadonlyMap<string, Value>, names: readonly string[], rows: number): RowOutputs {
  const out: RowOutputs = {};
  for (const name of names) {
    const v = values.get(name);
    if (!v) fail('BAD_GRAPH', `output "${name}" was not computed`);
    out[name] = entriesOf(name, v, rows);
  }
  return out;
}

/** Append the outputs of a later chunk of rows (models with a fixed batch size run in chunks). */
export function appendRowOutputs(into: RowOutputs, more: RowOutputs): RowOutputs {
  for (const [name, entries] of Object.entries(more)) {
    const list = (into[name] ??= []);
    // One push per entry: spreading a chunk of a large file into push() overflows the call stack.
    for (const e of entries) list.push(e);
  }
  return into;
}

/** The row outputs of the rows that ran, spread back over all `rows` given: a refused row's entries are null. */
export function outputsForAllRows(outputs: RowOutputs, names: readonly string[], kept: readonly number[], rows: number): RowOutputs {
  if (kept.length === rows) return outputs;
  const out: RowOutputs = {};
  for (const name of names) {
    const entries: OutputEntry[] = Array.from({ length: rows }, () => null);
    kept.forEach((i, k) => (entries[i] = outputs[name]![k]!));
    out[name] = entries;
  }
  return out;
}

function entriesOf(name: string, v: Value, rows: number): OutputEntry[] {
  if (v.kind === 'sequence-of-maps') {
    if (v.maps.length !== rows) fail('BAD_GRAPH', `output "${name}" has ${v.maps.length} maps for ${rows} rows`);
    // ZipMap's values are tensor(float) by the ONNX spec, so they print as float32 numbers too.
    return v.maps.map((m) => {
      const o: Record<string, number> = {};
      for (const [label, p] of m) o[String(label)] = Math.fround(p);
      return o;
    });
  }
  if (v.shape.length === 0 || v.shape[0] !== rows) {
    fail('BAD_GRAPH', `output "${name}" has shape [${v.shape.join(', ')}], which does not start with the ${rows} rows given, so it cannot be split per row`);
  }
  const rest = v.shape.slice(1);
  const perRow = rest.reduce((a, b) => a * b, 1);
  const scalar = rest.length === 0 || (rest.length === 1 && rest[0] === 1);
  const cell =
    v.kind === 'string'
      ? (i: number): NestedNumbers => v.data[i]!
      : v.dtype === 'float32'
        ? (i: number): NestedNumbers => finite(Math.fround(v.data[i]!))
        : (i: number): NestedNumbers => finite(v.data[i]!);
  const entries: OutputEntry[] = [];
  for (let r = 0; r < rows; r++) {
    const base = r * perRow;
    entries.push(scalar ? (cell(base) as number | string | null) : nest(rest, base, cell));
  }
  return entries;
}

function nest(shape: readonly number[], base: number, cell: (i: number) => NestedNumbers): NestedNumbers[] {
  const [n, ...inner] = shape;
  const stride = inner.reduce((a, b) => a * b, 1);
  const out: NestedNumbers[] = [];
  for (let i = 0; i < n!; i++) out.push(inner.length === 0 ? cell(base + i) : nest(inner, base + i * stride, cell));
  return out;
}

function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}
