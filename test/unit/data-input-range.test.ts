import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCompiledModel } from '../../compiler/artifact/files';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { formatPredict, predictPath } from '../../runtime/cli/predict';
import { allowedRange, applyRangePolicy, valuesOutOfRange } from '../../runtime/data/input-range';
import { outputsForAllRows } from '../../runtime/outputs';
import { parseRows } from '../../runtime/data/load-rows';
import { inputTensor, loadFixture } from '../helpers/fixtures';

/** A row far outside the calibrated input range is clamped (the default), refused or run as given, on its own: the other rows always answer. */

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

  const check = { calibrated, featureNames: ['a', 'b', 'c'], shape: [3] };
  const batch = parseRows('[[1,0,5],[1,0,5],[1,90,5],[6,-9,5]]', 'd.json', spec);

  it('clamp: moves each value outside to the allowed edge, runs every row, lists each moved row', () => {
    const d = applyRangePolicy(check, batch, 'clamp');
    expect(d.kept).toEqual([0, 1, 2, 3]);
    // Allowed: a in [-3, 5], b in [-4, 4]; 90 → 4, 6 → 5, −9 → −4; the in-range rows are untouched.
    expect([...d.batch.values]).toEqual([1, 0, 5, 1, 0, 5, 1, 4, 5, 5, -4, 5]);
    expect(d.outOfRange.map((r) => [r.row, r.action, r.values.map((v) => [v.column, v.feature, v.value, v.ran_with])])).toEqual([
      [3, 'clamped', [[2, 'feature "b" (column 2)', 90, 4]]],
      [4, 'clamped', [[1, 'feature "a" (column 1)', 6, 5], [2, 'feature "b" (column 2)', -9, -4]]],
    ]);
    expect(d.outOfRange[0]!.reason).toBe('clamped: feature "b" (column 2) is 90, outside the calibrated range [-1, 1] by more than the margin (allowed -4 to 4); ran with 4');
    expect([...batch.values]).toEqual([1, 0, 5, 1, 0, 5, 1, 90, 5, 6, -9, 5]);
  });

  it('refuse: leaves out only the rows outside, each with its own reason', () => {
    const d = applyRangePolicy(check, batch, 'refuse');
    expect(d.kept).toEqual([0, 1]);
    expect(d.batch.rows).toBe(2);
    expect([...d.batch.values]).toEqual([1, 0, 5, 1, 0, 5]);
    expect(d.outOfRange.map((r) => [r.row, r.action, r.values.map((v) => v.ran_with)])).toEqual([
      [3, 'refused', [null]],
      [4, 'refused', [null, null]],
    ]);
    expect(d.outOfRange[1]!.reason).toMatch(/^refused: feature "a" \(column 1\) is 6, .*; feature "b" \(column 2\) is -9, .*: the encrypted result for such a row can be silently wrong/);
  });

  it('allow: runs every row as given and lists the ones outside; in range or uncalibrated, nothing is listed', () => {
    const d = applyRangePolicy(check, batch, 'allow');
    expect(d.batch).toBe(batch);
    expect(d.outOfRange.map((r) => [r.row, r.action])).toEqual([
      [3, 'allowed'],
      [4, 'allowed'],
    ]);
    expect(applyRangePolicy(check, parseRows('[[1,0,5]]', 'd.json', spec), 'refuse').outOfRange).toEqual([]);
    expect(applyRangePolicy({ ...check, calibrated: null }, batch, 'refuse')).toEqual({ batch, kept: [0, 1, 2, 3], outOfRange: [] });
  });

  it('a refused row\'s outputs are null, the others keep their place', () => {
    expect(outputsForAllRows({ y: [10, 40] }, ['y'], [0, 3], 4)).toEqual({ y: [10, null, null, 40] });
    expect(outputsForAllRows({}, ['y', 'z'], [], 2)).toEqual({ y: [null, null], z: [null, null] });
  });
});

describe('predict on a compiled model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dp-range-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const f = loadFixture('sk_logreg_breast_cancer');

  it('one row far out of range: clamp (the default) answers every row and lists it; refuse answers the others and gives it a reason; allow runs it as given', async () => {
    const options: CompileOptions = { calibration: inputTensor(f.data, f.data.calibration), layout: 'vector' };
    const compiled = join(dir, 'bc.compiled');
    const model = toCompiledModel(compileModel(f.modelPath, options), options, 'test');
    writeCompiledModel(compiled, model);
    expect(model.calibration.input?.min.length).toBe(30);
    const rows = (f.data.test_inputs as number[][]).slice(0, 3);
    const labels = (f.data.expected.label as number[]).slice(0, 3);
    const far = join(dir, 'far.json');
    writeFileSync(far, JSON.stringify([rows[0], rows[1]!.map((v) => v * 1000), rows[2]]));

    const clamped = await predictPath(compiled, far, 'simulate');
    expect(clamped.rows).toBe(3);
    expect([clamped.outputs.label![0], clamped.outputs.label![2]]).toEqual([labels[0], labels[2]]);
    expect(clamped.out_of_range!.map((r) => [r.row, r.action, r.values.length])).toEqual([[2, 'clamped', 30]]);
    // The clamped row's answer is the model's on the clamped values, written out as a row of their own.
    const movedRow = rows[1]!.map((v, j) => clamped.out_of_range![0]!.values.find((x) => x.column === j + 1)?.ran_with ?? v * 1000);
    const asGiven = join(dir, 'moved.json');
    writeFileSync(asGiven, JSON.stringify([movedRow]));
    const direct = await predictPath(compiled, asGiven, 'simulate');
    expect(direct.out_of_range).toEqual([]);
    expect(clamped.outputs.label![1]).toBe(direct.outputs.label![0]);
    expect(formatPredict(clamped)).toMatch(/^2 \(clamped\) +[01] .*\n(?:.*\n)*1 row outside the calibrated input range:\n  row 2: clamped: column 1 is \d+, outside the calibrated range .*; ran with [0-9.]+; column 2 is/m);

    const refused = await predictPath(compiled, far, 'simulate', { outOfRange: 'refuse' });
    expect(refused.outputs.label).toEqual([labels[0], null, labels[2]]);
    expect(refused.out_of_range!.map((r) => [r.row, r.action])).toEqual([[2, 'refused']]);
    expect(refused.out_of_range![0]!.reason).toMatch(/^refused: column 1 is \d+, outside the calibrated range .*; 27 more values out of range: the encrypted result for such a row can be silently wrong/);
    expect(formatPredict(refused)).toMatch(/^2 \(refused\) +– +–$/m);

    const allowed = await predictPath(compiled, far, 'simulate', { outOfRange: 'allow' });
    expect(allowed.out_of_range!.map((r) => [r.row, r.action])).toEqual([[2, 'allowed']]);
    expect(allowed.outputs.label).toHaveLength(3);

    const near = join(dir, 'near.json');
    writeFileSync(near, JSON.stringify(rows));
    const ok = await predictPath(compiled, near, 'simulate');
    expect(ok.out_of_range).toEqual([]);
    expect(ok.outputs.label).toEqual(labels);
    await expect(predictPath(f.modelPath, near, 'reference', { outOfRange: 'refuse' })).rejects.toThrow(/--out-of-range is for compiled models/);
  }, 60_000);
});
