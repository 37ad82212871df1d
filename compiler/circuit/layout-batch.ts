import type { AffineStage } from '../chain/stages';
import type { CircuitBuilder } from './builder';
import type { ValueId } from './ir';

/**
 * batch layout: feature-major. Ciphertext j holds feature j of up to N/2 samples (slot s = sample
 * s), so an affine map is y_i = Σ_j W_ij·x_j + b_i with scalar multiplies and additions only: no
 * rotations, one rescale per output. Zero weights cost nothing.
 */
export function lowerBatchAffine(b: CircuitBuilder, xs: readonly ValueId[], stage: AffineStage): ValueId[] {
  const ys: ValueId[] = [];
  for (let i = 0; i < stage.outSize; i++) {
    const products: ValueId[] = [];
    for (let j = 0; j < stage.inSize; j++) {
      const w = stage.weights[i * stage.inSize + j]!;
      if (w !== 0) products.push(b.mulScalar(xs[j]!, w));
    }
    // An all-zero row still needs a ciphertext at the layer's level to carry the bias.
    const y = products.length > 0 ? b.rescale(b.sum(products)) : b.nearZero(xs[0]!);
    ys.push(b.addScalar(y, stage.bias[i]!));
  }
  return ys;
}
