import { describe, expect, it } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import { activationFunction } from '../../compiler/activations/registry';
import {
  CountingBuilder,
  numberBuilder,
  numberInput,
  vectorBuilder,
  vectorInput,
  type NumberValue,
} from '../../compiler/approx/builders';
import { clenshaw, fromUnit } from '../../compiler/approx/chebyshev';
import { chebyshevDepth, evaluateChebyshev, polyCost } from '../../compiler/approx/evaluate';
import { fitActivation } from '../../compiler/approx/fit';
import { parkMiller, uniform } from '../helpers/random';

function signedRandom(seed: number): () => number {
  return uniform(parkMiller(seed), -1, 1);
}

const POINTS = [-1, -0.999, -0.71, -0.3, 0, 0.05, 0.5, 0.87, 1];

describe('evaluateChebyshev', () => {
  it('agrees with Clenshaw to 1e-9 at the minimal depth for random series of degree 0..64', () => {
    const rnd = signedRandom(42);
    for (let d = 0; d <= 64; d++) {
      const c = Float64Array.from({ length: d + 1 }, rnd);
      for (const t of POINTS) {
        const out = evaluateChebyshev(numberBuilder, numberInput(t), c);
        expect(Math.abs(out.value - clenshaw(c, t))).toBeLessThan(1e-9);
        expect(out.depth).toBe(Math.ceil(Math.log2(d + 1)));
      }
      expect(chebyshevDepth(d)).toBe(Math.ceil(Math.log2(d + 1)));
    }
  });

  it('evaluates a whole batch of slots at once', () => {
    const rnd = signedRandom(5);
    const slots = Float64Array.from({ length: 257 }, (_, i) => -1 + (2 * i) / 256);
    for (const d of [1, 2, 3, 7, 12, 15, 31, 40, 63]) {
      const c = Float64Array.from({ length: d + 1 }, rnd);
      const out = evaluateChebyshev(vectorBuilder, vectorInput(slots), c);
      expect(out.depth).toBe(chebyshevDepth(d));
      for (let i = 0; i < slots.length; i++) expect(Math.abs(out.values[i]! - clenshaw(c, slots[i]!))).toBeLessThan(1e-9);
    }
  });

  it('spends about √(2d) + log2 d ct×ct multiplies, at most 1 more', () => {
    const rnd = signedRandom(9);
    for (let d = 1; d <= 63; d++) {
      const c = Float64Array.from({ length: d + 1 }, rnd);
      const cost = polyCost(c);
      expect(cost.depth).toBe(chebyshevDepth(d));
      expect(cost.ctMuls).toBeLessThanOrEqual(Math.sqrt(2 * d) + Math.log2(d) + 1);
    }
    // Pinned for the degrees the fitter produces (dense series).
    const dense = (d: number): Float64Array => Float64Array.from({ length: d + 1 }, (_, k) => 1 / (k + 1.5));
    expect([3, 7, 15, 31, 63].map((d) => polyCost(dense(d)).ctMuls)).toEqual([2, 5, 8, 13, 18]);
  });

  it('the counter, the number builder and polyCost agree', () => {
    const rnd = signedRandom(17);
    for (const d of [5, 15, 33]) {
      const c = Float64Array.from({ length: d + 1 }, rnd);
      const counter = new CountingBuilder();
      const counted = evaluateChebyshev(counter, counter.input(), c);
      const cost = polyCost(c);
      expect(counter.counts).toEqual({ ctMuls: cost.ctMuls, scalarMuls: cost.scalarMuls, adds: cost.adds });
      expect(counted.depth).toBe(cost.depth);
      expect(counter.maxDepth).toBe(cost.depth);
      let muls = 0;
      const spy = { ...numberBuilder, mul: (a: NumberValue, b: NumberValue) => (muls++, numberBuilder.mul(a, b)) };
      evaluateChebyshev(spy, numberInput(0.3), c);
      expect(muls).toBe(cost.ctMuls);
    }
  });

  it('handles tiny degrees directly', () => {
    expect(polyCost([0.7])).toMatchObject({ depth: 0, ctMuls: 0, scalarMuls: 0 });
    expect(polyCost([0.7, 0.2])).toMatchObject({ depth: 1, ctMuls: 0, scalarMuls: 1 });
    expect(polyCost([0.7, 0.2, 0.4])).toMatchObject({ depth: 2, ctMuls: 1 });
    expect(polyCost([0.7, 0.2, 0.4, 0.1])).toMatchObject({ depth: 2, ctMuls: 2 });
    const constant = evaluateChebyshev(numberBuilder, numberInput(0.4), [0.7]);
    expect(constant).toEqual({ value: 0.7, depth: 0 });
    expect(evaluateChebyshev(numberBuilder, numberInput(0.4), [0.7, 0, 0, 0]).value).toBe(0.7);
  });

  it('integer coefficients cost no scalar level: T_2 and T_4 alone', () => {
    expect(polyCost([0, 0, 1])).toMatchObject({ depth: 1, ctMuls: 1, scalarMuls: 0 });
    expect(polyCost([0, 0, 0, 0, 1])).toMatchObject({ depth: 2, ctMuls: 2, scalarMuls: 0 });
    expect(evaluateChebyshev(numberBuilder, numberInput(0.3), [0, 0, 0, 0, 1]).value).toBeCloseTo(Math.cos(4 * Math.acos(0.3)), 14);
  });

  it('trailing zero coefficients do not raise the depth', () => {
    expect(polyCost([1, 2.5, 0, 0, 0, 0])).toMatchObject({ depth: 1, ctMuls: 0 });
    expect(polyCost([1, 2, 0, 0])).toMatchObject({ depth: 0, ctMuls: 0, scalarMuls: 0 });
  });

  it('odd and even-plus-linear series skip the zero terms', () => {
    const rnd = signedRandom(23);
    for (const d of [7, 15, 31, 63]) {
      const full = Float64Array.from({ length: d + 1 }, rnd);
      const odd = Float64Array.from(full, (v, k) => (k % 2 === 1 ? v : 0));
      const evenPlusLinear = Float64Array.from(full, (v, k) => (k % 2 === 0 || k === 1 ? v : 0));
      const [cf, co, ce] = [polyCost(full), polyCost(odd), polyCost(evenPlusLinear)];
      expect(co.depth).toBe(cf.depth);
      expect(ce.depth).toBe(cf.depth);
      expect(co.ctMuls).toBeLessThanOrEqual(cf.ctMuls);
      expect(co.scalarMuls).toBeLessThanOrEqual(cf.scalarMuls);
      expect(co.adds).toBeLessThan(cf.adds);
      expect(ce.ctMuls).toBeLessThan(cf.ctMuls);
      expect(ce.scalarMuls).toBeLessThan(cf.scalarMuls);
      for (const t of POINTS) {
        expect(Math.abs(evaluateChebyshev(numberBuilder, numberInput(t), odd).value - clenshaw(odd, t))).toBeLessThan(1e-9);
      }
    }
  });

  it('adds its depth on top of the input depth', () => {
    const c = Float64Array.from({ length: 16 }, (_, k) => 1 / (k + 1));
    const out = evaluateChebyshev(numberBuilder, { value: 0.25, depth: 3 }, c);
    expect(out.depth).toBe(3 + 4);
    expect(out.value).toBeCloseTo(clenshaw(c, 0.25), 12);
  });

  it('refuses non-finite coefficients', () => {
    try {
      evaluateChebyshev(numberBuilder, numberInput(0), [1, Number.NaN]);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DeepPowersError);
      expect((e as DeepPowersError).code).toBe('BAD_ARGUMENT');
    }
  });
});

describe('fitted activations through the evaluator', () => {
  it('reproduce f within the fit error over the range, batch-wise, at depth log2(d+1)', () => {
    for (const [fn, range, degree, method] of [
      ['sigmoid', [-8, 8], 15, 'chebyshev'],
      ['tanh', [-4, 4], 31, 'remez'],
      ['relu', [-3, 3], 15, 'remez'],
      ['relu', [-0.5, 2], 7, 'chebyshev'],
      ['gelu', [-8, 8], 63, 'chebyshev'],
    ] as const) {
      const fit = fitActivation({ fn, range, degree, method });
      const t = Float64Array.from({ length: 1001 }, (_, i) => -1 + i / 500);
      const out = evaluateChebyshev(vectorBuilder, vectorInput(t), fit.chebyshev);
      expect(out.depth).toBe(Math.log2(degree + 1));
      const f = activationFunction({ fn });
      for (let i = 0; i < t.length; i++) {
        expect(Math.abs(out.values[i]! - f(fromUnit(t[i]!, range)))).toBeLessThanOrEqual(fit.maxError * (1 + 1e-6) + 1e-12);
      }
    }
  });

  it('symmetric fits are cheaper than general series of the same degree', () => {
    const sigmoid = polyCost(fitActivation({ fn: 'sigmoid', range: [-8, 8], degree: 31 }).chebyshev);
    const relu = polyCost(fitActivation({ fn: 'relu', range: [-8, 8], degree: 31 }).chebyshev);
    const general = polyCost(fitActivation({ fn: 'sigmoid', range: [-3, 8], degree: 31 }).chebyshev);
    expect(sigmoid.depth).toBe(5);
    expect(relu.depth).toBe(5);
    expect(general.depth).toBe(5);
    expect(sigmoid.scalarMuls).toBeLessThan(general.scalarMuls);
    expect(relu.scalarMuls).toBeLessThan(general.scalarMuls);
    expect(sigmoid.ctMuls).toBeLessThanOrEqual(general.ctMuls);
    expect(relu.ctMuls).toBeLessThanOrEqual(general.ctMuls);
  });
});
