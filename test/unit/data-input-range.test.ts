import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCompiledModel } from '../../compiler/artifact/files';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { predictPath } from '../../runtime/cli/predict';
import { allowedRange, checkRowsInRange, valuesOutOfRange } from '../../runtime/data/input-range';
import { parseRows } from '../../runtime/data/load-rows';
import { inputTensor, loadFixture } from '../helpers/fixtures';

/** Rows far outside the calibrated input range are refused (or, when allowed, warned about) before they are run. */

const calibrated = { range: { min: [0, -1, 5], max: [2, 1, 5] }, margin: 1.5 };
const spec = { inputName: 'x', dtype: 'float64' as const, rowShape: [3], fixedBatch: null };

describe('allowed input range', () => {
  it('widens [min, max] by margin × width; a feature that never varied gets the widest width', () => {
    const { lo, hi } = allowedRange(calibrated);
    // widths 2, 2, 0 → the third uses 2: 0 − 3 … 2 + 3, −1 − 3 … 1 + 3, 5 − 3 … 5 + 3.
    expect([...lo]).toEqual([-3, -4, 2]);
    expect([...hi]).toEqual([5, 4, 8]);
  });

  it('finds every value outside, by row and element', () => {
    const batch = parseRows('[[5,4,8],[5.5,0,1.9],[-3,-4,2]]', 'd.json', spec);
    expect(valuesOutOfRange(calibrated, batch)).toEqual([
      { row: 1, element: 0, value: 5.5 },
      { row: 1, element: 2, value: 1.9 },
    ]);
  });

  it('refuses naming row and feature, or with allow returns one warning', () => {
    const batch = parseRows('[[1,0,5],[1,0,5],[1,90,5]]', 'd.json', spec);
    const check = { calibrated, featureNames: ['a', 'b', 'c'], shape: [3] };
    expect(() => checkRowsInRange(check, batch, false)).toThrow(
      'd.json: row 3, feature "b" (column 2) is 90, outside the calibrated range [-1, 1] by more than the margin (allowed -4 to 4): the encrypted result for such a row can be silently wrong. Pass --allow-out-of-range to run it anyway',
    );
    expect(checkRowsInRange(check, batch, true)).toEqual([expect.stringMatching(/^1 value in 1 row outside the calibrated range \(first: d\.json: row 3, feature "b"/)]);
    expect(checkRowsInRange(check, parseRows('[[1,0,5]]', 'd.json', spec), false)).toEqual([]);
    expect(checkRowsInRange({ ...check, calibrated: null }, batch, false)).toEqual([]);
  });
});

describe('predict on a compiled model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dp-range-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const f = loadFixture('sk_logreg_breast_cancer');

  it('refuses rows ×1000 in simulate mode (whose answer the encrypted run would not match), and runs them with a warning when allowed', async () => {
    const options: CompileOptions = { calibration: inputTensor(f.data, f.data.calibration), layout: 'vector' };
    const compiled = join(dir, 'bc.compiled');
    const model = toCompiledModel(compileModel(f.modelPath, options), options, 'test');
    writeCompiledModel(compiled, model);
    expect(model.calibration.input?.min.length).toBe(30);
    const rows = (f.data.test_inputs as number[][]).slice(0, 3);
    const far = join(dir, 'far.json');
    writeFileSync(far, JSON.stringify(rows.map((r) => r.map((v) => v * 1000))));
    const near = join(dir, 'near.json');
    writeFileSync(near, JSON.stringify(rows));
    await expect(predictPath(compiled, far, 'simulate')).rejects.toThrow(/far\.json: row 1, column 1 is \d+, outside the calibrated range .* Pass --allow-out-of-range/);
    const allowed = await predictPath(compiled, far, 'simulate', { allowOutOfRange: true });
    expect(allowed.warnings).toEqual([expect.stringMatching(/^90 values in 3 rows outside the calibrated range/)]);
    const ok = await predictPath(compiled, near, 'simulate');
    expect(ok.warnings).toBeUndefined();
    expect(ok.outputs.label).toEqual((f.data.expected.label as number[]).slice(0, 3));
  }, 60_000);
});
