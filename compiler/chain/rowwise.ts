/**
 * Functions of a whole row of values rather than of one value: Softmax and LayerNorm (without its
 * scale and shift, which are an affine map after it). The body holds them as row-wise stages over
 * contiguous rows of `rowLength` values (the passes gather rows together first when the axis is
 * not the last). Their float64 meaning is written here once: the exact chain, calibration and the
 * statistics all evaluate them through `applyRowwise`.
 */
import { fail } from '../errors';

export type RowFunction =
  /** y_i = exp(x_i) / Σ_j exp(x_j) over the row. */
  | { readonly kind: 'softmax' }
  /** y_i = (x_i − mean) / √(var + ε), var the biased variance over the row. */
  | { readonly kind: 'layernorm'; readonly epsilon: number };

export type RowFunctionKind = RowFunction['kind'];

/**
 * What part of a row-wise function a server-side stage evaluates: all of it; a Softmax's exps
 * alone (each value's exp, scaled for the first division: approx/softmax.ts); or one round of its
 * plan, reading the part before it — a Softmax's division rounds (SoftmaxPlan.rounds: a coarse
 * division by the row sums, a squaring round of a plan by powers, the final exact division), a
 * LayerNorm's prescale (round 0) and normalisation (round 1) when its plan has a prescale
 * (LayerNormPlan.prescale). Stages of their own, so that a refresh can cut between them: all
 * together are deeper than one segment holds at N = 16384.
 */
export type RowPart = 'whole' | 'exps' | { readonly round: number };

/** A function over rows, for reports: `softmax`, `layernorm(ε=1e-5)`. */
export function rowFunctionLabel(fn: RowFunction): string {
  switch (fn.kind) {
    case 'softmax':
      return 'softmax';
    case 'layernorm':
      return `layernorm(ε=${fn.epsilon})`;
  }
}

/** `fn` on each row of `rowLength` consecutive values of `x`. */
export function applyRows(fn: RowFunction, rowLength: number, x: Float64Array): Float64Array {
  if (rowLength < 1 || x.length % rowLength !== 0) fail('BAD_DATA', `${x.length} values do not split into rows of ${rowLength}`);
  const y = new Float64Array(x.length);
  for (let start = 0; start < x.length; start += rowLength) {
    const row = x.subarray(start, start + rowLength);
    const out = y.subarray(start, start + rowLength);
    switch (fn.kind) {
      case 'softmax': {
        let max = -Infinity;
        for (const v of row) max = Math.max(max, v);
        let sum = 0;
        row.forEach((v, i) => (sum += out[i] = Math.exp(v - max)));
        for (let i = 0; i < rowLength; i++) out[i]! /= sum;
        break;
      }
      case 'layernorm': {
        let mean = 0;
        for (const v of row) mean += v / rowLength;
        let variance = 0;
        for (const v of row) variance += (v - mean) ** 2 / rowLength;
        const inv = 1 / Math.sqrt(variance + fn.epsilon);
        row.forEach((v, i) => (out[i] = (v - mean) * inv));
        break;
      }
    }
  }
  return y;
}

/**
 * What calibration records about one row, beyond the range of its values: for Softmax, log Σ exp
 * of the row (its sums relative to any offset c are exp(lse − c)); for LayerNorm, the biased
 * variance (the input of 1/√(var + ε)).
 */
export function rowStatistic(fn: RowFunction, row: Float64Array): number {
  switch (fn.kind) {
    case 'softmax': {
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      return max + Math.log(sum);
    }
    case 'layernorm': {
      let mean = 0;
      for (const v of row) mean += v / row.length;
      let variance = 0;
      for (const v of row) variance += (v - mean) ** 2 / row.length;
      return variance;
    }
  }
}
