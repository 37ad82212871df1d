import { describe, expect, test } from 'vitest';
import { clientViewFromJson } from '../../compiler/artifact/views';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { loadFixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';

/**
 * The calibration ranges a served model shows every client (the min and max of the owner's
 * calibration rows, per feature): exactly, rounded outward to powers of two, or not at all
 * (`serve --client-ranges`). The coarse range always contains the exact one, and the view still
 * parses on the client.
 */
const f = loadFixture('sk_logreg_breast_cancer');
const model = compiledFixture(f, { layout: 'vector' });
const exact = model.calibration.input!;
const powerOfTwoOrZero = (v: number) => v === 0 || Number.isInteger(Math.log2(Math.abs(v)));

describe('client view ranges', () => {
  test('exact by default: the calibration min and max as compiled', () => {
    const view = clientViewFromJson(servedModelOf(model, 'bc').description.client_view);
    expect(view.inputRange!.range.min).toEqual(exact.min);
    expect(view.inputRange!.range.max).toEqual(exact.max);
  });

  test('coarse: each bound is 0 or ±2^k, outward of the exact one, within a factor of 2', () => {
    const view = clientViewFromJson(JSON.parse(JSON.stringify(servedModelOf(model, 'bc', 'coarse').description.client_view)));
    const { min, max } = view.inputRange!.range;
    expect(min.length).toBe(exact.min.length);
    min.forEach((lo, j) => {
      const hi = max[j]!;
      expect(powerOfTwoOrZero(lo) && powerOfTwoOrZero(hi), `feature ${j}: [${lo}, ${hi}]`).toBe(true);
      expect(lo).toBeLessThanOrEqual(exact.min[j]!);
      expect(hi).toBeGreaterThanOrEqual(exact.max[j]!);
      if (exact.max[j]! > 0) expect(hi).toBeLessThan(2 * exact.max[j]!);
      if (exact.min[j]! < 0) expect(lo).toBeGreaterThan(2 * exact.min[j]!);
    });
    // Something was hidden: not every bound was already a power of two.
    expect(exact.max.some((v, j) => v !== max[j])).toBe(true);
  });

  test('none: the view carries no ranges', () => {
    const json = servedModelOf(model, 'bc', 'none').description.client_view;
    expect(json).not.toHaveProperty('inputRange');
    expect(clientViewFromJson(json).inputRange).toBeNull();
  });
});
