import { fail } from '../../compiler/errors';

/** What a data file's rows are for; it decides which member of a JSON object holds them. */
export type RowPurpose = 'data' | 'calibration';

/**
 * Keys under which an object may carry its rows. Fixture files hold both calibration rows and
 * test rows, so a calibration file reads `calibration` when there is one and a data file
 * never does: taking the other set silently would fit ranges on test rows or report on
 * training rows.
 */
const ROW_KEYS: Record<RowPurpose, readonly string[]> = {
  data: ['rows', 'test_inputs', 'inputs'],
  calibration: ['rows', 'inputs'],
};

export interface JsonRows {
  readonly rows: unknown[];
  /** The object member that held the rows; null for a top-level array. */
  readonly member: string | null;
}

/**
 * The rows of a JSON data file: a top-level array, or an object with the member that holds
 * them (other keys, e.g. labels, are ignored). Rows are returned unchecked; flattenRow
 * validates each against the model's input shape.
 */
export function parseJsonRows(text: string, file: string, purpose: RowPurpose = 'data'): JsonRows {
  if (text.trim() === '') fail('BAD_DATA', `${file} is empty: no data rows`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail('BAD_DATA', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  let rows: unknown[];
  let member: string | null = null;
  if (Array.isArray(doc)) rows = doc;
  else if (doc !== null && typeof doc === 'object') {
    member = rowMember(doc as Record<string, unknown>, file, purpose);
    const held = (doc as Record<string, unknown>)[member];
    if (!Array.isArray(held)) fail('BAD_DATA', `${file}: "${member}" must be an array of rows`);
    rows = held;
  } else {
    fail('BAD_DATA', `${file}: expected an array of rows or an object with "rows", found ${describe(doc)}`);
  }
  if (rows.length === 0) fail('BAD_DATA', `${file} contains no rows${member ? ` (in "${member}")` : ''}`);
  return { rows, member };
}

function rowMember(doc: Record<string, unknown>, file: string, purpose: RowPurpose): string {
  if (purpose === 'calibration' && 'calibration' in doc) return 'calibration';
  const keys = ROW_KEYS[purpose];
  const present = keys.filter((k) => k in doc);
  if (present.length === 1) return present[0]!;
  const quoted = (ks: readonly string[]) => ks.map((k) => `"${k}"`).join(', ');
  const found = present.length > 1 ? ` (found ${present.join(', ')})` : ` (found ${Object.keys(doc).slice(0, 8).join(', ') || 'no keys'})`;
  switch (purpose) {
    case 'calibration':
      return fail('BAD_DATA', `${file}: calibration rows must be a JSON array, or an object with "calibration" or exactly one of ${quoted(keys)}${found}; test rows ("test_inputs") are never used for calibration`);
    case 'data':
      return fail('BAD_DATA', `${file}: a JSON object must have exactly one of the keys ${quoted(keys)} holding the rows${found}`);
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
