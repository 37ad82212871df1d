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

/** y = W·x + b by the definition, a row at a time: the reference the lowered circuits are checked against. */
export function affineByHand(s: AffineStage, x: Float64Array): Float64Array {
  const y = Float64Array.from(s.bias);
  for (let i = 0; i < s.outSize; i++) for (let j = 0; j < s.inSize; j++) y[i]! += s.weights[i * s.inSize + j]! * x[j]!;
  return y;
}
