/**
 * --rotation-keys: a rotation by k as rotations by the powers of two in k (left), or in slots − k
 * (right), so a few keys serve every step; the circuits compute the same products.
 */
import { describe, expect, it } from 'vitest';
import { lowerChain } from '../../compiler/circuit/lower';
import { assignScales } from '../../compiler/circuit/passes-scales';
import { countOps } from '../../compiler/circuit/count';
import { rotationChain } from '../../compiler/circuit/rotation-keys';
import type { AffineStage } from '../../compiler/chain/stages';
import { nttPrimes } from '../../compiler/params/primes';
import { simulateSamples } from '../../runtime/backends/simulate';
import { lcg } from '../helpers/random';
import { affineStage } from '../helpers/stages';

describe('rotationChain', () => {
  it('splits a step into the powers of two of its binary expansion, hand-worked', () => {
    expect(rotationChain(240, 8192, 'powers-of-two')).toEqual([16, 32, 64, 128]);
    expect(rotationChain(15, 8192, 'powers-of-two')).toEqual([1, 2, 4, 8]);
    expect(rotationChain(4096, 8192, 'powers-of-two')).toEqual([4096]);
    // Past half the slots it is a right rotation: by 1 (8191 ≡ −1), by 12 = 4 + 8.
    expect(rotationChain(8191, 8192, 'powers-of-two')).toEqual([8191]);
    expect(rotationChain(8192 - 12, 8192, 'powers-of-two')).toEqual([8192 - 4, 8192 - 8]);
    expect(rotationChain(240, 8192, 'all')).toEqual([240]);
  });

  it('every step of 64 slots: the parts add up to the step, at most 5 of them, keys from 11 values', () => {
    const slots = 64;
    const keys = new Set<number>();
    for (let k = 1; k < slots; k++) {
      const parts = rotationChain(k, slots, 'powers-of-two');
      expect(parts.reduce((a, b) => a + b, 0) % slots).toBe(k);
      expect(parts.length).toBeLessThanOrEqual(5);
      for (const p of parts) keys.add(p);
    }
    expect([...keys].sort((a, b) => a - b)).toEqual([1, 2, 4, 8, 16, 32, 48, 56, 60, 62, 63]);
    expect(() => rotationChain(0, slots, 'powers-of-two')).toThrow();
    expect(() => rotationChain(64, slots, 'powers-of-two')).toThrow();
  });
});

function apply(stage: AffineStage, x: Float64Array): Float64Array {
  const y = Float64Array.from(stage.bias);
  for (let i = 0; i < stage.outSize; i++) for (let j = 0; j < stage.inSize; j++) y[i]! += stage.weights[i * stage.inSize + j]! * x[j]!;
  return y;
}

describe('lowering with powers-of-two keys', () => {
  it('vector layout: W·x + b exactly as with a key per step, only power-of-two steps, no fewer rotations', () => {
    const r = lcg(5);
    const stage = affineStage(24, 40, () => 2 * r() - 1, () => 2 * r() - 1, ['fc']);
    const slots = 128;
    const primes = nttPrimes(2 * slots, 40, 1).map(Number);
    const all = assignScales(lowerChain([stage], { layout: 'vector', slots }), primes);
    const pow2 = assignScales(lowerChain([stage], { layout: 'vector', slots, rotationKeys: 'powers-of-two' }), primes);
    const isPow2 = (k: number) => (k & (k - 1)) === 0 || ((slots - k) & (slots - k - 1)) === 0;
    expect(all.rotationSteps.some((k) => !isPow2(k))).toBe(true);
    expect(pow2.rotationSteps.every(isPow2)).toBe(true);
    expect(pow2.rotationSteps.length).toBeLessThan(all.rotationSteps.length);
    expect(countOps(pow2).rotations).toBeGreaterThanOrEqual(countOps(all).rotations);
    expect(pow2.depth).toBe(all.depth);
    const xs = Array.from({ length: 3 }, () => Float64Array.from({ length: 40 }, () => 2 * r() - 1));
    const got = simulateSamples(pow2, xs);
    xs.forEach((x, s) => {
      const want = apply(stage, x);
      for (let i = 0; i < 24; i++) expect(Math.abs(got[s]![i]! - want[i]!)).toBeLessThan(1e-9);
    });
  });
});
