/**
 * exp(x − offset) on a calibrated range of x, as the server evaluates it under CKKS: the
 * registry's `exp` fitted (fit.ts, Chebyshev interpolation) on [lo − offset, hi − offset] at the
 * smallest degree 2^k − 1 whose grid-measured error meets the target. Softmax subtracts the
 * calibrated maximum as the offset, so the values stay in (0, ~1] and the fit is smooth and low
 * degree; the subtraction itself costs nothing (it is folded into the map x → t).
 *
 * A constant factor `scale` on the result is folded into the coefficients: it rides on the
 * plaintext products the last step of the evaluation spends anyway (softmax uses it to hand
 * the row sum to 1/x already mapped to [−1, 1]).
 */
import { fitActivation } from './fit';
import { evaluateChebyshev, polyCost } from './evaluate';
import type { Range } from './chebyshev';
import { unitVariable } from './newton';
import type { PolyBuilder } from './poly-builder';

export interface ExpPlan {
  /** x's range (calibrated, with its margin). */
  readonly range: Range;
  /** Subtracted from x before exp. */
  readonly offset: number;
  /** exp(x − offset) as coefficients of T_0..T_d in t = (2x − lo − hi)/(hi − lo). */
  readonly chebyshev: Float64Array;
  readonly degree: number;
  /** max |p(x) − exp(x − offset)| on the fit's error grid of the range. */
  readonly maxError: number;
  /** Levels from x: the map to t (one) and the polynomial's depth. */
  readonly depth: number;
}

export interface ExpTarget {
  /** Largest |p − exp| allowed on the range; exclusive with degree. */
  readonly maxError?: number;
  readonly degree?: number;
}

export function planExp(range: Range, offset: number, target: ExpTarget): ExpPlan {
  const fit = fitActivation({ fn: 'exp', range: [range[0] - offset, range[1] - offset], ...target });
  return { range, offset, chebyshev: fit.chebyshev, degree: fit.degree, maxError: fit.maxError, depth: 1 + polyCost(fit.chebyshev).depth };
}

/** scale · exp(x − offset), approximately (|error| ≤ scale · maxError on the range). */
export function evaluateExp<T>(pb: PolyBuilder<T>, x: T, plan: ExpPlan, scale = 1): T {
  return evaluateChebyshev(pb, unitVariable(pb, x, plan.range), plan.chebyshev.map((c) => c * scale));
}
