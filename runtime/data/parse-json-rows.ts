import { fail } from '../../compiler/errors';

/** Keys under which an object may carry its rows (fixture files use `test_inputs`). */
const ROW_KEYS = ['rows', 'test_inputs', 'inputs'] as const;

/**
 * The rows of a JSON data file: a top-level array, or an object with exactly one of
 * `rows` / `test_inputs` / `inputs` (other keys, e.g. labels, are ignored). Rows are
 * returned unchecked; flattenRow validates each against the model's input shape.
 */
export function parseJsonRows(text: string, file: string): unknown[] {
  if (text.trim() === '') fail('BAD_DATA', `${file} is empty: no data rows`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail('BAD_DATA', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  let rows: unknown[];
  if (Array.isArray(doc)) rows = doc;
  else if (doc !== null && typeof doc === 'object') {
    const present = ROW_KEYS.filter((k) => k in doc);
    if (present.length !== 1) {
      fail('BAD_DATA', `${file}: a JSON object must have exactly one of the keys ${ROW_KEYS.map((k) => `"${k}"`).join(', ')} holding the rows${present.length > 1 ? ` (found ${present.join(', ')})` : ''}`);
    }
    const held = (doc as Record<string, unknown>)[present[0]!];
    if (!Array.isArray(held)) fail('BAD_DATA', `${file}: "${present[0]}" must be an array of rows`);
    rows = held;
  } else {
    fail('BAD_DATA', `${file}: expected an array of rows or an object with "rows", found ${describe(doc)}`);
  }
  if (rows.length === 0) fail('BAD_DATA', `${file} contains no rows`);
  return rows;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
