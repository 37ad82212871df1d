import { describe, expect, test } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import { searchMaskBits } from '../../compiler/pipeline/steps/mask-search';
import type { PlanSearch } from '../../compiler/pipeline/steps/plan-search';

/**
 * --mask-bits auto's search, on stand-in plan searches whose promise holds up to a σ the test sets
 * (`limit`): whatever the guess from the floor's plan says, auto must end at the largest σ in
 * [20, 40] that holds (found here by trying every σ), having compiled the ceiling first and σ + 1
 * below it, and never trust the guess alone.
 */
function fakeSearch(bits: number, limit: number, cut = true, masking: 'coefficients' | 'slots' = 'coefficients'): PlanSearch {
  const reached = bits <= limit;
  const steps = [{ kind: masking === 'coefficients' ? 'coefficient-refresh' : 'refresh' }];
  const plan = { precision: { bound: 1, approximationError: 0.5, noiseBound: reached ? 0.4 : 0.6, reached }, refresh: cut ? { params: { slots: 8192 }, steps } : null };
  return { plan } as unknown as PlanSearch;
}

/** The largest σ in [20, 40] that holds, by trying each: the reference auto must match. */
const largestHolding = (limit: number): number => [...Array(21).keys()].map((k) => 20 + k).filter((b) => b <= limit).pop() ?? 20;

describe('--mask-bits auto search', () => {
  test('every limit 20..40 and every guess 20..40: auto ends at the largest σ that holds, with σ + 1 compiled and failing', () => {
    for (let limit = 20; limit <= 40; limit++) {
      for (let guess = 20; guess <= 40; guess++) {
        const compiled: number[] = [];
        const { mask } = searchMaskBits('auto', (b) => (compiled.push(b), fakeSearch(b, limit)), () => guess);
        const want = largestHolding(limit);
        expect(mask!.bits, `limit ${limit}, guess ${guess}`).toBe(want);
        expect(mask!.mode).toBe('auto');
        expect(compiled[0]).toBe(40);
        expect(compiled).toContain(want);
        if (want === 40) expect(compiled).toEqual([40]);
        if (want < 40) {
          expect(compiled, `limit ${limit}, guess ${guess}`).toContain(want + 1);
          expect(mask!.tried.find((t) => t.bits === want + 1)!.precision!.reached).toBe(false);
          expect(mask!.whyNotMax).toMatch(new RegExp(`σ = ${want + 1}: approximation 0\\.500`));
        } else {
          expect(mask!.whyNotMax).toBeUndefined();
        }
        // A right guess costs at most four compiles (ceiling, floor, guess, guess + 1).
        if (guess === want) expect(compiled.length).toBeLessThanOrEqual(4);
      }
    }
  });

  test('a σ where no plan fits counts as not holding; the floor\'s refusal is the compile\'s', () => {
    const refuse = (limit: number) => (b: number): PlanSearch => {
      if (b > limit) throw new DeepPowersError('PARAMS', `segment 1: the mask needs 2^${b + 7}`);
      return fakeSearch(b, 40);
    };
    const { mask } = searchMaskBits('auto', refuse(38), () => 40);
    expect(mask!.bits).toBe(38);
    expect(mask!.whyNotMax).toMatch(/σ = 39: no plan fits \(segment 1: the mask needs 2\^46\)/);
    expect(() => searchMaskBits('auto', refuse(10), () => 40)).toThrow(/the mask needs 2\^27/);
  });

  test('the floor missing the promise, with σ costing precision (slot masks), keeps the floor and says so; a plan the ceiling does not cut uses no σ', () => {
    const costly = (b: number): PlanSearch => {
      const s = fakeSearch(b, 10, true, 'slots');
      return { ...s, plan: { ...s.plan, precision: { ...s.plan.precision, noiseBound: 0.6 + (b - 20) * 0.01 } } } as PlanSearch;
    };
    const { mask } = searchMaskBits('auto', costly, () => 40);
    expect(mask!.bits).toBe(20);
    expect(mask!.whyNotMax).toMatch(/^not even σ = 20 keeps the precision promise/);
    const compiled: number[] = [];
    const uncut = searchMaskBits('auto', (b) => (compiled.push(b), fakeSearch(b, 40, false)), () => 40);
    expect(uncut.mask).toBeNull();
    expect(compiled).toEqual([40]);
  });

  test('the floor missing the promise, with σ costing nothing (coefficient masks), takes the ceiling after two searches, else the largest σ that fits', () => {
    const compiled: number[] = [];
    const free = searchMaskBits('auto', (b) => (compiled.push(b), fakeSearch(b, 10)), () => 20);
    expect(free.mask!.bits).toBe(40);
    expect(free.mask!.whyNotMax).toBeUndefined();
    expect(compiled).toEqual([40, 20]);
    // Even where a smaller σ would leave a larger scale (a smaller noise term): the promise is missed at every σ, the margin is kept.
    const scaleCost = (b: number): PlanSearch => {
      const s = fakeSearch(b, 10);
      return { ...s, plan: { ...s.plan, precision: { ...s.plan.precision, noiseBound: b > 35 ? 1.2 : 0.6 } } } as PlanSearch;
    };
    expect(searchMaskBits('auto', scaleCost, () => 20).mask!.bits).toBe(40);
    const roomTo37 = (b: number): PlanSearch => {
      if (b > 37) throw new DeepPowersError('PARAMS', 'segment 1: the mask needs 2^46');
      return fakeSearch(b, 10);
    };
    const room = searchMaskBits('auto', roomTo37, () => 20);
    expect(room.mask!.bits).toBe(37);
    expect(room.mask!.whyNotMax).toMatch(/^not even σ = 20 keeps the precision promise, and a larger σ costs it nothing .*σ = 38: no plan fits \(segment 1: the mask needs 2\^46\)/);
  });

  test('an explicit σ is compiled once, as asked, whether or not it holds', () => {
    const compiled: number[] = [];
    const { mask, search } = searchMaskBits(37, (b) => (compiled.push(b), fakeSearch(b, 36)), () => 40);
    expect(compiled).toEqual([37]);
    expect(mask).toEqual({ mode: 'explicit', bits: 37, slots: 8192, tried: [] });
    expect(search.plan.precision.reached).toBe(false);
  });
});
