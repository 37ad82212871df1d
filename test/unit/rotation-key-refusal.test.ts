import { describe, expect, test } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import { firstLowering, type ChainPlan, type Lowering } from '../../compiler/pipeline/steps/plan-search';

/**
 * Search step a under --rotation-keys auto, on stand-in lowerings that refuse with the heap
 * estimate of each key set: when both are refused, the refusal must name what stays over the heap
 * with powers-of-two keys too (for the transformers it is the plaintexts, not the keys), not only
 * the key-per-step estimate.
 */
const ALL = 'no layout fits: vector: the body needs about 25.06 GiB (evaluation keys 4.87 GiB for 94 rotation steps)';
const POW2 = 'no layout fits: vector: the body needs about 5.91 GiB (evaluation keys 0.62 GiB for 11 rotation steps, plaintexts 2.74 GiB)';

function refusing(refusePowersOfTwo: boolean): { lower: Lowering; tried: string[] } {
  const tried: string[] = [];
  const lower: Lowering = (_degree, keys) => {
    tried.push(keys);
    if (keys === 'all') throw new DeepPowersError('PARAMS', ALL);
    if (refusePowersOfTwo) throw new DeepPowersError('PARAMS', POW2);
    return { rotationKeys: keys } as unknown as ChainPlan;
  };
  return { lower, tried };
}

describe('rotation keys auto: refusals', () => {
  test('both key sets over the heap: the error names both estimates', () => {
    const { lower, tried } = refusing(true);
    let caught: unknown;
    try {
      firstLowering(lower, 'all', 'auto');
    } catch (e) {
      caught = e;
    }
    expect(tried).toEqual(['all', 'powers-of-two']);
    expect(caught).toBeInstanceOf(DeepPowersError);
    const err = caught as DeepPowersError;
    expect(err.code).toBe('PARAMS');
    expect(err.message).toContain('94 rotation steps');
    expect(err.message).toContain('11 rotation steps, plaintexts 2.74 GiB');
    expect(err.message).toMatch(/key per rotation step.*powers of two only/);
  });

  test('powers of two fit: they are kept', () => {
    const { lower } = refusing(false);
    expect(firstLowering(lower, 'all', 'auto').rotationKeys).toBe('powers-of-two');
  });

  test('--rotation-keys all: no retry, the one refusal as it was', () => {
    const { lower, tried } = refusing(true);
    expect(() => firstLowering(lower, 'all', 'all')).toThrow(ALL);
    expect(tried).toEqual(['all']);
  });
});
