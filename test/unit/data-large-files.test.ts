import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { predictFile } from '../../runtime/app/predict';
import { batchTensor, loadRows, parseRows } from '../../runtime/data/load-rows';
import type { RowSpec } from '../../runtime/data/row-spec';
import { loadFixture } from '../helpers/fixtures';
import { refusalOf } from '../helpers/refusal';

/**
 * Data files far larger than any fixture: rows are read line by line and run in slices, so a
 * file of hundreds of thousands of rows neither overflows the call stack nor changes an answer.
 */

const dir = mkdtempSync(join(tmpdir(), 'dp-large-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const iris = loadFixture('sk_logreg_iris_multinomial');
const flat4: RowSpec = { inputName: 'x', dtype: 'float32', rowShape: [4], fixedBatch: null };

describe('large data files', () => {
  it('predicts a million CSV rows in reference mode, each row the framework label of the row it repeats', () => {
    const rows = iris.data.test_inputs as number[][];
    const labels = iris.data.expected.label as number[];
    const n = 1_000_000;
    const lines: string[] = ['sepal_length,sepal_width,petal_length,petal_width'];
    // CRLF endings on every other line: a line end falling on a read-chunk boundary must not split a row.
    for (let i = 0; i < n; i++) lines.push(rows[i % rows.length]!.join(',') + (i % 2 === 0 ? '\r' : ''));
    const file = join(dir, 'many.csv');
    writeFileSync(file, lines.join('\n'));
    const result = predictFile(iris.modelPath, file, 'reference');
    expect(result.rows).toBe(n);
    const got = result.outputs.output_label!;
    expect(got.length).toBe(n);
    let wrong = 0;
    for (let i = 0; i < n; i++) if (got[i] !== labels[i % rows.length]) wrong++;
    expect(wrong).toBe(0);
    expect(result.outputs.output_probability!.length).toBe(n);
  }, 60_000);

  it('reads a multi-megabyte CSV file with the same values as the whole text parsed at once', () => {
    const lines: string[] = [];
    for (let i = 0; i < 60_000; i++) lines.push(`${i},${i / 7},${-i * 3.25},${(i % 13) * 1e-3}`);
    const text = lines.join('\n');
    const file = join(dir, 'same.csv');
    writeFileSync(file, text);
    const streamed = loadRows(file, flat4);
    const whole = parseRows(text, 'same.csv', flat4);
    expect(streamed.rows).toBe(60_000);
    expect(Buffer.from(streamed.values.buffer).equals(Buffer.from(whole.values.buffer))).toBe(true);
  });

  it('names the line of a bad row deep in a large file', () => {
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) lines.push('1,2,3,4');
    lines[76_543] = '1,2,x,4';
    const file = join(dir, 'bad.csv');
    writeFileSync(file, lines.join('\n'));
    expect(() => loadRows(file, flat4)).toThrow('line 76544 (row 76544), column 3: "x" is not a number');
  });
});

describe('float32 inputs', () => {
  it('refuses a value beyond the float32 range instead of feeding Infinity to the model', () => {
    const batch = parseRows('[[1,2,3,4],[1,1e39,3,4]]', 'd.json', flat4);
    expect(refusalOf(() => batchTensor(batch, flat4)).message).toBe('d.json: row 2, column 2 is 1e+39, beyond the float32 range (±3.4028235e38) of the model input x');
    // The largest float32 itself is a valid input.
    expect(batchTensor(parseRows('[[3.4028234663852886e38,0,0,0]]', 'd.json', flat4), flat4).data[0]).toBe(3.4028234663852886e38);
  });

  it('reference mode on an ONNX file exits with the refusal, not a result', () => {
    const file = join(dir, 'overflow.json');
    writeFileSync(file, JSON.stringify([[5.1, 3.5, 1.4, 0.2], [5.1, -1e39, 1.4, 0.2]]));
    expect(() => predictFile(iris.modelPath, file, 'reference')).toThrow(/row 2, column 2 is -1e\+39, beyond the float32 range/);
  });
});
