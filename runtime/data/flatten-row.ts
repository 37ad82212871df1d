import { fail } from '../../compiler/errors';
import { describe } from './parse-json-rows';
import { formatShape } from './row-spec';

/**
 * One JSON row as a flat list of numbers. A row is either flat (exactly rowSize numbers) or
 * nested exactly in the per-row shape; anything in between is ragged and refused, because
 * guessing a layout would silently transpose or shift features.
 */
export function flattenRow(row: unknown, rowShape: readonly number[], where: string, inputName: string): number[] {
  const size = rowShape.reduce((a, b) => a * b, 1);
  if (!Array.isArray(row)) fail('BAD_DATA', `${where} is ${describe(row)}, not an array of numbers`);
  const flat = row.length > 0 && !Array.isArray(row[0]);
  if (flat || rowShape.length <= 1) {
    if (row.length !== size) {
      const nested = rowShape.length > 1 ? ` or nested as ${formatShape(rowShape)}` : '';
      fail('BAD_DATA', `${where} has ${row.length} values, the model input ${inputName} expects ${size} per row (shape ${formatShape(rowShape)})${nested}`);
    }
    return row.map((v, i) => cell(v, `${where}, column ${i + 1}`));
  }
  const out: number[] = [];
  walk(row, 0, []);
  return out;

  function walk(v: unknown, depth: number, index: number[]): void {
    const at = () => `${where}, index [${index.join(', ')}]`;
    if (depth === rowShape.length) {
      out.push(cell(v, at()));
      return;
    }
    if (!Array.isArray(v)) {
      fail('BAD_DATA', `${index.length === 0 ? where : at()} is ${describe(v)} where an array of ${rowShape[depth]} was expected (row shape ${formatShape(rowShape)})`);
    }
    if (v.length !== rowShape[depth]) {
      fail('BAD_DATA', `${index.length === 0 ? where : at()} has ${v.length} entries, the model input ${inputName} expects ${rowShape[depth]} there (row shape ${formatShape(rowShape)}, or a flat row of ${size})`);
    }
    v.forEach((x, i) => walk(x, depth + 1, [...index, i]));
  }
}

function cell(v: unknown, where: string): number {
  if (typeof v !== 'number') fail('BAD_DATA', `${where} is ${describe(v)}, not a number`);
  if (!Number.isFinite(v)) fail('BAD_DATA', `${where} is ${v}; only finite numbers are accepted`);
  return v;
}
