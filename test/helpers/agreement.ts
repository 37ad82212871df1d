/**
 * Agreement of a model's outputs with a fixture's `expected` field, row by row:
 *  - a label output ('exact' in the fixture's compare list): identical labels;
 *  - a per-row vector ('close'): the same argmax;
 *  - a per-row probability of a binary classifier: the same side of 0.5;
 *  - a regression output: within 1% of max(1, |y|) (relative for large targets, absolute near 0).
 * Shared by the compile → simulate tests and test/tools/fhe-precision.ts, so encrypted and simulated
 * runs are judged by the same rule.
 */
import type { Value } from '../../compiler/graph/tensor';
import type { ExpectedEntry, Fixture } from './fixtures';

export const REGRESSION_TOLERANCE = 0.01;

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

function flat(e: ExpectedEntry): number[] {
  return typeof e === 'number' ? [e] : typeof e === 'string' ? [NaN] : e.flatMap(flat);
}

/**
 * Share of rows on which `values` agree with the fixture's expected field. `values` holds the
 * first `rows` test rows (all of them by default).
 */
export function agreement(
  f: Fixture,
  output: string,
  expectedField: string,
  kind: 'exact' | 'close',
  values: ReadonlyMap<string, Value>,
  rows = f.data.expected[expectedField]!.length,
): number {
  const v = values.get(output);
  const expected = f.data.expected[expectedField]!;
  if (!v) throw new Error(`${f.name}: output ${output} missing`);
  let agree = 0;
  if (v.kind === 'sequence-of-maps') {
    // ZipMap probabilities: the most probable class.
    v.maps.slice(0, rows).forEach((m, i) => {
      if (argmax([...m.values()]) === argmax(flat(expected[i]!))) agree++;
    });
    return agree / rows;
  }
  const width = v.data.length / rows;
  for (let i = 0; i < rows; i++) {
    const e = expected[i]!;
    if (kind === 'exact') {
      if (v.data[i] === e) agree++;
      continue;
    }
    const row = Array.from({ length: width }, (_, k) => v.data[i * width + k] as number);
    const want = flat(e);
    if (width > 1) {
      if (argmax(row) === argmax(want)) agree++;
    } else if (f.data.task === 'regression') {
      if (Math.abs(row[0]! - want[0]!) <= REGRESSION_TOLERANCE * Math.max(1, Math.abs(want[0]!))) agree++;
    } else if (row[0]! > 0.5 === want[0]! > 0.5) {
      agree++;
    }
  }
  return agree / rows;
}
