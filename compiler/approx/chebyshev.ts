/**
 * Chebyshev series on an interval: p(x) = Σ c_k T_k(t) with t = (2x − lo − hi)/(hi − lo) ∈ [−1, 1].
 * Every polynomial in the compiler is kept in this basis: it is well conditioned at the degrees
 * we use (≤ 63) where the monomial basis is not, and the evaluator works in it directly.
 */

export type Range = readonly [number, number];

/** x ∈ [lo, hi] → t ∈ [−1, 1]. */
export function toUnit(x: number, [lo, hi]: Range): number {
  return (2 * x - lo - hi) / (hi - lo);
}

/** t ∈ [−1, 1] → x ∈ [lo, hi]. */
export function fromUnit(t: number, [lo, hi]: Range): number {
  return 0.5 * (lo + hi) + 0.5 * (hi - lo) * t;
}

/** The n first-kind Chebyshev nodes cos(π(j + ½)/n), the zeros of T_n, in decreasing order. */
export function chebyshevNodes(n: number): Float64Array {
  const nodes = new Float64Array(n);
  for (let j = 0; j < n; j++) nodes[j] = Math.cos((Math.PI * (j + 0.5)) / n);
  return nodes;
}

/**
 * Interpolates f at the degree+1 Chebyshev nodes of [lo, hi]. The interpolant is within a
 * factor (2 + (2/π)·ln(d+1)) of the best approximation, and needs no iteration.
 */
export function chebyshevInterpolate(f: (x: number) => number, range: Range, degree: number): Float64Array {
  const n = degree + 1;
  const nodes = chebyshevNodes(n);
  const values = new Float64Array(n);
  for (let j = 0; j < n; j++) values[j] = f(fromUnit(nodes[j]!, range));
  const coeffs = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sum = 0;
    for (let j = 0; j < n; j++) sum += values[j]! * Math.cos((Math.PI * k * (j + 0.5)) / n);
    coeffs[k] = ((k === 0 ? 1 : 2) / n) * sum;
  }
  return coeffs;
}

/** Σ c_k T_k(t) by Clenshaw's recurrence (backward-stable; the reference every evaluator is checked against). */
export function clenshaw(coeffs: ArrayLike<number>, t: number): number {
  let b1 = 0;
  let b2 = 0;
  for (let k = coeffs.length - 1; k >= 1; k--) {
    const b0 = coeffs[k]! + 2 * t * b1 - b2;
    b2 = b1;
    b1 = b0;
  }
  return (coeffs.length > 0 ? coeffs[0]! : 0) + t * b1 - b2;
}

/** p(x) for a series on `range`. */
export function evalOnRange(coeffs: ArrayLike<number>, range: Range, x: number): number {
  return clenshaw(coeffs, toUnit(x, range));
}

/** Degree after dropping exactly-zero leading coefficients (−1 for the zero series). */
export function effectiveDegree(coeffs: ArrayLike<number>): number {
  let d = coeffs.length - 1;
  while (d >= 0 && coeffs[d] === 0) d--;
  return d;
}

/** Monomial coefficients a_0..a_d of Σ c_k T_k(t) in powers of t (for display; ill-conditioned past ~20). */
export function chebyshevToMonomial(coeffs: ArrayLike<number>): Float64Array {
  const n = coeffs.length;
  const out = new Float64Array(n);
  // Walk T_k's monomial expansion upward with T_{k+1} = 2t·T_k − T_{k−1}.
  let prev = new Float64Array(n);
  let cur = new Float64Array(n);
  if (n > 0) {
    prev[0] = 1;
    out[0] = coeffs[0]!;
  }
  if (n > 1) {
    cur[1] = 1;
    out[1] += coeffs[1]!;
  }
  for (let k = 2; k < n; k++) {
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) next[i] = (i > 0 ? 2 * cur[i - 1]! : 0) - prev[i]!;
    for (let i = 0; i <= k; i++) out[i] += coeffs[k]! * next[i]!;
    prev = cur;
    cur = next;
  }
  return out;
}

/** Inverse of chebyshevToMonomial: t^j = 2^(1−j) Σ binom(j, i) T_{j−2i}, halving the middle term. */
export function monomialToChebyshev(monomial: ArrayLike<number>): Float64Array {
  const n = monomial.length;
  const out = new Float64Array(n);
  // power[k] holds t^j in the Chebyshev basis, updated with t·T_k = (T_{k+1} + T_{|k−1|})/2.
  let power = new Float64Array(n);
  if (n > 0) {
    power[0] = 1;
    out[0] = monomial[0]!;
  }
  for (let j = 1; j < n; j++) {
    const next = new Float64Array(n);
    for (let k = 0; k < j; k++) {
      const c = power[k]!;
      if (c === 0) continue;
      if (k === 0) next[1] += c;
      else {
        next[k + 1] += c / 2;
        next[k - 1] += c / 2;
      }
    }
    power = next;
    for (let k = 0; k <= j; k++) out[k] += monomial[j]! * power[k]!;
  }
  return out;
}

/**
 * The same polynomial re-expressed on a sub-interval: coefficients on `to` of p given on `from`.
 * Exact up to rounding (degree d polynomials are interpolated exactly at d+1 nodes).
 */
export function rebase(coeffs: ArrayLike<number>, from: Range, to: Range): Float64Array {
  const d = Math.max(coeffs.length - 1, 0);
  return chebyshevInterpolate((x) => evalOnRange(coeffs, from, x), to, d);
}
