import { clenshaw, fromUnit, toUnit, type Range } from './chebyshev';

/**
 * Minimax fit by the Remez exchange algorithm, in the Chebyshev basis on [−1, 1].
 *
 * Each step solves Σ a_k T_k(t_i) + (−1)^i E = g(t_i) on a reference of d+2 points, then moves
 * the reference to the alternating extrema of the new error. Extrema are searched on a dense
 * grid that contains f's kinks, then refined by golden-section search, so ReLU's kink is handled
 * like any other extremum (sigmoid, tanh, ReLU at degrees ≤ 63 converge in 2–6 steps). It always
 * stops: after `maxIterations`, or when the system turns singular or the error stops alternating
 * from both starting references, it reports `converged: false` and hands back the best
 * polynomial it saw, so the caller can decide to fall back.
 */
export interface RemezOptions {
  /** Points of [lo, hi] where f is not smooth; the search grid contains them. */
  readonly kinks?: readonly number[];
  readonly maxIterations?: number;
  /** Stop when (max|e| − |E|) ≤ tolerance · max|e| (default 1e-10). Default 60 iterations in all. */
  readonly tolerance?: number;
  /** Search-grid size (points uniform in arccos t, so they crowd the ends like the extrema do). */
  readonly gridSize?: number;
}

export interface RemezResult {
  /** Best polynomial seen (lowest max error on the search grid); null when not even the first system could be solved. */
  readonly chebyshev: Float64Array | null;
  readonly converged: boolean;
  readonly iterations: number;
  /** |E| of the last solved reference: a lower bound on the minimax error. */
  readonly levelledError: number;
  /** Max |f − p| of `chebyshev` on the search grid. */
  readonly maxError: number;
  /** The last reference (in t ∈ [−1, 1]), where the error nearly equioscillates. */
  readonly reference: Float64Array;
  /** Why it stopped without converging. */
  readonly reason?: string;
}

export function remezFit(
  f: (x: number) => number,
  range: Range,
  degree: number,
  options: RemezOptions = {},
): RemezResult {
  const maxIterations = options.maxIterations ?? 60;
  const tolerance = options.tolerance ?? 1e-10;
  const g = (t: number): number => f(fromUnit(t, range));
  const grid = searchGrid(options.gridSize ?? 20001, (options.kinks ?? []).map((x) => toUnit(x, range)));
  const gValues = grid.map(g);
  const n = degree + 2;
  const scale = gValues.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;

  // Start from the extrema of T_{d+1}, where the Chebyshev interpolant's error nearly alternates.
  // That reference is symmetric; when f has the opposite parity on it (ReLU at even degree), the
  // levelled error comes out 0 and the exchange stalls, so a second, lopsided start follows.
  const starts = [extremaStart(n, 1), extremaStart(n, 1.15)];
  let reference = starts[0]!;
  let best: { coeffs: Float64Array; maxError: number } | null = null;
  let levelled = 0;
  let failure = '';
  let iteration = 0;
  for (const start of starts) {
    reference = start;
    while (iteration < maxIterations) {
      iteration++;
      const solved = solveReference(g, reference, degree);
      if (solved === null) {
        failure = 'the reference system is singular';
        break;
      }
      levelled = Math.abs(solved.levelled);
      const coeffs = solved.coeffs;
      const error = (t: number): number => g(t) - clenshaw(coeffs, t);
      const errors = new Float64Array(grid.length);
      for (let i = 0; i < grid.length; i++) errors[i] = gValues[i]! - clenshaw(coeffs, grid[i]!);
      const extrema = alternatingExtrema(grid, errors, error, n);
      const maxError = extrema.maxError;
      if (best === null || maxError < best.maxError) best = { coeffs, maxError };
      // The absolute floor is float64 noise in g itself: below it the error cannot level further.
      if (maxError - levelled <= Math.max(tolerance * maxError, 1e-15 * scale)) {
        return stop(true, iteration);
      }
      if (extrema.points === null) {
        failure = 'the error does not alternate d+2 times';
        break;
      }
      reference = extrema.points;
    }
  }
  return stop(false, iteration, iteration >= maxIterations ? `no convergence in ${maxIterations} iterations` : failure);

  function stop(converged: boolean, iterations: number, reason?: string): RemezResult {
    return {
      chebyshev: best?.coeffs ?? null,
      converged,
      iterations,
      levelledError: levelled,
      maxError: best?.maxError ?? Infinity,
      reference,
      ...(reason === undefined ? {} : { reason }),
    };
  }
}

/** −cos(π·s^warp) for s = i/(n−1): the extrema of T_{n−1} when warp = 1, pushed off-symmetric otherwise. */
function extremaStart(n: number, warp: number): Float64Array {
  const points = new Float64Array(n);
  for (let i = 0; i < n; i++) points[i] = -Math.cos(Math.PI * (i / (n - 1)) ** warp);
  return points;
}

/** Sorted grid on [−1, 1], uniform in arccos t, with the kinks added. */
function searchGrid(size: number, kinks: readonly number[]): number[] {
  const points: number[] = [];
  for (let i = 0; i < size; i++) points.push(-Math.cos((Math.PI * i) / (size - 1)));
  for (const k of kinks) if (k > -1 && k < 1) points.push(k);
  points.sort((a, b) => a - b);
  return points.filter((p, i) => i === 0 || p > points[i - 1]!);
}

/** Solves the (d+2)×(d+2) reference system; null when it is singular. */
function solveReference(
  g: (t: number) => number,
  reference: Float64Array,
  degree: number,
): { coeffs: Float64Array; levelled: number } | null {
  const n = degree + 2;
  const a = new Float64Array(n * n);
  const b = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = reference[i]!;
    // T_0..T_d at t by the three-term recurrence.
    let prev = 1;
    let cur = t;
    a[i * n] = 1;
    if (degree >= 1) a[i * n + 1] = t;
    for (let k = 2; k <= degree; k++) {
      const next = 2 * t * cur - prev;
      a[i * n + k] = next;
      prev = cur;
      cur = next;
    }
    a[i * n + degree + 1] = i % 2 === 0 ? 1 : -1;
    b[i] = g(t);
  }
  const x = solveLinear(a, b, n);
  if (x === null) return null;
  return { coeffs: x.slice(0, degree + 1), levelled: x[degree + 1]! };
}

/** Gaussian elimination with partial pivoting; null when a pivot vanishes. */
export function solveLinear(a: Float64Array, b: Float64Array, n: number): Float64Array | null {
  const m = Float64Array.from(a);
  const r = Float64Array.from(b);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let row = col + 1; row < n; row++) {
      if (Math.abs(m[row * n + col]!) > Math.abs(m[pivot * n + col]!)) pivot = row;
    }
    const p = m[pivot * n + col]!;
    if (!Number.isFinite(p) || Math.abs(p) < 1e-300) return null;
    if (pivot !== col) {
      for (let k = 0; k < n; k++) {
        const tmp = m[col * n + k]!;
        m[col * n + k] = m[pivot * n + k]!;
        m[pivot * n + k] = tmp;
      }
      const tmp = r[col]!;
      r[col] = r[pivot]!;
      r[pivot] = tmp;
    }
    for (let row = col + 1; row < n; row++) {
      const factor = m[row * n + col]! / p;
      if (factor === 0) continue;
      for (let k = col; k < n; k++) m[row * n + k] -= factor * m[col * n + k]!;
      r[row] -= factor * r[col]!;
    }
  }
  const x = new Float64Array(n);
  for (let row = n - 1; row >= 0; row--) {
    let s = r[row]!;
    for (let k = row + 1; k < n; k++) s -= m[row * n + k]! * x[k]!;
    x[row] = s / m[row * n + row]!;
  }
  return x.every(Number.isFinite) ? x : null;
}

interface Extremum {
  t: number;
  e: number;
}

/**
 * The new reference: one extremum per run of constant error sign (so signs alternate), located
 * precisely by golden-section search, then thinned to exactly n points keeping the largest.
 */
function alternatingExtrema(
  grid: readonly number[],
  errors: Float64Array,
  error: (t: number) => number,
  n: number,
): { points: Float64Array | null; maxError: number } {
  const runs: { index: number; sign: number }[] = [];
  let sign = 0;
  for (let i = 0; i < grid.length; i++) {
    const e = errors[i]!;
    const s = e > 0 ? 1 : e < 0 ? -1 : sign;
    if (s === 0) continue;
    if (s !== sign) {
      runs.push({ index: i, sign: s });
      sign = s;
    } else if (Math.abs(e) > Math.abs(errors[runs[runs.length - 1]!.index]!)) {
      runs[runs.length - 1]!.index = i;
    }
  }
  const extrema: Extremum[] = runs.map(({ index }) => refine(grid, errors, error, index));
  const maxError = extrema.reduce((m, x) => Math.max(m, Math.abs(x.e)), 0);
  if (extrema.length < n) return { points: null, maxError };
  while (extrema.length > n) {
    if (extrema.length - n === 1) {
      // Dropping an end keeps the alternation.
      if (Math.abs(extrema[0]!.e) < Math.abs(extrema[extrema.length - 1]!.e)) extrema.shift();
      else extrema.pop();
      continue;
    }
    let smallest = 0;
    for (let i = 1; i < extrema.length; i++) {
      if (Math.abs(extrema[i]!.e) < Math.abs(extrema[smallest]!.e)) smallest = i;
    }
    if (smallest === 0 || smallest === extrema.length - 1) {
      extrema.splice(smallest, 1);
    } else {
      // Its two neighbours now share a sign: keep the larger of them.
      const left = extrema[smallest - 1]!;
      const right = extrema[smallest + 1]!;
      const drop = Math.abs(left.e) < Math.abs(right.e) ? smallest - 1 : smallest + 1;
      extrema.splice(Math.min(smallest, drop), 2);
    }
  }
  return { points: Float64Array.from(extrema, (x) => x.t), maxError };
}

/** Golden-section search for the local max of |e| between the grid neighbours of index i. */
function refine(
  grid: readonly number[],
  errors: Float64Array,
  error: (t: number) => number,
  i: number,
): Extremum {
  const onGrid = { t: grid[i]!, e: errors[i]! };
  let a = grid[Math.max(i - 1, 0)]!;
  let b = grid[Math.min(i + 1, grid.length - 1)]!;
  const ratio = (Math.sqrt(5) - 1) / 2;
  let c = b - ratio * (b - a);
  let d = a + ratio * (b - a);
  let fc = Math.abs(error(c));
  let fd = Math.abs(error(d));
  for (let k = 0; k < 40 && b - a > 1e-15; k++) {
    if (fc > fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - ratio * (b - a);
      fc = Math.abs(error(c));
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + ratio * (b - a);
      fd = Math.abs(error(d));
    }
  }
  const t = (a + b) / 2;
  const e = error(t);
  // A refined point of the wrong sign would break the alternation; the grid point is safe.
  return Math.abs(e) > Math.abs(onGrid.e) && Math.sign(e) === Math.sign(onGrid.e) ? { t, e } : onGrid;
}
