/**
 * The approximated chain evaluated in float64 (Clenshaw for polynomials): what the circuit
 * computes, minus CKKS noise. Used for two measurements on data rows: the largest magnitude any
 * intermediate value reaches (which sizes the first prime), and how often a polynomial's input
 * leaves the range it was fitted on (the main accuracy risk at run time).
 */
import { multiplyFactors } from '../chain/product';
import { applyAffineSeeing } from '../chain/affine-apply';
import { applyRowPoly } from './row-plans';
import { applyStepStage, isStepStage } from '../chain/step-stages';
import { clenshaw } from './chebyshev';
import type { ApproxStage } from '../chain/stages';
import { evaluateStages, finalOutput } from '../chain/stage-graph';

export interface PolyExcursion {
  /** Position of the polynomial stage in the chain. */
  readonly stage: number;
  /** Values seen (rows × units). */
  readonly values: number;
  /** Values with |t| > 1, i.e. outside the fitted range. */
  readonly outside: number;
  /** Largest |t| seen (≤ 1 when everything stayed in range). */
  readonly maxAbsT: number;
}

export interface ChainStats {
  /**
   * Bound on the magnitude of every value the circuit holds on these rows: inputs, partial sums of
   * each affine map (Σ|W_ij·x_j| + |b_i|), the normalised polynomial inputs, the polynomials'
   * intermediate sums (2·Σ|c_k| covers the baby-step giant-step split when |t| ≤ 1) and outputs.
   */
  readonly maxAbs: number;
  readonly excursions: readonly PolyExcursion[];
  /** The chain's output per row. */
  readonly outputs: Float64Array[];
}

export function approxChainStats(stages: readonly ApproxStage[], rows: readonly Float64Array[]): ChainStats {
  let maxAbs = 0;
  const see = (v: number): void => {
    const a = Math.abs(v);
    if (!(a <= maxAbs)) maxAbs = a; // NaN poisons the bound, as it should
  };
  const excursions = stages.map((s, stage) => (s.kind === 'poly' ? { stage, values: 0, outside: 0, maxAbsT: 0 } : null));
  const coefficientBounds = stages.map((s) => (s.kind === 'poly' ? 2 * s.chebyshev.reduce((sum, c) => sum + Math.abs(c), 0) : 0));
  const outputs = rows.map((row) => {
    row.forEach(see);
    const all = evaluateStages(stages, row, (s, x, k) => {
      if (s.kind === 'affine') {
        return applyAffineSeeing(s, x, see);
      } else if (s.kind === 'rowpoly') {
        const y = applyRowPoly(s, x);
        y.forEach(see);
        return y;
      } else if (s.kind === 'product') {
        const y = multiplyFactors(s, x);
        y.forEach(see);
        return y;
      } else if (isStepStage(s)) {
        // A client step's outputs are the next segment's inputs (a max makes nothing larger than its inputs).
        const y = applyStepStage(s, x);
        y.forEach(see);
        return y;
      } else {
        const e = excursions[k]!;
        see(coefficientBounds[k]!);
        return x.map((t) => {
          const a = Math.abs(t);
          e.values++;
          if (a > 1) e.outside++;
          if (!(a <= e.maxAbsT)) e.maxAbsT = a;
          const y = clenshaw(s.chebyshev, t);
          see(y);
          return y;
        });
      }
    });
    return finalOutput(all, row);
  });
  return { maxAbs, excursions: excursions.filter((e) => e !== null), outputs };
}
