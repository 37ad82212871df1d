import type { AffineStage } from '../../compiler/chain/stages';

/**
 * The one affine-stage builder of the tests: weight (row, column, flat index) and bias (row) are
 * called in row-major order, weights first, so a seeded source gives the same stage every time.
 */
export function affineStage(
  outSize: number,
  inSize: number,
  weight: (row: number, col: number, index: number) => number,
  bias: (row: number) => number,
  sources: readonly string[] = ['fc'],
): AffineStage {
  const weights = Float64Array.from({ length: outSize * inSize }, (_, k) => weight(Math.floor(k / inSize), k % inSize, k));
  return { kind: 'affine', sources, inSize, outSize, weights, bias: Float64Array.from({ length: outSize }, (_, i) => bias(i)) };
}
