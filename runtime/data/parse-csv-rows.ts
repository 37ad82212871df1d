import { fail } from '../../compiler/errors';

export interface CsvRows {
  readonly rows: number[][];
  /** 1-based line number in the file of each row, for error messages. */
  readonly lines: number[];
  readonly header: readonly string[] | null;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NON_FINITE = /^[+-]?(nan|inf|infinity)$/i;

/** Separators a CSV file may use; the first line decides (see delimiterOf). */
const DELIMITERS = [',', ';', '\t'] as const;
type Delimiter = (typeof DELIMITERS)[number];

/**
 * The separator of the first non-blank line: a comma when it has one, else a semicolon (what
 * spreadsheets in decimal-comma locales write), else a tab, else a comma (one column).
 */
function delimiterOf(lines: readonly string[]): Delimiter {
  const first = lines.find((l) => l.trim() !== '') ?? '';
  return DELIMITERS.find((d) => first.includes(d)) ?? ',';
}

const delimiterName = (d: Delimiter): string => (d === '\t' ? 'tab' : d === ';' ? 'semicolon' : 'comma');

/**
 * Numeric rows separated by commas, semicolons or tabs (one separator per file). The first
 * line is a header when none of its cells is a number (a first data row with one typo must be
 * an error, not silently dropped as a header); blank lines are skipped. Numbers are plain
 * decimals only: hex, decimal commas, empty cells and NaN/Infinity are refused, because each
 * of them has silently wrong meanings elsewhere.
 */
export function parseCsvRows(text: string, file: string): CsvRows {
  const rows: number[][] = [];
  const lines: number[] = [];
  let header: string[] | null = null;
  const all = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const delimiter = delimiterOf(all);
  for (let i = 0; i < all.length; i++) {
    const line = all[i]!;
    if (line.trim() === '') continue;
    const cells = line.split(delimiter).map((c) => c.trim());
    if (rows.length === 0 && header === null && cells.every((c) => c !== '' && !DECIMAL.test(c) && !NON_FINITE.test(c))) {
      header = cells;
      continue;
    }
    const where = `${file} line ${i + 1} (row ${rows.length + 1})`;
    rows.push(cells.map((c, j) => parseCell(c, `${where}, column ${j + 1}${header?.[j] ? ` "${header[j]}"` : ''}`, delimiter)));
    lines.push(i + 1);
  }
  if (rows.length === 0) {
    const seen = header ? ` (read as ${delimiterName(delimiter)}-separated: ${header.length} column${header.length === 1 ? '' : 's'})` : '';
    fail('BAD_DATA', header ? `${file} has a header but no data rows${seen}; rows are numbers separated by commas, semicolons or tabs` : `${file} is empty: no data rows`);
  }
  return { rows, lines, header };
}

function parseCell(cell: string, where: string, delimiter: Delimiter): number {
  if (cell === '') fail('BAD_DATA', `${where} is empty`);
  if (NON_FINITE.test(cell)) fail('BAD_DATA', `${where} is ${cell}; only finite numbers are accepted`);
  if (delimiter !== ',' && cell.includes(',') && DECIMAL.test(cell.replace(',', '.'))) {
    fail('BAD_DATA', `${where}: "${clip(cell)}" has a decimal comma; write numbers with a decimal point (${cell.replace(',', '.')})`);
  }
  if (!DECIMAL.test(cell)) fail('BAD_DATA', `${where}: "${clip(cell)}" is not a number`);
  const v = Number(cell);
  if (!Number.isFinite(v)) fail('BAD_DATA', `${where}: ${clip(cell)} overflows to ${v}; only finite numbers are accepted`);
  return v;
}

export function clip(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
