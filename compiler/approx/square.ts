/**
 * The square activation (CryptoNets, LoLa, TenSEAL): one ct×ct multiply instead of a
 * polynomial. Post-training, a bare x² does not track ReLU, so the fitter uses the best
 * quadratic on the calibrated range (minimax); for ReLU on [−B, B] that is
 * x²/(2B) + x/2 + B/16, max error B/16.
 */

/** p(t) = sign·(scale·t + shift)² + offset: a quadratic written as a single square. */
export interface SquareForm {
  readonly sign: 1 | -1;
  readonly scale: number;
  readonly shift: number;
  readonly offset: number;
}

/**
 * Rewrites c_0 + c_1 T_1(t) + c_2 T_2(t) as one square. The generic evaluator spends depth 2 on
 * a quadratic (the square, then its non-integer scalar); a lowering that folds `scale` and
 * `shift` into the preceding affine map evaluates this form at depth 1. Null when c_2 = 0.
 */
export function squareForm(chebyshev: ArrayLike<number>): SquareForm | null {
  if (chebyshev.length > 3) {
    for (let k = 3; k < chebyshev.length; k++) if (chebyshev[k] !== 0) return null;
  }
  const c0 = chebyshev[0] ?? 0;
  const c1 = chebyshev[1] ?? 0;
  const c2 = chebyshev[2] ?? 0;
  // T_2 = 2t² − 1, so p = a t² + b t + c.
  const a = 2 * c2;
  const b = c1;
  const c = c0 - c2;
  if (a === 0) return null;
  const scale = Math.sqrt(Math.abs(a));
  return {
    sign: a > 0 ? 1 : -1,
    scale,
    shift: b / (2 * a) * scale,
    offset: c - (b * b) / (4 * a),
  };
}
