import type { CalibratedInput } from '../../compiler/artifact/views';
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
 * What to do with a row that has a value outside the allowed range; every other row runs as given.
 *  - `clamp` (the default): move each such value to the nearest edge of the allowed range and run
 *    the row; it is listed with the values moved. The answer is the model's for the nearest input
 *    the circuit was built for (Concrete-ML clips into its quantizer's range the same way).
 *  - `refuse`: the row gets no answer (null outputs) but its own reason; the others run.
 *  - `allow`: run the row as given and list it: its encrypted answer can be silently wrong.
 */
export const OUT_OF_RANGE_POLICIES = ['clamp', 'refuse', 'allow'] as const;
export type OutOfRangePolicy = (typeof OUT_OF_RANGE_POLICIES)[number];
export const DEFAULT_OUT_OF_RANGE: OutOfRangePolicy = 'clamp';

/** One value outside the allowed range, as the row's report lists it. */
export interface ValueOutside {
  /** 1-based position in the flattened row, as the messages say "column 41". */
  readonly column: number;
  /** How the messages name it: `feature "age" (column 3)`, `column 41`, `element [0, 3, 4] (value 29 of the row)`. */
  readonly feature: string;
  readonly value: number;
  /** The value the row ran with: the nearest allowed one (clamp), the value itself (allow), null (refuse). */
  readonly ran_with: number | null;
  /** The allowed range (the calibrated range widened by the margin) and the calibrated one. */
  readonly allowed: readonly [number, number];
  readonly calibrated: readonly [number, number];
}

/** A row with at least one value outside the allowed range, and what was done with it. */
export interface RowOutOfRange {
  /** 1-based, as in the messages and the text table. */
  readonly row: number;
  readonly action: 'clamped' | 'refused' | 'allowed';
  readonly values: readonly ValueOutside[];
  /** One line: what was wrong and what was done. */
  readonly reason: string;
}

export interface RangeDecision {
  /** The rows that run, in order: in-range rows as given, clamped rows clamped; refused rows left out. */
  readonly batch: RowBatch;
  /** For each row of `batch`, its 0-based index in the rows given. */
  readonly kept: readonly number[];
  /** Every row that had a value outside, in row order. */
  readonly outOfRange: readonly RowOutOfRange[];
}

/**
 * Applies the policy to each row on its own: no row's values decide another row's fate. A model
 * without a calibrated range (compiled before ranges were recorded) runs every row as given.
 */
export function applyRangePolicy(check: RangeCheck, batch: RowBatch, policy: OutOfRangePolicy): RangeDecision {
  const all = Array.from({ length: batch.rows }, (_, i) => i);
  if (check.calibrated === null) return { batch, kept: all, outOfRange: [] };
  const bad = valuesOutOfRange(check.calibrated, batch);
  if (bad.length === 0) return { batch, kept: all, outOfRange: [] };
  const { lo, hi } = allowedRange(check.calibrated);
  const { range } = check.calibrated;
  const n = lo.length;
  const byRow = new Map<number, OutOfRange[]>();
  for (const b of bad) (byRow.get(b.row) ?? byRow.set(b.row, []).get(b.row)!).push(b);
  const outOfRange: RowOutOfRange[] = [];
  for (const [row, values] of byRow) {
    const listed = values.map((b): ValueOutside => {
      const j = b.element;
      const ranWith = policy === 'clamp' ? Math.min(hi[j]!, Math.max(lo[j]!, b.value)) : policy === 'allow' ? b.value : null;
      return { column: j + 1, feature: featureName(check, j), value: b.value, ran_with: ranWith, allowed: [lo[j]!, hi[j]!], calibrated: [range.min[j]!, range.max[j]!] };
    });
    outOfRange.push({ row: row + 1, action: ACTION[policy], values: listed, reason: describe(listed, policy) });
  }
  if (policy === 'allow') return { batch, kept: all, outOfRange };
  if (policy === 'clamp') {
    const values = batch.values.slice();
    for (const b of bad) values[b.row * n + b.element] = Math.min(hi[b.element]!, Math.max(lo[b.element]!, b.value));
    return { batch: { ...batch, values }, kept: all, outOfRange };
  }
  const kept = all.filter((i) => !byRow.has(i));
  const values = new Float64Array(kept.length * n);
  kept.forEach((i, k) => values.set(batch.values.subarray(i * n, (i + 1) * n), k * n));
  return { batch: { ...batch, rows: kept.length, values }, kept, outOfRange };
}

const ACTION = { clamp: 'clamped', refuse: 'refused', allow: 'allowed' } as const satisfies Record<OutOfRangePolicy, RowOutOfRange['action']>;

function describe(values: readonly ValueOutside[], policy: OutOfRangePolicy): string {
  const one = (v: ValueOutside): string => {
    const where = `${v.feature} is ${formatNumber(v.value)}, outside the calibrated range [${formatNumber(v.calibrated[0])}, ${formatNumber(v.calibrated[1])}] by more than the margin (allowed ${formatNumber(v.allowed[0])} to ${formatNumber(v.allowed[1])})`;
    return policy === 'clamp' ? `${where}; ran with ${formatNumber(v.ran_with!)}` : where;
  };
  const shown = values.slice(0, 3).map(one).join('; ');
  const more = values.length > 3 ? `; ${values.length - 3} more value${values.length === 4 ? '' : 's'} out of range` : '';
  switch (policy) {
    case 'clamp':
      return `clamped: ${shown}${more}`;
    case 'refuse':
      return `refused: ${shown}${more}: the encrypted result for such a row can be silently wrong (--out-of-range clamp runs it clamped into the range)`;
    case 'allow':
      return `run as given: ${shown}${more}: its result may be wrong`;
  }
}

/** The listing under a text table: one line per row outside the range. */
export function formatOutOfRange(rows: readonly RowOutOfRange[]): string {
  if (rows.length === 0) return '';
  const head = `${rows.length} row${rows.length === 1 ? '' : 's'} outside the calibrated input range:\n`;
  return head + rows.map((r) => `  row ${r.row}: ${r.reason}\n`).join('');
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
