/**
 * y = W·x + b of an affine stage on one sample, in float64, over the nonzero weights only. A
 * transformer's maps are mostly zeros (the map that sums Q·Kᵀ's products into scores picks 2% of
 * a 7688 × 1922 matrix), and calibration, degree auto, bias correction and the chain statistics
 * run every map on every calibration row: the dense loop was most of their time. Each row's
 * terms are summed in column order, as the dense loop summed them; a skipped term is 0·x_j, which
 * adds nothing to a finite sum (a non-finite x_j that only zero weights read no longer turns
 * their outputs into NaN: it already shows wherever it was made).
 */
import type { AffineStage } from './stages';

/** The nonzero weights row by row: row i's columns and values at [starts[i], starts[i + 1]). */
interface SparseRows {
  readonly starts: Int32Array;
  readonly columns: Int32Array;
  readonly values: Float64Array;
}

// By the weights array: a stage copied with a new bias (bias correction) keeps its weights.
const sparseRows = new WeakMap<Float64Array, SparseRows>();

function rowsOf(s: Pick<AffineStage, 'inSize' | 'outSize' | 'weights'>): SparseRows {
  const known = sparseRows.get(s.weights);
  if (known) return known;
  let count = 0;
  for (let k = 0; k < s.weights.length; k++) if (s.weights[k] !== 0) count++;
  const starts = new Int32Array(s.outSize + 1);
  const columns = new Int32Array(count);
  const values = new Float64Array(count);
  let at = 0;
  for (let i = 0; i < s.outSize; i++) {
    starts[i] = at;
    const base = i * s.inSize;
    for (let j = 0; j < s.inSize; j++) {
      const w = s.weights[base + j]!;
      if (w !== 0) (columns[at] = j), (values[at++] = w);
    }
  }
  starts[s.outSize] = at;
  const made = { starts, columns, values };
  sparseRows.set(s.weights, made);
  return made;
}

/** W·x + b: each row's sum of its terms, then the bias added. */
export function applyAffine(s: Pick<AffineStage, 'inSize' | 'outSize' | 'weights' | 'bias'>, x: ArrayLike<number>): Float64Array {
  const { starts, columns, values } = rowsOf(s);
  const y = Float64Array.from(s.bias);
  for (let i = 0; i < s.outSize; i++) {
    let sum = 0;
    for (let k = starts[i]!; k < starts[i + 1]!; k++) sum += values[k]! * x[columns[k]!]!;
    y[i]! += sum;
  }
  return y;
}

/**
 * W·x + b summed from the bias, with each row's Σ|W_ij·x_j| + |b_i| (the largest partial sum it
 * can reach) handed to `see`: what the chain statistics bound a circuit value by.
 */
export function applyAffineSeeing(s: Pick<AffineStage, 'inSize' | 'outSize' | 'weights' | 'bias'>, x: ArrayLike<number>, see: (magnitude: number) => void): Float64Array {
  const { starts, columns, values } = rowsOf(s);
  const y = new Float64Array(s.outSize);
  for (let i = 0; i < s.outSize; i++) {
    let sum = s.bias[i]!;
    let abs = Math.abs(s.bias[i]!);
    for (let k = starts[i]!; k < starts[i + 1]!; k++) {
      const p = values[k]! * x[columns[k]!]!;
      sum += p;
      abs += Math.abs(p);
    }
    see(abs);
    y[i] = sum;
  }
  return y;
}
