import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeepPowersError } from '../../compiler/errors';
import { batchTensor, loadRows, parseRows } from '../../runtime/data/load-rows';
import { rowSpecOf, type RowSpec } from '../../runtime/data/row-spec';

const flat3: RowSpec = { inputName: 'x', dtype: 'float32', rowShape: [3], fixedBatch: null };
const image: RowSpec = { inputName: 'img', dtype: 'float64', rowShape: [1, 2, 2], fixedBatch: null };

function badData(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(DeepPowersError);
    expect((e as DeepPowersError).code).toBe('BAD_DATA');
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected a BAD_DATA error');
}

describe('JSON rows', () => {
  it('reads an array of flat rows', () => {
    const b = parseRows('[[1,2,3],[4,5,6.5]]', 'd.json', flat3);
    expect(b.rows).toBe(2);
    expect([...b.values]).toEqual([1, 2, 3, 4, 5, 6.5]);
  });

  it('reads rows under "rows", "test_inputs" or "inputs" and ignores other keys', () => {
    for (const key of ['rows', 'test_inputs', 'inputs']) {
      const b = parseRows(JSON.stringify({ labels: [0], [key]: [[7, 8, 9]] }), 'd.json', flat3);
      expect([...b.values]).toEqual([7, 8, 9]);
    }
    expect(badData(() => parseRows('{"rows":[[1,2,3]],"inputs":[[1,2,3]]}', 'd.json', flat3))).toMatch(/exactly one of/);
    expect(badData(() => parseRows('{"data":[[1,2,3]]}', 'd.json', flat3))).toMatch(/exactly one of/);
  });

  it('calibration reads the "calibration" member of a fixture-style file, never its test rows', () => {
    const fixture = JSON.stringify({ calibration: [[1, 2, 3]], test_inputs: [[4, 5, 6], [7, 8, 9]], test_labels: [0, 1] });
    const cal = parseRows(fixture, 'd.json', flat3, 'calibration');
    expect([...cal.values]).toEqual([1, 2, 3]);
    expect(cal.member).toBe('calibration');
    // The same file as --data gives its test rows.
    const data = parseRows(fixture, 'd.json', flat3);
    expect([...data.values]).toEqual([4, 5, 6, 7, 8, 9]);
    expect(data.member).toBe('test_inputs');
    expect(parseRows(JSON.stringify({ rows: [[1, 2, 3]] }), 'd.json', flat3, 'calibration').member).toBe('rows');
    expect(parseRows('[[1,2,3]]', 'd.json', flat3, 'calibration').member).toBeUndefined();
    expect(badData(() => parseRows(JSON.stringify({ test_inputs: [[1, 2, 3]] }), 'd.json', flat3, 'calibration'))).toBe(
      'd.json: calibration rows must be a JSON array, or an object with "calibration" or exactly one of "rows", "inputs" (found test_inputs); test rows ("test_inputs") are never used for calibration',
    );
    expect(badData(() => parseRows('{"rows":[[1,2,3]],"inputs":[[1,2,3]]}', 'd.json', flat3, 'calibration'))).toMatch(/\(found rows, inputs\)/);
    expect(badData(() => parseRows('{"calibration":[[1,2]]}', 'd.json', flat3, 'calibration'))).toBe(
      'd.json "calibration": row 1 has 2 values, the model input x expects 3 per row (shape [3])',
    );
  });

  it('accepts rows nested exactly in the per-row shape, or flat', () => {
    const nested = parseRows('[[[[1,2],[3,4]]], [5,6,7,8]]', 'd.json', image);
    expect([...nested.values]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('refuses ragged nesting, naming row and index', () => {
    expect(badData(() => parseRows('[[[[1,2],[3]]]]', 'd.json', image))).toBe(
      'd.json: row 1, index [0, 1] has 1 entries, the model input img expects 2 there (row shape [1, 2, 2], or a flat row of 4)',
    );
    expect(badData(() => parseRows('[[[1,2]]]', 'd.json', image))).toBe(
      'd.json: row 1, index [0, 0] is number 1 where an array of 2 was expected (row shape [1, 2, 2])',
    );
    expect(badData(() => parseRows('[[[1,2],[3,4]]]', 'd.json', image))).toMatch(/row 1 has 2 entries, the model input img expects 1 there/);
  });

  it('names the row and expected width when a row is too short', () => {
    const rows = JSON.stringify([[1, 2, 3], [1, 2, 3], [1, 2]]);
    expect(badData(() => parseRows(rows, 'd.json', flat3))).toBe('d.json: row 3 has 2 values, the model input x expects 3 per row (shape [3])');
  });

  it('refuses non-numeric and non-finite cells with row and column', () => {
    expect(badData(() => parseRows('[[1,"a",3]]', 'd.json', flat3))).toBe('d.json: row 1, column 2 is the string "a", not a number');
    expect(badData(() => parseRows('[[1,2,null]]', 'd.json', flat3))).toMatch(/row 1, column 3 is null/);
    expect(badData(() => parseRows('[[1,2,1e999]]', 'd.json', flat3))).toMatch(/row 1, column 3 is Infinity/);
  });

  it('refuses empty files, empty arrays and invalid JSON', () => {
    expect(badData(() => parseRows('', 'd.json', flat3))).toMatch(/empty/);
    expect(badData(() => parseRows('[]', 'd.json', flat3))).toMatch(/no rows/);
    expect(badData(() => parseRows('[[1,2,3],', 'd.json', flat3))).toMatch(/not valid JSON/);
    expect(badData(() => parseRows('42', 'd.json', flat3))).toMatch(/expected an array of rows/);
  });
});

describe('CSV rows', () => {
  it('reads numeric rows, skipping blank lines and a header', () => {
    const b = parseRows('a,b,c\n1,2,3\n\n 4 , -5e-1 ,.5\r\n', 'd.csv', flat3);
    expect(b.rows).toBe(2);
    expect([...b.values]).toEqual([1, 2, 3, 4, -0.5, 0.5]);
  });

  it('treats an all-numeric first line as data', () => {
    expect(parseRows('1,2,3\n', 'd.csv', flat3).rows).toBe(1);
  });

  it('names line, row and column of a bad cell', () => {
    expect(badData(() => parseRows('a,b,c\n1,2,3\n1,x,3\n', 'd.csv', flat3))).toBe('d.csv line 3 (row 2), column 2 "b": "x" is not a number');
    expect(badData(() => parseRows('1,2,NaN\n', 'd.csv', flat3))).toMatch(/line 1 \(row 1\), column 3 is NaN/);
    expect(badData(() => parseRows('1,2,-Infinity\n', 'd.csv', flat3))).toMatch(/is -Infinity/);
    expect(badData(() => parseRows('1,,3\n', 'd.csv', flat3))).toMatch(/column 2 is empty/);
    expect(badData(() => parseRows('1,0x10,3\n', 'd.csv', flat3))).toMatch(/"0x10" is not a number/);
  });

  it('refuses wrong widths and files without data rows', () => {
    expect(badData(() => parseRows('1,2,3\n1,2,3,4\n', 'd.csv', flat3))).toBe('d.csv line 2: row 2 has 4 values, the model input x expects 3 per row (shape [3])');
    expect(badData(() => parseRows('\n\n', 'd.csv', flat3))).toMatch(/empty/);
    expect(badData(() => parseRows('a,b,c\n', 'd.csv', flat3))).toMatch(/header but no data rows/);
  });

  it('reads semicolon- and tab-separated files, and says what it read when there is no data row', () => {
    const semi = parseRows('a;b;c\n1;2;3\n4.5;-5;6\n', 'd.csv', flat3);
    expect([...semi.values]).toEqual([1, 2, 3, 4.5, -5, 6]);
    expect([...parseRows('a\tb\tc\n1\t2\t3\n', 'd.csv', flat3).values]).toEqual([1, 2, 3]);
    expect(badData(() => parseRows('a;b;c\n1,5;2;3\n', 'd.csv', flat3))).toBe('d.csv line 2 (row 1), column 1 "a": "1,5" has a decimal comma; write numbers with a decimal point (1.5)');
    expect(badData(() => parseRows('a;b;c\n', 'd.csv', flat3))).toBe(
      'd.csv has a header but no data rows (read as semicolon-separated: 3 columns); rows are numbers separated by commas, semicolons or tabs',
    );
    // A comma in the first line makes the file comma-separated: a stray semicolon is then a bad cell.
    expect(badData(() => parseRows('1,2,3\n1;2,3,4\n', 'd.csv', flat3))).toMatch(/"1;2" is not a number/);
  });

  it('sniffs the format when the extension says nothing', () => {
    expect(parseRows('[[1,2,3]]', 'rows.txt', flat3).rows).toBe(1);
    expect(parseRows('1,2,3', 'rows.txt', flat3).rows).toBe(1);
  });
});

describe('files and tensors', () => {
  it('reports an unreadable file as BAD_DATA', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dp-data-'));
    expect(badData(() => loadRows(join(dir, 'missing.csv'), flat3))).toMatch(/cannot read data file .*missing\.csv: no such file/);
    expect(badData(() => loadRows(dir, flat3))).toMatch(/is a directory/);
    writeFileSync(join(dir, 'ok.csv'), '1,2,3\n');
    expect(loadRows(join(dir, 'ok.csv'), flat3).rows).toBe(1);
  });

  it('builds the batch tensor in the declared dtype', () => {
    const b = parseRows('[[0.1,2,3],[4,5,6]]', 'd.json', flat3);
    const t = batchTensor(b, flat3, 1, 1);
    expect(t.shape).toEqual([1, 3]);
    expect(t.dtype).toBe('float32');
    expect([...t.data]).toEqual([4, 5, 6]);
    expect(batchTensor(b, flat3).data[0]).toBe(Math.fround(0.1));
    const ints: RowSpec = { ...flat3, dtype: 'int64' };
    expect(() => batchTensor(b, ints)).toThrow(/row 1, column 1 is 0.1, but the model input x holds int64 integers/);
  });

  it('derives the row layout from the model input, batch dimension first', () => {
    const spec = rowSpecOf({ inputs: [{ name: 'img', type: { kind: 'tensor', dtype: 'float32', shape: ['batch', 1, 8, 8] } }] });
    expect(spec).toEqual({ inputName: 'img', dtype: 'float32', rowShape: [1, 8, 8], fixedBatch: null });
    expect(rowSpecOf({ inputs: [{ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: [1, 4] } }] }).fixedBatch).toBe(1);
    expect(() => rowSpecOf({ inputs: [{ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: [null, 'k'] } }] })).toThrow(/dimension 1 is not fixed/);
    expect(() => rowSpecOf({ inputs: [] })).toThrow(/0 inputs/);
  });
});
