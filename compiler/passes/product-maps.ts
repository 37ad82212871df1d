/**
 * A product of two encrypted values as the body holds it: which value of each factor every
 * product takes (a product stage picks them, at no cost), and a sum over the contracted axis.
 *  - MatMul a [… M, K] · b [… K, N] (leading axes broadcast): the product has … × M × N × K
 *    values, a[…, m, k]·b[…, k, n] at (…, m, n, k); the sum adds the K of each (…, m, n).
 *    Attention's Q·Kᵀ and A·V are this.
 *  - Mul a ⊙ b (numpy broadcasting): one value per output element, and no sum.
 *  - Pow(a, 2): a ⊙ a.
 * All shapes are per sample (the batch axis removed); the sum is an affine map that composes
 * with what follows, so a product costs one level of its own.
 */
import { sizeOf } from '../graph/tensor';
import { LocalMapBuilder, type LocalMap } from './affine-map';
import { broadcastPair, broadcastSource } from './affine-rule';

export interface ProductMaps {
  /** Per product, the flat index of its factor in a and in b. */
  readonly left: Int32Array;
  readonly right: Int32Array;
  /** P: the number of slot-wise products. */
  readonly size: number;
  /** The sum that makes the output from the products: [output size × P]. */
  readonly sum: LocalMap;
  /** Per-sample shape of the output. */
  readonly shape: readonly number[];
}

/** The maps of a ⊙ b, or why the shapes do not broadcast. */
export function elementwiseProduct(a: readonly number[], b: readonly number[]): ProductMaps | { readonly refused: string } {
  const shape = broadcastPair(a, b);
  if (!shape) return { refused: `a product of per-sample shapes [${a.join(', ')}] and [${b.join(', ')}], which do not broadcast` };
  const size = sizeOf(shape);
  return { left: broadcastSource(a, shape), right: broadcastSource(b, shape), size, sum: identity(size), shape };
}

/** The maps of the matrix product a·b over the last two axes, or why it is not one the body holds. */
export function matrixProduct(a: readonly number[], b: readonly number[]): ProductMaps | { readonly refused: string } {
  if (a.length < 2 || b.length < 2) return { refused: `a matrix product of per-sample shapes [${a.join(', ')}] and [${b.join(', ')}] (both need two axes per sample)` };
  const [m, k] = a.slice(-2) as [number, number];
  const [kb, n] = b.slice(-2) as [number, number];
  if (k !== kb) return { refused: `a matrix product whose inner dimensions differ (${k} and ${kb})` };
  const lead = broadcastPair(a.slice(0, -2), b.slice(0, -2));
  if (!lead) return { refused: `a matrix product whose leading axes [${a.slice(0, -2).join(', ')}] and [${b.slice(0, -2).join(', ')}] do not broadcast` };
  const outer = sizeOf(lead);
  const aLead = broadcastSource(a.slice(0, -2), lead);
  const bLead = broadcastSource(b.slice(0, -2), lead);
  const size = outer * m * n * k;
  const left = new Int32Array(size);
  const right = new Int32Array(size);
  const sum = new LocalMapBuilder(outer * m * n, [size]);
  let p = 0;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        for (let c = 0; c < k; c++) {
          left[p] = (aLead[o]! * m + i) * k + c;
          right[p] = (bLead[o]! * k + c) * n + j;
          sum.add((o * m + i) * n + j, p, 1);
          p++;
        }
      }
    }
  }
  return { left, right, size, sum: sum.build(), shape: [...lead, m, n] };
}

function identity(size: number): LocalMap {
  const builder = new LocalMapBuilder(size, [size]);
  for (let i = 0; i < size; i++) builder.add(i, i, 1);
  return builder.build();
}
