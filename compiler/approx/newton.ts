/**
 * 1/x and 1/√x on a calibrated range [lo, hi] (0 < lo < hi), as the server evaluates them under
 * CKKS: a Chebyshev interpolant y₀ on the range, refined by Newton steps
 *   1/x:   y ← 2y − (x·y)·y             residual e = 1 − x·y   becomes e²
 *   1/√x:  y ← 1.5·y − ((x/2)·y)·y²     residual e = 1 − x·y²  becomes e²(3 + e)/4
 * Each step costs two levels (the 1.5·y and the x/2 ride beside the products), two or three
 * ct×ct products. The plan is built once from the range and an error target; `evaluateNewton`
 * runs it through any PolyBuilder, so the same code is the float64 semantics (numberBuilder,
 * vectorBuilder) and the circuit (CircuitPolyBuilder, compiler/circuit/poly-lowering.ts).
 *
 * The error bound: the initial residual E₀ = max |e| is measured on a fine grid of the range
 * (for 1/x it is also 1/|T_{d+1}(t(0))|: x·p(x) − 1 vanishes at the d + 1 nodes); the Newton
 * recursion then bounds every later residual, and the residual bounds the relative error
 * (|x·y − 1| = |e| for 1/x, |√x·y − 1| ≤ 1 − √(1 − E) for 1/√x). The steps converge only where
 * E₀ < 1: outside the range the interpolant can leave that basin and the result is garbage,
 * which is why the range is calibrated with a margin and simulation guards it.
 */
import { fail } from '../errors';
import { chebyshevInterpolate, clenshaw, toUnit, type Range } from './chebyshev';
import { evaluateChebyshev, polyCost } from './evaluate';
import type { PolyBuilder } from './poly-builder';

export type NewtonFn = 'inverse' | 'inverse-sqrt';

interface NewtonDefinition {
  readonly title: string;
  readonly f: (x: number) => number;
  /** The residual e of an estimate y of f(x); 0 when y is exact. */
  readonly residual: (x: number, y: number) => number;
  /** A bound on |e| after one step, given |e| ≤ E before it (E < 1). */
  readonly nextBound: (e: number) => number;
  /** A bound on |y/f(x) − 1| given |e| ≤ E. */
  readonly relative: (e: number) => number;
  readonly ctMulsPerStep: number;
}

const DEFINITIONS: { readonly [F in NewtonFn]: NewtonDefinition } = {
  inverse: {
    title: '1/x',
    f: (x) => 1 / x,
    residual: (x, y) => 1 - x * y,
    nextBound: (e) => e * e,
    relative: (e) => e,
    ctMulsPerStep: 2,
  },
  'inverse-sqrt': {
    title: '1/√x',
    f: (x) => 1 / Math.sqrt(x),
    residual: (x, y) => 1 - x * y * y,
    nextBound: (e) => (e * e * (3 + e)) / 4,
    relative: (e) => 1 - Math.sqrt(1 - e),
    ctMulsPerStep: 3,
  },
};

/** Levels one Newton step spends (both functions). */
export const NEWTON_STEP_LEVELS = 2;
/** Most Newton steps a plan uses. */
export const MAX_NEWTON_STEPS = 5;
/**
 * Interpolant degrees tried: 2^k − 1, depth k, those up to 31 first. A degree doubling costs one
 * level and a Newton step two, so by levels alone a high degree would always win; but under CKKS
 * a Newton step also corrects the noise and the encoding rounding the interpolant carries (a
 * degree-255 series of 1/x on a wide range loses ~15 bits at 40-bit scales, measured in
 * test/unit/transformer-approx.test.ts), while the last step's own noise is all that remains.
 * Degrees above 31 are tried only when no plan up to 31 meets the target.
 */
const DEGREE_TIERS = [
  [1, 3, 7, 15, 31],
  [63, 127, 255],
];
/** Grid points the initial residual is measured on (the endpoints included). */
const GRID_POINTS = 4001;

export interface NewtonPlan {
  readonly fn: NewtonFn;
  /** The argument's range, 0 < lo < hi (calibrated, with its margin). */
  readonly range: Range;
  /** y₀: coefficients of T_0..T_d in t = (2x − lo − hi)/(hi − lo). */
  readonly chebyshev: Float64Array;
  readonly degree: number;
  readonly steps: number;
  /** max |e| of y₀ on the grid. */
  readonly initialResidual: number;
  /** Bound on |y/f(x) − 1| after the steps, for every x in the range. */
  readonly relativeBound: number;
  /** Bound on |y − f(x)| on the range: relativeBound · f(lo), f's largest value there. */
  readonly maxError: number;
  /** Levels from t (and x one level above it) to the result: the interpolant's depth + 2 per step. */
  readonly depth: number;
  /** ct×ct products the interpolant and the steps spend. */
  readonly ctMuls: number;
}

export interface NewtonTarget {
  /** Largest |y/f(x) − 1| allowed on the range. */
  readonly relativeError: number;
  /** Exact interpolant degree and steps instead of the cheapest that meets the target. */
  readonly degree?: number;
  readonly steps?: number;
}

/**
 * The cheapest plan (fewest levels, then fewest ct×ct products) whose bound meets the target;
 * with `degree` and `steps` given, that plan, whatever its bound (checked against the target all the same).
 */
export function planNewton(fn: NewtonFn, range: Range, target: NewtonTarget): NewtonPlan {
  const def = DEFINITIONS[fn];
  const [lo, hi] = range;
  const where = `${def.title} on [${lo}, ${hi}]`;
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo > 0 && lo < hi)) fail('BAD_ARGUMENT', `${where}: needs a finite range with 0 < lo < hi`);
  if (!(target.relativeError > 0 && target.relativeError < 1)) fail('BAD_ARGUMENT', `${where}: relative error ${target.relativeError} must be in (0, 1)`);
  const tiers = target.degree !== undefined ? [[target.degree]] : DEGREE_TIERS;
  const stepCounts = target.steps !== undefined ? [target.steps] : Array.from({ length: MAX_NEWTON_STEPS + 1 }, (_v, i) => i);
  let best: NewtonPlan | null = null;
  for (const degree of tiers.flatMap((tier) => tier)) {
    // A higher tier only when the one below met nothing (see DEGREE_TIERS).
    if (best !== null && !tiers[0]!.includes(degree)) break;
    if (!Number.isInteger(degree) || degree < 1 || degree > 255) fail('BAD_ARGUMENT', `${where}: degree ${degree} must be an integer from 1 to 255`);
    const chebyshev = chebyshevInterpolate(def.f, range, degree);
    const initialResidual = maxResidual(def, range, chebyshev);
    const cost = polyCost(chebyshev);
    for (const steps of stepCounts) {
      if (!Number.isInteger(steps) || steps < 0 || steps > MAX_NEWTON_STEPS) fail('BAD_ARGUMENT', `${where}: ${steps} Newton steps, not an integer from 0 to ${MAX_NEWTON_STEPS}`);
      // Newton contracts only inside the basin |e| < 1; a bound of 1 or more promises nothing.
      let e = initialResidual;
      for (let s = 0; s < steps && e < 1; s++) e = def.nextBound(e);
      const relativeBound = e < 1 ? def.relative(e) : Infinity;
      const plan: NewtonPlan = {
        fn,
        range,
        chebyshev,
        degree,
        steps,
        initialResidual,
        relativeBound,
        maxError: relativeBound * def.f(lo),
        depth: cost.depth + NEWTON_STEP_LEVELS * steps,
        ctMuls: cost.ctMuls + def.ctMulsPerStep * steps,
      };
      if (relativeBound <= target.relativeError && (best === null || plan.depth < best.depth || (plan.depth === best.depth && plan.ctMuls < best.ctMuls))) best = plan;
    }
  }
  if (best === null) {
    fail('PARAMS', `${where}: no interpolant of degree ≤ ${tiers.flat().pop()} with ≤ ${stepCounts[stepCounts.length - 1]} Newton steps reaches relative error ${target.relativeError.toExponential(2)}; narrow the range or allow more error`);
  }
  return best;
}

/** max |e(x, y₀(x))| on the grid. */
function maxResidual(def: NewtonDefinition, range: Range, chebyshev: Float64Array): number {
  const [lo, hi] = range;
  let worst = 0;
  for (let i = 0; i < GRID_POINTS; i++) {
    const x = lo + ((hi - lo) * i) / (GRID_POINTS - 1);
    const e = Math.abs(def.residual(x, clenshaw(chebyshev, toUnit(x, range))));
    if (!(e <= worst)) worst = e; // NaN stays the worst
  }
  return worst;
}

/** t = (2x − lo − hi)/(hi − lo): one plaintext product, one level. */
export function unitVariable<T>(pb: PolyBuilder<T>, x: T, [lo, hi]: Range): T {
  return pb.linear([[x, 2 / (hi - lo)]], -(lo + hi) / (hi - lo));
}

/**
 * f(x) by the plan. `t` is x mapped to [−1, 1] when the caller has it for free (a scale folded
 * into an earlier product); otherwise it is computed here, one level below x.
 */
export function evaluateNewton<T>(pb: PolyBuilder<T>, x: T, plan: NewtonPlan, t: T = unitVariable(pb, x, plan.range)): T {
  let y = evaluateChebyshev(pb, t, plan.chebyshev);
  switch (plan.fn) {
    case 'inverse':
      for (let s = 0; s < plan.steps; s++) {
        // 2y − (x·y)·y: the doubling is an addition, no level.
        y = pb.sub(pb.linear([[y, 2]], 0), pb.mul(pb.mul(x, y), y));
      }
      return y;
    case 'inverse-sqrt': {
      if (plan.steps === 0) return y;
      const half = pb.linear([[x, 0.5]], 0);
      for (let s = 0; s < plan.steps; s++) {
        // 1.5·y − ((x/2)·y)·y²: 1.5·y and y² sit one level down, the product two, the difference there too.
        y = pb.sub(pb.linear([[y, 1.5]], 0), pb.mul(pb.mul(half, y), pb.mul(y, y)));
      }
      return y;
    }
  }
}

/** f itself, in float64: the reference the plan is measured against. */
export function newtonReference(fn: NewtonFn): (x: number) => number {
  return DEFINITIONS[fn].f;
}
