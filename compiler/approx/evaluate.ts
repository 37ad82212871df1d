import { fail } from '../errors';
import { CountingBuilder, type OpCounts } from './builders';
import { effectiveDegree } from './chebyshev';
import type { PolyBuilder } from './poly-builder';

/**
 * Evaluates Σ c_k T_k(t) through a PolyBuilder, by baby-step giant-step (Paterson–Stockmeyer)
 * in the Chebyshev basis, at the minimal depth ⌈log2(d+1)⌉.
 *
 * - Baby steps T_1..T_{2^l} and giant steps T_{2^l}, T_{2^(l+1)}, … each come from one product,
 *   T_{a+b} = 2·T_a·T_b − T_{a−b} or T_{2a} = 2·T_a² − 1, at depth ⌈log2 i⌉ (the 2 and −1 are
 *   integers, so they cost no level).
 * - The series is divided by T_N (N the largest power of two ≤ its degree):
 *   p = q·T_N + r with q_0 = c_N, q_i = 2·c_{N+i}, r_{N−i} = c_{N−i} − c_{N+i}, both halves
 *   evaluated recursively; a part of degree ≤ 2^l is a leaf, one `linear` over baby steps.
 * - Depth: every part gets a budget (the whole: ⌈log2(d+1)⌉; q: one less than its parent,
 *   since q·T_N costs a level; r: its parent's). A leaf spends the depth of its highest baby step
 *   plus one level for its non-integer scalars, which fits every budget except on the chain of
 *   leading quotients (q of q of q…), where the budget is exactly the depth of T_{2^l}. There
 *   the evaluator keeps dividing, by T_{2^(l−1)}, T_{2^(l−2)}, …, down to a degree-1 quotient
 *   a·T_1 + b, whose scalar level is the one the budget allows. That costs about l extra
 *   products instead of one extra level for the whole polynomial.
 * - Zero coefficients are skipped everywhere, so odd series (tanh, sigmoid − ½) and ReLU's
 *   even-plus-linear series only compute the baby steps they use.
 * - The baby-step size 2^l is chosen by counting: the plan is run on an op counter for every l
 *   and the one with the fewest ct×ct products wins (then fewest scalar products, additions).
 *
 * A constant series (degree 0) comes back as linear([[x, 0]], c_0): the builder must produce a
 * value, and this one costs no level.
 */
export function evaluateChebyshev<T>(builder: PolyBuilder<T>, x: T, coeffs: ArrayLike<number>): T {
  for (let k = 0; k < coeffs.length; k++) {
    if (!Number.isFinite(coeffs[k]!)) fail('BAD_ARGUMENT', `Chebyshev coefficient c_${k} is ${coeffs[k]}`);
  }
  const c = Float64Array.from(coeffs).subarray(0, effectiveDegree(coeffs) + 1);
  return executeSeries(builder, x, seriesPlanOf(c));
}

/** Minimal depth of a degree-d series: ⌈log2(d+1)⌉ (0 for constants). */
export function chebyshevDepth(degree: number): number {
  return degree <= 0 ? 0 : ceilLog2(degree + 1);
}

export interface PolyCost extends OpCounts {
  /** Levels consumed from the input to the result. */
  readonly depth: number;
  /** log2 of the baby-step count the evaluator picked. */
  readonly babyStepLog: number;
}

/** What evaluateChebyshev spends on this series. */
export function polyCost(coeffs: ArrayLike<number>): PolyCost {
  const c = Float64Array.from(coeffs).subarray(0, effectiveDegree(coeffs) + 1);
  const series = seriesPlanOf(c);
  const counter = new CountingBuilder();
  const result = executeSeries(counter, counter.input(), series);
  return { ...counter.counts, depth: counter.depth(result), babyStepLog: series.babyStepLog };
}

/** A series cut up for its best baby-step size, and the order its Chebyshev powers are built in. */
interface SeriesPlan {
  readonly babyStepLog: number;
  readonly plan: Plan;
  readonly powers: readonly PowerStep[];
}

/**
 * Plans by coefficients. A plan depends on the coefficients alone, and choosing it (every baby-step
 * size run on an op counter) costs far more than executing it on float64 values: a transformer's
 * float64 passes (degree auto, bias correction, chain statistics) evaluate the same Softmax and
 * LayerNorm series on every element of every calibration row, and its lowering on every value.
 * Keys are a hash of the coefficients' bits, each entry checked against the coefficients it was
 * made for (floats compared exactly); the table is emptied when it grows past MAX_SERIES_PLANS,
 * so it stays small whatever is compiled.
 */
const seriesPlans = new Map<number, { readonly coefficients: Float64Array; readonly plan: SeriesPlan }[]>();
let seriesPlanCount = 0;
const MAX_SERIES_PLANS = 4096;

function seriesPlanOf(c: Float64Array): SeriesPlan {
  const key = bitsHash(c);
  const bucket = seriesPlans.get(key);
  const known = bucket?.find((e) => sameValues(e.coefficients, c));
  if (known) return known.plan;
  if (seriesPlanCount >= MAX_SERIES_PLANS) seriesPlans.clear(), (seriesPlanCount = 0);
  const plan = makeSeriesPlan(c, bestBabyStepLog(c));
  const entry = { coefficients: Float64Array.from(c), plan };
  if (bucket && seriesPlans.has(key)) bucket.push(entry);
  else seriesPlans.set(key, [entry]);
  seriesPlanCount++;
  return plan;
}

/** FNV-1a over the doubles' 32-bit words. */
function bitsHash(c: Float64Array): number {
  const words = new Uint32Array(c.buffer, c.byteOffset, c.length * 2);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
  return h >>> 0;
}

/** Equal as doubles, element by element (a 0 and a −0 plan alike: every test in a plan is `!== 0`). */
function sameValues(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function makeSeriesPlan(c: Float64Array, babyStepLog: number): SeriesPlan {
  const plan = planSeries(c, chebyshevDepth(c.length - 1), 2 ** babyStepLog);
  const needed = new Set<number>();
  collectPowers(plan, needed);
  return { babyStepLog, plan, powers: powerSteps(needed) };
}

function bestBabyStepLog(c: Float64Array): number {
  const degree = c.length - 1;
  const top = Math.max(1, chebyshevDepth(degree));
  let best = { l: 1, key: [Infinity, Infinity, Infinity] };
  for (let l = 1; l <= top; l++) {
    const counter = new CountingBuilder();
    executeSeries(counter, counter.input(), makeSeriesPlan(c, l));
    const { ctMuls, scalarMuls, adds } = counter.counts;
    const key = [ctMuls, scalarMuls, adds];
    if (lexLess(key, best.key)) best = { l, key };
  }
  return best.l;
}

function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/** A part of the series: a plaintext constant, or a value the builder produced. */
type Part<T> = { readonly constant: number } | { readonly value: T };

/** How a series is cut up; built from the coefficients alone, then executed. */
type Plan =
  | { readonly kind: 'constant'; readonly c: number }
  | { readonly kind: 'leaf'; readonly terms: ReadonlyArray<readonly [number, number]>; readonly constant: number }
  | { readonly kind: 'split'; readonly n: number; readonly q: Plan; readonly r: Plan };

function executeSeries<T>(builder: PolyBuilder<T>, x: T, series: SeriesPlan): T {
  const powers = new ChebyshevPowers(builder, x, series.powers);
  const part = execute(series.plan, builder, powers);
  if ('value' in part) return part.value;
  return builder.linear([[x, 0]], part.constant);
}

function planSeries(c: Float64Array, budget: number, babyLimit: number): Plan {
  const degree = effectiveDegree(c);
  if (degree <= 0) return { kind: 'constant', c: degree < 0 ? 0 : c[0]! };
  if (degree === 1 || (degree <= babyLimit && leafDepth(c, degree) <= budget)) {
    const terms: [number, number][] = [];
    for (let i = 1; i <= degree; i++) if (c[i] !== 0) terms.push([i, c[i]!]);
    return { kind: 'leaf', terms, constant: c[0]! };
  }
  const n = 2 ** Math.floor(Math.log2(degree));
  const q = new Float64Array(degree - n + 1);
  const r = Float64Array.from(c.subarray(0, n));
  q[0] = c[n]!;
  for (let i = 1; i <= degree - n; i++) {
    q[i] = 2 * c[n + i]!;
    r[n - i] = r[n - i]! - c[n + i]!;
  }
  return { kind: 'split', n, q: planSeries(q, budget - 1, babyLimit), r: planSeries(r, budget, babyLimit) };
}

/** Depth of one linear combination of T_1..T_degree with these coefficients. */
function leafDepth(c: Float64Array, degree: number): number {
  let depth = 0;
  let scalar = false;
  for (let i = 1; i <= degree; i++) {
    if (c[i] === 0) continue;
    depth = Math.max(depth, ceilLog2(i));
    if (!Number.isInteger(c[i]!)) scalar = true;
  }
  return depth + (scalar ? 1 : 0);
}

function collectPowers(plan: Plan, into: Set<number>): void {
  if (plan.kind === 'leaf') for (const [i] of plan.terms) into.add(i);
  if (plan.kind === 'split') {
    into.add(plan.n);
    collectPowers(plan.q, into);
    collectPowers(plan.r, into);
  }
}

function execute<T>(plan: Plan, builder: PolyBuilder<T>, powers: ChebyshevPowers<T>): Part<T> {
  switch (plan.kind) {
    case 'constant':
      return { constant: plan.c };
    case 'leaf': {
      if (plan.terms.length === 0) return { constant: plan.constant };
      if (plan.terms.length === 1 && plan.terms[0]![1] === 1 && plan.constant === 0) {
        return { value: powers.get(plan.terms[0]![0]) };
      }
      return { value: builder.linear(plan.terms.map(([i, ci]) => [powers.get(i), ci] as const), plan.constant) };
    }
    case 'split': {
      const tn = powers.get(plan.n);
      const q = execute(plan.q, builder, powers);
      const r = execute(plan.r, builder, powers);
      let product: Part<T>;
      if ('value' in q) product = { value: builder.mul(q.value, tn) };
      else if (q.constant === 0) product = { constant: 0 };
      else if (q.constant === 1) product = { value: tn };
      else product = { value: builder.linear([[tn, q.constant]], 0) };
      return addParts(builder, product, r);
    }
  }
}

function addParts<T>(builder: PolyBuilder<T>, a: Part<T>, b: Part<T>): Part<T> {
  if ('value' in a && 'value' in b) return { value: builder.add(a.value, b.value) };
  if ('value' in a && 'constant' in b) return b.constant === 0 ? a : { value: builder.linear([[a.value, 1]], b.constant) };
  if ('constant' in a && 'value' in b) return a.constant === 0 ? b : { value: builder.linear([[b.value, 1]], a.constant) };
  return { constant: (a as { constant: number }).constant + (b as { constant: number }).constant };
}

/**
 * One step of building the powers: 'product' multiplies T_a·T_b for T_i, 'combine' finishes it,
 * T_i = 2·T_a·T_b − T_{a−b} (T_{2a} = 2·T_a² − 1 when a = b). A T_{a−b} not yet built is built
 * between the two, so the ops come in the order the evaluator has always emitted them.
 */
type PowerStep = readonly [kind: 'product' | 'combine', i: number, a: number, b: number];

/**
 * The order T_i of the needed powers are built in, each once at depth ⌈log2 i⌉. For T_i it picks
 * a split i = a + b with both halves one level shallower, preferring halves (and the correction
 * T_{a−b}) that are already built, so odd-only or even-only sets do not drag in the other parity.
 */
function powerSteps(needed: ReadonlySet<number>): PowerStep[] {
  const built = new Set<number>([1]);
  const steps: PowerStep[] = [];
  const build = (i: number): void => {
    if (built.has(i)) return;
    if (i < 1 || !Number.isInteger(i)) throw new RangeError(`T_${i} is not a baby or giant step`);
    const [a, b] = splitPower(i, built);
    build(a);
    build(b);
    steps.push(['product', i, a, b]);
    if (a !== b) build(a - b);
    steps.push(['combine', i, a, b]);
    built.add(i);
  };
  for (const i of [...needed].sort((p, q) => p - q)) build(i);
  return steps;
}

function splitPower(i: number, built: ReadonlySet<number>): [number, number] {
  const half = 2 ** (ceilLog2(i) - 1);
  let best: [number, number] = [half, i - half];
  let bestMissing = Infinity;
  for (let a = half; a >= Math.ceil(i / 2); a--) {
    const b = i - a;
    const parts = a === b ? [a] : [a, b, a - b];
    const missing = new Set(parts.filter((j) => j !== 0 && !built.has(j))).size;
    if (missing < bestMissing) {
      best = [a, b];
      bestMissing = missing;
    }
  }
  return best;
}

/** T_i of the input, built by the plan's steps. */
class ChebyshevPowers<T> {
  private readonly built = new Map<number, T>();

  constructor(builder: PolyBuilder<T>, x: T, steps: readonly PowerStep[]) {
    this.built.set(1, x);
    const products = new Map<number, T>();
    for (const [kind, i, a, b] of steps) {
      switch (kind) {
        case 'product':
          products.set(i, builder.mul(this.get(a), this.get(b)));
          break;
        case 'combine': {
          const product = products.get(i)!;
          this.built.set(i, a === b ? builder.linear([[product, 2]], -1) : builder.linear([[product, 2], [this.get(a - b), -1]], 0));
          break;
        }
      }
    }
  }

  get(i: number): T {
    const known = this.built.get(i);
    if (known === undefined) throw new RangeError(`T_${i} is not a baby or giant step`);
    return known;
  }
}

function ceilLog2(n: number): number {
  let k = 0;
  while (2 ** k < n) k++;
  return k;
}
