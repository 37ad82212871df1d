import { fail } from '../../compiler/errors';

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NON_FINITE = /^[+-]?(nan|inf|infinity)$/i;

/** Separators a CSV file may use; the first non-blank line decides. */
const DELIMITERS = [',', ';', '\t'] as const;
type Delimiter = (typeof DELIMITERS)[number];

const delimiterName = (d: Delimiter): string => (d === '\t' ? 'tab' : d === ';' ? 'semicolon' : 'comma');

/**
 * Numeric rows separated by commas, semicolons or tabs (one separator per file), read one line
 * at a time so a file of millions of rows never has to exist as one array of rows. The separator
 * is that of the first non-blank line: a comma when it has one, else a semicolon (what
 * spreadsheets in decimal-comma locales write), else a tab, else a comma (one column). The first
 * line is a header when none of its cells is a number (a first data row with one typo must be
 * an error, not silently dropped as a header); blank lines are skipped. Numbers are plain
 * decimals only: hex, decimal commas, empty cells and NaN/Infinity are refused, because each
 * of them has silently wrong meanings elsewhere.
 */
export class CsvRowReader {
  private header: string[] | null = null;
  private delimiter: Delimiter | null = null;
  private rowCount = 0;
  private lineNo = 0;

  constructor(
    private readonly file: string,
    /** Called once per data row with its cells, its 1-based line number and its 0-based row index. */
    private readonly onRow: (row: number[], line: number, rowIndex: number) => void,
  ) {}

  /** The next line of the file, without its line ending. */
  line(raw: string): void {
    this.lineNo++;
    const line = this.lineNo === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (line.trim() === '') return;
    const delimiter = (this.delimiter ??= DELIMITERS.find((d) => line.includes(d)) ?? ',');
    const cells = line.split(delimiter).map((c) => c.trim());
    if (this.rowCount === 0 && this.header === null && cells.every((c) => c !== '' && !DECIMAL.test(c) && !NON_FINITE.test(c))) {
      this.header = cells;
      return;
    }
    const where = `${this.file} line ${this.lineNo} (row ${this.rowCount + 1})`;
    const header = this.header;
    const row = cells.map((c, j) => parseCell(c, `${where}, column ${j + 1}${header?.[j] ? ` "${header[j]}"` : ''}`, delimiter));
    this.onRow(row, this.lineNo, this.rowCount);
    this.rowCount++;
  }

  /** After the last line: a file without data rows is refused. */
  end(): void {
    if (this.rowCount > 0) return;
    const { header } = this;
    if (!header) fail('BAD_DATA', `${this.file} is empty: no data rows`);
    const seen = ` (read as ${delimiterName(this.delimiter ?? ',')}-separated: ${header.length} column${header.length === 1 ? '' : 's'})`;
    fail('BAD_DATA', `${this.file} has a header but no data rows${seen}; rows are numbers separated by commas, semicolons or tabs`);
  }
}

/** Every line of `text` (\n or \r\n endings), without building an array of them. */
export function* linesOf(text: string): Generator<string> {
  let at = 0;
  while (at <= text.length) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    yield text.slice(at, end > at && text.charCodeAt(end - 1) === 13 ? end - 1 : end);
    at = end + 1;
  }
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
