import type { CalibratedInput } from '../../compiler/artifact/views';
import { fail } from '../../compiler/errors';
import type { RowBatch } from './load-rows';

/**
 * Rows far outside the range a model was calibrated on are where encrypted inference goes
 * silently wrong: polynomial activations diverge outside their fitted interval and values
 * overflow the CKKS modulus, so the decrypted answer can differ from the model's with nothing to
 * show it. Each input element may stray `margin` calibrated widths beyond [min, max]; an element
 * that never varied on the calibration rows gets the widest element's width instead (a border
 * pixel that was always 0 is not an error at 1).
 */
export interface AllowedRange {
  readonly lo: Float64Array;
  readonly hi: Float64Array;
}

export function allowedRange({ range, margin }: CalibratedInput): AllowedRange {
  const n = range.min.length;
  const width = (j: number) => range.max[j]! - range.min[j]!;
  let widest = 0;
  for (let j = 0; j < n; j++) widest = Math.max(widest, width(j));
  if (widest === 0) for (let j = 0; j < n; j++) widest = Math.max(widest, Math.abs(range.min[j]!), Math.abs(range.max[j]!), 1);
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const w = width(j) > 0 ? width(j) : widest;
    lo[j] = range.min[j]! - margin * w;
    hi[j] = range.max[j]! + margin * w;
  }
  return { lo, hi };
}

export interface OutOfRange {
  /** 0-based row and element (row-major in the input's per-sample shape). */
  readonly row: number;
  readonly element: number;
  readonly value: number;
}

/** Every value outside the allowed range, in row order. */
export function valuesOutOfRange(calibrated: CalibratedInput, batch: Pick<RowBatch, 'rows' | 'values'>): OutOfRange[] {
  const { lo, hi } = allowedRange(calibrated);
  const n = lo.length;
  const out: OutOfRange[] = [];
  for (let i = 0; i < batch.values.length; i++) {
    const v = batch.values[i]!;
    const j = i % n;
    if (v < lo[j]! || v > hi[j]!) out.push({ row: Math.floor(i / n), element: j, value: v });
  }
  return out;
}

export interface RangeCheck {
  readonly calibrated: CalibratedInput | null;
  /** Names of the input elements when the model has them (flat inputs); otherwise indices in `shape` are used. */
  readonly featureNames: readonly string[] | null;
  readonly shape: readonly number[];
}

/**
 * Refuses the rows when any value lies outside the allowed range, naming the first row and
 * feature; with `allow`, returns a warning (empty when every row is in range) instead.
 */
export function checkRowsInRange(check: RangeCheck, batch: RowBatch, allow: boolean): string[] {
  if (check.calibrated === null) return [];
  const bad = valuesOutOfRange(check.calibrated, batch);
  if (bad.length === 0) return [];
  const first = bad[0]!;
  const { range } = check.calibrated;
  const { lo, hi } = allowedRange(check.calibrated);
  const j = first.element;
  const what =
    `${batch.file === 'rows' ? '' : `${batch.file}: `}row ${first.row + 1}, ${featureName(check, j)} is ${formatNumber(first.value)}, ` +
    `outside the calibrated range [${formatNumber(range.min[j]!)}, ${formatNumber(range.max[j]!)}] by more than the margin (allowed ${formatNumber(lo[j]!)} to ${formatNumber(hi[j]!)})`;
  if (!allow) {
    const more = bad.length > 1 ? `; ${bad.length - 1} more value${bad.length === 2 ? '' : 's'} out of range` : '';
    fail('BAD_DATA', `${what}${more}: the encrypted result for such a row can be silently wrong. Pass --allow-out-of-range to run it anyway`);
  }
  const rows = new Set(bad.map((b) => b.row)).size;
  return [`${bad.length} value${bad.length === 1 ? '' : 's'} in ${rows} row${rows === 1 ? '' : 's'} outside the calibrated range (first: ${what}); the results for those rows may be wrong`];
}

function featureName(check: RangeCheck, j: number): string {
  const name = check.featureNames?.[j];
  if (name !== undefined) return `feature "${name}" (column ${j + 1})`;
  if (check.shape.length <= 1) return `column ${j + 1}`;
  const index: number[] = [];
  let rest = j;
  for (let d = check.shape.length - 1; d >= 0; d--) {
    index.unshift(rest % check.shape[d]!);
    rest = Math.floor(rest / check.shape[d]!);
  }
  return `element [${index.join(', ')}] (value ${j + 1} of the row)`;
}

/** Six significant digits: enough to see how far out a value is. */
function formatNumber(x: number): string {
  return String(Number(x.toPrecision(6)));
}
