/**
 * The server-side transformer functions (compiler/approx/newton.ts, exp-range.ts, softmax.ts,
 * layer-norm.ts; compiler/circuit/transformer-lowering.ts) against float64 written the obvious
 * way — Math.exp, 1/x, 1/Math.sqrt, a max-subtracted softmax and a two-pass LayerNorm — on seeded
 * points inside calibrated ranges: the measured error stays within the bound each plan promises,
 * the depth each plan declares is the depth the evaluation spends, and the emitted circuit, with
 * scales assigned and checked, computes in simulation what the float64 semantics compute.
 */
import { describe, expect, it } from 'vitest';
import { numberBuilder, numberInput, vectorBuilder, vectorInput } from '../../compiler/approx/builders';
import { evaluateExp, planExp } from '../../compiler/approx/exp-range';
import { evaluateLayerNorm, layerNormReference, planLayerNorm, type LayerNormAffine } from '../../compiler/approx/layer-norm';
import { evaluateNewton, planNewton, type NewtonFn } from '../../compiler/approx/newton';
import { evaluateSoftmax, planSoftmax, softmaxReference, type SoftmaxPlan } from '../../compiler/approx/softmax';
import { CircuitBuilder } from '../../compiler/circuit/builder';
import { assignScales } from '../../compiler/circuit/passes-scales';
import { emitLayerNorm, emitSoftmax } from '../../compiler/circuit/transformer-lowering';
import { nttPrimes } from '../../compiler/params/primes';
import { simulateCircuit } from '../../runtime/backends/simulate';
import { mulberry32, uniform } from '../helpers/random';

const REFERENCE: Record<NewtonFn, (x: number) => number> = { inverse: (x) => 1 / x, 'inverse-sqrt': (x) => 1 / Math.sqrt(x) };

describe('1/x and 1/√x: interpolant plus Newton steps', () => {
  const cases: [NewtonFn, [number, number], number][] = [
    ['inverse', [1, 8], 1e-3],
    ['inverse', [0.5, 60], 1e-5],
    ['inverse', [3, 3.5], 1e-9],
    ['inverse-sqrt', [0.01, 4], 1e-3],
    ['inverse-sqrt', [0.2, 40], 1e-6],
    ['inverse-sqrt', [100, 900], 1e-8],
  ];
  it.each(cases)('%s on %j to relative error %d: measured within the bound, the bound within the target', (fn, range, target, ) => {
    const plan = planNewton(fn, range, { relativeError: target });
    expect(plan.relativeBound).toBeLessThanOrEqual(target);
    const draw = uniform(mulberry32(range[0] * 1000 + range[1]), range[0], range[1]);
    let worst = 0;
    for (const x of [range[0], range[1], ...Array.from({ length: 2000 }, draw)]) {
      const y = evaluateNewton(numberBuilder, numberInput(x), plan);
      worst = Math.max(worst, Math.abs(y.value / REFERENCE[fn](x) - 1));
      // The map to [−1, 1] is one level (none when its factor is an integer); the plan counts the rest.
      expect(y.depth).toBe(plan.depth + (Number.isInteger(2 / (range[1] - range[0])) ? 0 : 1));
    }
    expect(worst).toBeLessThanOrEqual(plan.relativeBound + 1e-13);
  });

  it('Newton steps square the residual of 1/x: the bound after s steps is E₀^(2^s), and the measured error follows it', () => {
    const plan0 = planNewton('inverse', [1, 16], { relativeError: 0.9, degree: 3, steps: 0 });
    const plan2 = planNewton('inverse', [1, 16], { relativeError: 0.9, degree: 3, steps: 2 });
    expect(plan2.relativeBound).toBeCloseTo(plan0.initialResidual ** 4, 15);
    expect(plan2.depth).toBe(plan0.depth + 4);
    // Interpolation at the Chebyshev nodes makes 1 − x·p(x) a multiple of T_4 through 1 at x = 0:
    // E₀ = 1/|T_4(t(0))|, t(0) = −17/15.
    const t0 = -17 / 15;
    expect(plan0.initialResidual).toBeCloseTo(1 / (8 * t0 ** 4 - 8 * t0 ** 2 + 1), 6);
    const at = (x: number): number => Math.abs(evaluateNewton(numberBuilder, numberInput(x), plan2).value * x - 1);
    expect(Math.max(...Array.from({ length: 301 }, (_v, i) => at(1 + i / 20)))).toBeGreaterThan(plan2.relativeBound / 10);
  });

  it('refuses a range through 0 and a target nothing reaches, in one line', () => {
    expect(() => planNewton('inverse', [-1, 2], { relativeError: 1e-3 })).toThrow(/needs a finite range with 0 < lo < hi/);
    expect(() => planNewton('inverse-sqrt', [1e-9, 1e9], { relativeError: 1e-12 })).toThrow(/no interpolant of degree ≤ 255 with ≤ 5 Newton steps reaches/);
  });
});

describe('exp on a calibrated range', () => {
  it.each([[[-12, 3], 0, 1e-4], [[-30, -1], -1, 1e-3], [[-4, 4], 4, 1e-7]] as [[number, number], number, number][])('exp(x − c) on %j, c = %d, to %d', (range, offset, target) => {
    const plan = planExp(range, offset, { maxError: target });
    expect(plan.maxError).toBeLessThanOrEqual(target);
    const draw = uniform(mulberry32(99), range[0], range[1]);
    let worst = 0;
    for (const x of Array.from({ length: 3000 }, draw)) {
      const y = evaluateExp(numberBuilder, numberInput(x), plan, 3);
      worst = Math.max(worst, Math.abs(y.value / 3 - Math.exp(x - offset)));
      expect(y.depth).toBeLessThanOrEqual(plan.depth);
    }
    // The fit's error is measured on a 20001-point grid: between grid points it can only be a hair larger.
    expect(worst).toBeLessThanOrEqual(plan.maxError * 1.01);
  });
});

/** Seeded rows of `n` scores in [lo, hi] and the calibration ranges they give. */
function scoreRows(seed: number, count: number, n: number, lo: number, hi: number): { rows: Float64Array[]; sums: [number, number] } {
  const draw = uniform(mulberry32(seed), lo, hi);
  const rows = Array.from({ length: count }, () => Float64Array.from({ length: n }, draw));
  const max = Math.max(...rows.map((r) => Math.max(...r)));
  const sums = rows.map((r) => r.reduce((a, x) => a + Math.exp(x - max), 0));
  return { rows, sums: [Math.min(...sums), Math.max(...sums)] };
}

describe('softmax without a max', () => {
  it.each([[4, -6, 6, 2 ** -10], [8, -10, 2, 2 ** -12], [16, -3, 3, 2 ** -8]])('rows of %d scores in [%d, %d], error target %d: measured ≤ the bound ≤ the target', (n, lo, hi, target) => {
    const { rows, sums } = scoreRows(n * 31 + 7, 300, n, lo, hi);
    const plan = planSoftmax(n, { scores: [lo, hi], sums }, { maxError: target });
    expect(plan.maxError).toBeLessThanOrEqual(target);
    let worst = 0;
    for (const row of rows) {
      const got = evaluateSoftmax(numberBuilder, [...row].map(numberInput), plan);
      const want = softmaxReference(row);
      got.forEach((g, i) => (worst = Math.max(worst, Math.abs(g.value - want[i]!))));
      expect(Math.max(...got.map((g) => g.depth))).toBe(plan.depth);
    }
    expect(worst).toBeLessThanOrEqual(plan.maxError);
    // The bound is not vacuous: the rows use a good part of it.
    expect(worst).toBeGreaterThan(plan.maxError / 1000);
  });

  it('a wide row-sum range gets a prescale round: within the bound, and the parts one after another compute the whole, each shallower', () => {
    // Peaked rows next to flat ones: the sums relative to the largest score span three decades.
    const { rows, sums } = scoreRows(91, 300, 8, -7, 9);
    expect(sums[1] / sums[0]).toBeGreaterThan(100);
    const plan = planSoftmax(8, { scores: [-7, 9], sums });
    expect(plan.temperature).toBe(1);
    expect(plan.rounds.length).toBe(2);
    // After the coarse round the row sums lie near 1, where the final 1/x needs few levels.
    expect(plan.rounds[1]!.sumRange[0]).toBeGreaterThan(0);
    expect(plan.rounds[1]!.sumRange[1]).toBeLessThan(3);
    let worst = 0;
    for (const row of rows) {
      expectPartsMakeWhole(plan, row);
      const want = softmaxReference(row);
      evaluateSoftmax(numberBuilder, [...row].map(numberInput), plan).forEach((g, i) => (worst = Math.max(worst, Math.abs(g.value - want[i]!))));
    }
    expect(worst).toBeLessThanOrEqual(plan.maxError);
  });

  it('the reference subtracts the max: it takes scores far beyond exp’s float64 range', () => {
    const y = softmaxReference([1000, 1000 + Math.log(3)]);
    // 1000 + ln 3 is exact only to 1000's ulp (1.1e-13).
    expect(y[0]).toBeCloseTo(0.25, 12);
    expect(y[1]).toBeCloseTo(0.75, 12);
  });
});

/** The exps and then each round, run one after another from float64 values (as refreshes cut them), equal the whole; each part shallower than it. */
function expectPartsMakeWhole(plan: SoftmaxPlan, row: Float64Array): void {
  const whole = evaluateSoftmax(numberBuilder, [...row].map(numberInput), plan);
  let values = evaluateSoftmax(numberBuilder, [...row].map(numberInput), plan, undefined, 'exps');
  const depths = [Math.max(...values.map((v) => v.depth))];
  plan.rounds.forEach((_r, round) => {
    values = evaluateSoftmax(numberBuilder, values.map((v) => numberInput(v.value)), plan, undefined, { round });
    depths.push(Math.max(...values.map((v) => v.depth)));
  });
  values.forEach((p, i) => expect(Math.abs(p.value - whole[i]!.value)).toBeLessThan(1e-9));
  for (const d of depths) expect(d).toBeLessThan(plan.depth);
  // The parts' depths add up to the whole's (no level is lost or gained at a cut).
  expect(depths.reduce((a, b) => a + b, 0)).toBe(plan.depth);
}

/**
 * Rows like attention's after training: each row's scores centred on its mean (the passes centre
 * them), some flat (all near 0), some peaked (one score far above the rest), spread over a wide
 * range. Returns the rows and the calibration ranges they give (scores, and Σ exp(x − max score)).
 */
function attentionRows(seed: number, count: number, n: number, width: number): { rows: Float64Array[]; scores: [number, number]; sums: [number, number] } {
  const rand = mulberry32(seed);
  const rows = Array.from({ length: count }, (_v, r) => {
    // Flat rows, peaked rows, and rows whose scores spread uniformly, in turn.
    const kind = r % 3;
    const x = Float64Array.from({ length: n }, () => (kind === 0 ? 0.5 * (rand() - 0.5) : kind === 1 ? (rand() - 0.5) * 2 : (rand() - 0.5) * width));
    if (kind === 1) x[Math.floor(rand() * n)]! += width / 2 * (0.5 + 0.5 * rand());
    const mean = x.reduce((a, b) => a + b, 0) / n;
    return x.map((v) => v - mean);
  });
  const lo = Math.min(...rows.map((r) => Math.min(...r)));
  const hi = Math.max(...rows.map((r) => Math.max(...r)));
  const sums = rows.map((r) => r.reduce((a, x) => a + Math.exp(x - hi), 0));
  return { rows, scores: [lo, hi], sums: [Math.min(...sums), Math.max(...sums)] };
}

describe('softmax by powers (wide score ranges, flat rows next to peaked ones)', () => {
  it.each([
    [31, 40, 2 ** -10],
    [10, 36, 2 ** -10],
    [16, 80, 2 ** -10],
    [64, 24, 2 ** -8],
    [8, 12, 2 ** -12],
  ])('rows of %d scores about %d units wide, target %d: a direct float64 softmax within the bound ≤ the target; the parts compute the whole', (n, width, target) => {
    const { rows, scores, sums } = attentionRows(n * 131 + width, 240, n, width);
    const plan = planSoftmax(n, { scores, sums }, { maxError: target });
    expect(plan.maxError).toBeLessThanOrEqual(target);
    let worst = 0;
    for (const row of rows) {
      const got = evaluateSoftmax(numberBuilder, [...row].map(numberInput), plan);
      expect(Math.max(...got.map((g) => g.depth))).toBe(plan.depth);
      // The reference: softmax written out directly in float64, the row max subtracted.
      const max = Math.max(...row);
      const e = Array.from(row, (x) => Math.exp(x - max));
      const s = e.reduce((a, b) => a + b, 0);
      got.forEach((g, i) => (worst = Math.max(worst, Math.abs(g.value - e[i]! / s))));
    }
    for (const row of rows.slice(0, 6)) expectPartsMakeWhole(plan, row);
    expect(worst).toBeLessThanOrEqual(plan.maxError);
  });

  it('scores 40 units wide: no direct plan exists (exp cannot reach the flat rows\' sums), powers at a temperature above 1, a squaring round per doubling, Newton steps in the last round only', () => {
    const { scores, sums } = attentionRows(7, 240, 31, 40);
    expect(sums[0]).toBeLessThan(1e-6);
    const plan = planSoftmax(31, { scores, sums });
    expect(plan.temperature).toBeGreaterThan(1);
    expect(plan.rounds.filter((r) => r.square).length).toBe(Math.log2(plan.temperature));
    // Only the last round has Newton steps; the coarse ones are an interpolant each.
    expect(plan.rounds.slice(0, -1).every((r) => r.inverse.steps === 0)).toBe(true);
  });

  it('rows whose scores sit outside the calibrated range are the one risk: inside it every row holds, however flat or peaked', () => {
    const n = 12;
    const plan = planSoftmax(n, { scores: [-15, 15], sums: [Math.exp(-13), 1] });
    const rand = mulberry32(5);
    let worst = 0;
    for (let k = 0; k < 400; k++) {
      // Any row inside the widened score range: a random peak height, the rest anywhere below it.
      const peak = 15 * rand();
      const row = Float64Array.from({ length: n }, () => -15 + (peak + 15) * rand());
      const got = evaluateSoftmax(numberBuilder, [...row].map(numberInput), plan);
      const want = softmaxReference(row);
      got.forEach((g, i) => (worst = Math.max(worst, Math.abs(g.value - want[i]!))));
    }
    expect(worst).toBeLessThanOrEqual(plan.maxError);
  });
});

describe('LayerNorm', () => {
  const tokens = (seed: number, count: number, d: number): Float64Array[] => {
    const rnd = mulberry32(seed);
    // Per token a random level and spread, so the variances cover a range.
    return Array.from({ length: count }, () => {
      const level = 8 * rnd() - 4;
      const spread = 0.2 + 3 * rnd();
      return Float64Array.from({ length: d }, () => level + spread * (2 * rnd() - 1));
    });
  };
  const variance = (x: Float64Array): number => {
    const m = x.reduce((a, v) => a + v, 0) / x.length;
    return x.reduce((a, v) => a + (v - m) ** 2, 0) / x.length;
  };

  it.each([[4, 1e-5], [16, 1e-5], [6, 0.1]])('tokens of %d features, ε = %d: measured ≤ the bound ≤ the target', (d, epsilon) => {
    const xs = tokens(d * 13 + 1, 300, d);
    const vars = xs.map(variance);
    const rnd = uniform(mulberry32(5), -2, 2);
    const affine: LayerNormAffine = { epsilon, gamma: Float64Array.from({ length: d }, rnd), beta: Float64Array.from({ length: d }, rnd) };
    const plan = planLayerNorm(d, { variance: [Math.min(...vars), Math.max(...vars)] }, affine, { maxError: 1e-4 });
    expect(plan.maxError).toBeLessThanOrEqual(1e-4);
    let worst = 0;
    for (const x of xs) {
      const got = evaluateLayerNorm(numberBuilder, [...x].map(numberInput), plan);
      const want = layerNormReference(x, affine);
      got.forEach((g, i) => (worst = Math.max(worst, Math.abs(g.value - want[i]!))));
      expect(Math.max(...got.map((g) => g.depth))).toBe(plan.depth);
    }
    expect(worst).toBeLessThanOrEqual(plan.maxError);
  });

  it('a wide variance range (10⁻³ … 45, ε = 10⁻⁵ a percent of the smallest) gets a prescale round: a direct float64 LayerNorm within the bound, ε kept exactly; the two rounds one after another compute the whole, each shallower', () => {
    const d = 8;
    const rnd = mulberry32(17);
    // Tokens with standard deviations from 0.02 to 6.5, log-uniformly: nearly constant ones next to spread ones.
    const xs = Array.from({ length: 300 }, (_v, k) => {
      const sd = 0.02 * Math.exp(Math.log(6.5 / 0.02) * (k < 2 ? k : rnd()));
      const level = 4 * rnd() - 2;
      return Float64Array.from({ length: d }, () => level + sd * Math.sqrt(3) * (2 * rnd() - 1));
    });
    const vars = xs.map(variance);
    const epsilon = 1e-5;
    const gamma = Float64Array.from({ length: d }, () => 2 * rnd() - 1);
    const beta = Float64Array.from({ length: d }, () => 2 * rnd() - 1);
    const plan = planLayerNorm(d, { variance: [Math.min(...vars), Math.max(...vars)] }, { epsilon, gamma, beta });
    expect(plan.prescale).not.toBeNull();
    let worst = 0;
    for (const x of xs) {
      const got = evaluateLayerNorm(numberBuilder, [...x].map(numberInput), plan);
      // The reference, written out: γ·(x − mean)/√(population variance + ε) + β.
      const mean = x.reduce((a, v) => a + v, 0) / d;
      const v = x.reduce((a, y) => a + (y - mean) ** 2, 0) / d;
      got.forEach((g, i) => (worst = Math.max(worst, Math.abs(g.value - (gamma[i]! * (x[i]! - mean)) / Math.sqrt(v + epsilon) - beta[i]!))));
      expect(Math.max(...got.map((g) => g.depth))).toBe(plan.depth);
    }
    expect(worst).toBeLessThanOrEqual(plan.maxError);
    // Dropping ε would be seen: on the flattest token it moves the result by far more than the bound.
    const flattest = xs[vars.indexOf(Math.min(...vars))]!;
    const withoutEpsilon = planLayerNorm(d, { variance: [Math.min(...vars), Math.max(...vars)] }, { epsilon: 0, gamma, beta });
    const a = evaluateLayerNorm(numberBuilder, [...flattest].map(numberInput), plan).map((g) => g.value);
    const b = evaluateLayerNorm(numberBuilder, [...flattest].map(numberInput), withoutEpsilon).map((g) => g.value);
    expect(Math.max(...a.map((y, i) => Math.abs(y - b[i]!)))).toBeGreaterThan(10 * plan.maxError);
    // The rounds as stages (γ = 1, β = 0, as the row-wise stages plan them).
    const unit = planLayerNorm(d, { variance: [Math.min(...vars), Math.max(...vars)] }, { epsilon, gamma: new Float64Array(d).fill(1), beta: new Float64Array(d) });
    for (const x of xs.slice(0, 20)) {
      const whole = evaluateLayerNorm(numberBuilder, [...x].map(numberInput), unit);
      const first = evaluateLayerNorm(numberBuilder, [...x].map(numberInput), unit, undefined, { round: 0 });
      const second = evaluateLayerNorm(numberBuilder, first.map((v) => numberInput(v.value)), unit, undefined, { round: 1 });
      second.forEach((p, i) => expect(Math.abs(p.value - whole[i]!.value)).toBeLessThan(1e-9));
      const depths = [first, second].map((vs) => Math.max(...vs.map((v) => v.depth)));
      for (const dep of depths) expect(dep).toBeLessThan(unit.depth);
      expect(depths[0]! + depths[1]!).toBe(unit.depth);
    }
  });

  it('the reference is the textbook one on a hand-worked token', () => {
    // x = (1, 3): mean 2, variance 1, so (x − μ)/√(1 + 0) = (−1, 1); γ = (2, 3), β = (0.5, −1).
    expect([...layerNormReference([1, 3], { epsilon: 0, gamma: [2, 3], beta: [0.5, -1] })]).toEqual([-1.5, 2]);
  });

  it('refuses mismatched constants and a variance range it cannot invert, in one line', () => {
    expect(() => planLayerNorm(3, { variance: [0.1, 1] }, { epsilon: 1e-5, gamma: [1, 1], beta: [0, 0, 0] })).toThrow(/3 features with 2 scales and 3 shifts/);
    expect(() => planLayerNorm(3, { variance: [0, 1] }, { epsilon: 0, gamma: [1, 1, 1], beta: [0, 0, 0] })).toThrow(/ε = 0 needs a variance range above 0/);
  });
});

describe('emitted as a circuit (batch layout: one ciphertext per element, a row per slot)', () => {
  const SLOTS = 64;
  /**
   * Builds inputs → construct → outputs, assigns scales on enough 50-bit primes (checked by
   * checkCircuit) and runs it. At 40-bit scales the degree-31 exp on a margin-widened score range
   * (values to e^6, coefficients to ~90) already loses ~2^19 of the encoding's 2^-40, and 1/S
   * multiplies that by up to 1/S_lo: what the parameter search's precision bits must cover.
   */
  function run(n: number, emit: (b: CircuitBuilder, xs: number[]) => number[], rows: readonly Float64Array[]): { outputs: Float64Array[]; depth: number } {
    const b = new CircuitBuilder(SLOTS);
    const xs = Array.from({ length: n }, (_v, i) => b.input({ kind: 'feature', feature: i }));
    emit(b, xs).forEach((y, i) => b.output(y, { kind: 'feature', element: i }));
    const built = b.finish('batch', n, n, 1);
    const circuit = assignScales(built, nttPrimes(2 * SLOTS, 50, built.depth).map(Number));
    const inputs = Array.from({ length: n }, (_v, i) => Float64Array.from({ length: SLOTS }, (_w, s) => rows[s % rows.length]![i]!));
    return { outputs: simulateCircuit(circuit, inputs), depth: built.depth };
  }

  it('softmax: the circuit computes the float64 semantics, at the depth the plan declares', () => {
    const n = 5;
    const { rows, sums } = scoreRows(11, SLOTS, n, -8, 4);
    const plan = planSoftmax(n, { scores: [-8, 4], sums });
    const { outputs, depth } = run(n, (b, xs) => emitSoftmax(b, xs, plan), rows);
    expect(depth).toBe(plan.depth);
    const semantics = evaluateSoftmax(vectorBuilder, Array.from({ length: n }, (_v, i) => vectorInput(rows.map((r) => r[i]!))), plan);
    for (let s = 0; s < SLOTS; s++) {
      const want = softmaxReference(rows[s]!);
      for (let i = 0; i < n; i++) {
        // The simulation rounds each plaintext constant to its encode scale as SEAL does (~2^-50, amplified as above).
        expect(Math.abs(outputs[i]![s]! - semantics[i]!.values[s]!)).toBeLessThan(1e-8);
        expect(Math.abs(outputs[i]![s]! - want[i]!)).toBeLessThanOrEqual(plan.maxError);
      }
    }
  });

  it('LayerNorm: the circuit computes the float64 semantics, at the depth the plan declares', () => {
    const d = 6;
    const rnd = mulberry32(3);
    const rows = Array.from({ length: SLOTS }, () => Float64Array.from({ length: d }, () => 4 * rnd() - 1));
    const vars = rows.map((x) => {
      const m = x.reduce((a, v) => a + v, 0) / d;
      return x.reduce((a, v) => a + (v - m) ** 2, 0) / d;
    });
    const affine = { epsilon: 1e-5, gamma: [1, 0.5, -2, 1.5, 0.25, 3], beta: [0, 0.1, -0.2, 0.3, 1, -1] };
    const plan = planLayerNorm(d, { variance: [Math.min(...vars), Math.max(...vars)] }, affine);
    const { outputs, depth } = run(d, (b, xs) => emitLayerNorm(b, xs, plan), rows);
    expect(depth).toBe(plan.depth);
    const semantics = evaluateLayerNorm(vectorBuilder, Array.from({ length: d }, (_v, i) => vectorInput(rows.map((r) => r[i]!))), plan);
    for (let s = 0; s < SLOTS; s++) {
      const want = layerNormReference(rows[s]!, affine);
      for (let i = 0; i < d; i++) {
        expect(Math.abs(outputs[i]![s]! - semantics[i]!.values[s]!)).toBeLessThan(1e-8);
        expect(Math.abs(outputs[i]![s]! - want[i]!)).toBeLessThanOrEqual(plan.maxError);
      }
    }
  });
});

describe('emitted packed (vector layout: a row or token in the slots of one ciphertext, summed by rotations)', () => {
  const SLOTS = 64;
  const W = 4;
  /** One sample replicated with period W through the construct; its W outputs read from slots 0..W−1. */
  function runPacked(emit: (b: CircuitBuilder, x: number) => number[], sample: Float64Array): { out: Float64Array; depth: number; rotations: readonly number[] } {
    const b = new CircuitBuilder(SLOTS);
    const x = b.input({ kind: 'replicated', size: W, period: W });
    const [y] = emit(b, x);
    b.output(y!, { kind: 'slots', slots: [0, 1, 2, 3], elements: [0, 1, 2, 3] });
    const built = b.finish('vector', W, W, W);
    const circuit = assignScales(built, nttPrimes(2 * SLOTS, 50, built.depth).map(Number));
    const slots = Float64Array.from({ length: SLOTS }, (_v, i) => sample[i % W]!);
    const out = simulateCircuit(circuit, [slots])[0]!;
    // Every period of the result holds the same W values: the sums reached every slot.
    for (let i = W; i < SLOTS; i++) expect(Math.abs(out[i]! - out[i % W]!)).toBeLessThan(1e-9);
    return { out: out.subarray(0, W), depth: built.depth, rotations: circuit.rotationSteps };
  }

  it('softmax: the reference within the bound, at the plan’s depth, with rotations by 1 and 2 only', () => {
    const { rows, sums } = scoreRows(21, 50, W, -5, 3);
    const plan = planSoftmax(W, { scores: [-5, 3], sums });
    for (const row of rows.slice(0, 5)) {
      const { out, depth, rotations } = runPacked((b, x) => emitSoftmax(b, [x], plan, { packedWidth: W }), row);
      expect(depth).toBe(plan.depth);
      expect(rotations).toEqual([1, 2]);
      const want = softmaxReference(row);
      out.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(plan.maxError));
    }
  });

  it('LayerNorm: the normalized token (γ = 1, β = 0) within the bound, at the plan’s depth; other γ, β refused', () => {
    const rnd = mulberry32(8);
    const tokens = Array.from({ length: 30 }, () => Float64Array.from({ length: W }, () => 6 * rnd() - 2));
    const vars = tokens.map((x) => {
      const m = x.reduce((a, v) => a + v, 0) / W;
      return x.reduce((a, v) => a + (v - m) ** 2, 0) / W;
    });
    const unit = { epsilon: 1e-5, gamma: [1, 1, 1, 1], beta: [0, 0, 0, 0] };
    const plan = planLayerNorm(W, { variance: [Math.min(...vars), Math.max(...vars)] }, unit);
    for (const x of tokens.slice(0, 5)) {
      const { out, depth } = runPacked((b, v) => emitLayerNorm(b, [v], plan, { packedWidth: W }), x);
      expect(depth).toBe(plan.depth);
      const want = layerNormReference(x, unit);
      out.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(plan.maxError));
    }
    const scaled = planLayerNorm(W, { variance: [Math.min(...vars), Math.max(...vars)] }, { ...unit, gamma: [2, 1, 1, 1] });
    expect(() => runPacked((b, v) => emitLayerNorm(b, [v], scaled, { packedWidth: W }), tokens[0]!)).toThrow(/a packed LayerNorm takes γ = 1 and β = 0/);
  });
});
