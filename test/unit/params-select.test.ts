import { beforeAll, describe, expect, it } from 'vitest';
import type { MainModule } from 'node-seal';
import { DeepPowersError } from '../../compiler/errors';
import { parameterId } from '../../compiler/params/parameter-id';
import { galoisElement, normalizeRotationSteps } from '../../compiler/params/rotations';
import {
  outputBitsForMagnitude,
  precisionBitsForError,
  selectParameters,
} from '../../compiler/params/select';
import { TC128_MAX_BIT_COUNT } from '../../compiler/params/security';
import type { CkksParameters, ParameterRequest } from '../../compiler/params/types';
import { createSealContext } from '../../runtime/backends/seal/context';
import { loadSeal } from '../../runtime/backends/seal/seal-module';

let seal: MainModule;
beforeAll(async () => {
  seal = await loadSeal();
});

const DEGREES = [1024, 2048, 4096, 8192, 16384, 32768];

function paramsError(request: ParameterRequest): DeepPowersError {
  try {
    selectParameters(request);
  } catch (e) {
    expect(e).toBeInstanceOf(DeepPowersError);
    expect((e as DeepPowersError).code).toBe('PARAMS');
    return e as DeepPowersError;
  }
  throw new Error(`expected a PARAMS error for ${JSON.stringify(request)}`);
}

/**
 * The policy restated by hand: the cheapest chain allowed at N uses the smallest scale,
 * max(20, ⌈precision + log2 N + 2⌉), with first and special prime of scale + outputBits bits.
 */
function cheapestChainBits(n: number, depth: number, outputBits: number, precisionBits: number): number {
  const scale = Math.max(20, Math.ceil(precisionBits + Math.log2(n) + 2));
  return 2 * (scale + outputBits) + depth * scale;
}

describe('selectParameters', () => {
  it('agrees with node-seal on the 128-bit bound of every N', () => {
    for (const n of DEGREES) {
      expect(seal.CoeffModulus.MaxBitCount(n, seal.SecLevelType.tc128)).toBe(TC128_MAX_BIT_COUNT.get(n));
    }
  });

  for (const slotsNeeded of [1, 64, 2048, 4096, 8192]) {
    for (const outputBits of [8, 20]) {
      it(`picks the smallest N for depth 1..12, ${slotsNeeded} slots, ${outputBits} output bits`, () => {
        for (let depth = 1; depth <= 12; depth++) {
          const p = selectParameters({ depth, slotsNeeded, outputBits });
          const n = p.polyModulusDegree;
          expect(p.slots).toBe(n / 2);
          expect(p.slots).toBeGreaterThanOrEqual(slotsNeeded);
          expect(p.maxBitCount).toBe(TC128_MAX_BIT_COUNT.get(n));
          expect(p.totalBits).toBe(p.coeffModulusBits.reduce((a, b) => a + b, 0));
          expect(p.totalBits).toBeLessThanOrEqual(p.maxBitCount);
          expect(p.levels).toBe(depth);
          expect(p.coeffModulusBits).toHaveLength(depth + 2);
          expect(p.coeffModulusBits[0]).toBe(p.scaleBits + outputBits);
          expect(p.coeffModulusBits.slice(1, -1).every((b) => b === p.scaleBits)).toBe(true);
          expect(Math.max(...p.coeffModulusBits)).toBeLessThanOrEqual(60);
          expect(p.scaleBits).toBeLessThanOrEqual(40);
          expect(p.scaleBits).toBeGreaterThanOrEqual(Math.max(20, Math.ceil(10 + Math.log2(n) + 2)));
          const primes = p.primes.map(BigInt);
          const special = primes[primes.length - 1]!;
          for (const q of primes.slice(0, -1)) expect(special > q).toBe(true);
          // No smaller N that holds the slots can hold even the cheapest allowed chain.
          for (const smaller of DEGREES.filter((d) => d < n && d / 2 >= slotsNeeded)) {
            expect(cheapestChainBits(smaller, depth, outputBits, 10)).toBeGreaterThan(TC128_MAX_BIT_COUNT.get(smaller)!);
          }
          // At the chosen N a larger scale would not fit (unless already at the 40-bit ceiling).
          if (p.scaleBits < 40) {
            expect(2 * (p.scaleBits + 1 + outputBits) + depth * (p.scaleBits + 1)).toBeGreaterThan(p.maxBitCount);
          }
        }
      });
    }
  }

  it('promises precision net of the growth measured with SEAL', () => {
    const at = (depth: number) => selectParameters({ depth, slotsNeeded: 1 });
    expect(at(1).expectedPrecisionBits).toBe(at(1).scaleBits - (13 + 2 + 2));
    expect(at(7).expectedPrecisionBits).toBe(40 - (14 + 2 + 2 + 9));
    expect(at(13).expectedPrecisionBits).toBe(Math.max(0, at(13).scaleBits - (14 + 2 + 2 + 9)));
  });

  it('lands on the textbook chains with default options', () => {
    // 60 + 40·2 + 60 = 200 ≤ 218; depth 5 needs the 25-bit floor at N = 8192 (45 + 125 + 45 = 215).
    const pick = (depth: number) => {
      const p = selectParameters({ depth, slotsNeeded: 1 });
      return [p.polyModulusDegree, p.coeffModulusBits.join(',')];
    };
    expect(pick(2)).toEqual([8192, '60,40,40,60']);
    expect(pick(5)).toEqual([8192, '45,25,25,25,25,25,45']);
    expect(pick(7)).toEqual([16384, '60,40,40,40,40,40,40,40,60']);
    expect(pick(6)[0]).toBe(16384);
    expect(pick(13)[0]).toBe(16384);
    expect(pick(3)).toEqual([8192, '55,35,35,35,55']);
    expect(pick(14)[0]).toBe(32768);
    expect(pick(29)[0]).toBe(32768);
  });

  it('respects forced scale, preferred N and the precision target', () => {
    const forced = selectParameters({ depth: 3, slotsNeeded: 16, scaleBits: 30, outputBits: 10 });
    expect(forced.coeffModulusBits).toEqual([40, 30, 30, 30, 40]);
    expect(forced.polyModulusDegree).toBe(8192);

    const big = selectParameters({ depth: 2, slotsNeeded: 16, preferN: 16384 });
    expect(big.polyModulusDegree).toBe(16384);
    expect(big.scaleBits).toBe(40);

    const precise = selectParameters({ depth: 4, slotsNeeded: 16, precisionBits: 20, outputBits: 10 });
    expect(precise.scaleBits).toBeGreaterThanOrEqual(Math.ceil(20 + Math.log2(precise.polyModulusDegree) + 2 + 7));
    expect(precise.expectedPrecisionBits).toBeGreaterThanOrEqual(20);
    expect(precise.polyModulusDegree).toBe(16384); // 8192 would need 2·45 + 4·35 = 230 > 218 bits
    // With 20 output bits no prime can hold a 42-bit scale: 40 is used and the promise says what
    // is left (growth 1 + ⌈3·log2 4⌉ = 7 bits) instead of claiming the 20 bits asked for.
    const capped = selectParameters({ depth: 4, slotsNeeded: 16, precisionBits: 20 });
    expect(capped.scaleBits).toBe(40);
    expect(capped.expectedPrecisionBits).toBe(40 - (14 + 2 + 2 + 6));
  });

  it('refuses what does not fit, saying what to change', () => {
    expect(paramsError({ depth: 30, slotsNeeded: 1 }).message).toMatch(
      /depth 30 .*N=32768 holds at most 29 levels.*lower-degree activations.*fewer activation layers/,
    );
    expect(paramsError({ depth: 40, slotsNeeded: 1, scaleBits: 40 }).message).toMatch(/smaller scale bits/);
    expect(paramsError({ depth: 6, slotsNeeded: 1, preferN: 8192 }).message).toMatch(/N=8192 holds at most 5 levels.*larger polynomial degree/);
    expect(paramsError({ depth: 1, slotsNeeded: 20000 }).message).toMatch(/20000 slots.*16384/);
    expect(paramsError({ depth: 1, slotsNeeded: 5000, preferN: 8192 }).message).toMatch(/larger polynomial degree/);
    expect(paramsError({ depth: 1, slotsNeeded: 1, scaleBits: 45, outputBits: 20 }).message).toMatch(/65 > 60.*smaller scale bits/);
    expect(paramsError({ depth: 1, slotsNeeded: 1, precisionBits: 40 }).message).toMatch(/bigger --max-error/);
    expect(() => selectParameters({ depth: 1.5, slotsNeeded: 1 })).toThrow(/depth must be an integer/);
    // Deeper than any N holds: a plan that does not fit (the planner cuts or tries another), not a bad argument.
    expect(paramsError({ depth: 127, slotsNeeded: 1 }).message).toMatch(/^depth 127 does not fit under 128-bit security at any polynomial degree/);
    for (const e of [paramsError({ depth: 30, slotsNeeded: 1 })]) expect(e.message).not.toMatch(/\n/);
  });

  // A client step's mask needs room under q0 (compiler/plan/refresh-plan.ts, maskFirstPrimeBits).
  it('firstPrimeBits grows q0 and the special prime past scale + outputBits, at the largest scale whose chain still fits', () => {
    const request = { depth: 9, slotsNeeded: 8192, outputBits: 9, preferN: 16384 };
    // 2·(38 + 9) + 9·38 = 436 ≤ 438: scale 2^38, q0 = 47.
    expect(selectParameters(request).coeffModulusBits).toEqual([47, ...Array<number>(9).fill(38), 47]);
    // Not below what it already has.
    expect(selectParameters({ ...request, firstPrimeBits: 40 }).coeffModulusBits).toEqual([47, ...Array<number>(9).fill(38), 47]);
    // q0 = 49: at 2^38 the chain is 2·49 + 9·38 = 440 > 438, at 2^37 it is 2·49 + 9·37 = 431.
    const grown = selectParameters({ ...request, firstPrimeBits: 49 });
    expect(grown.coeffModulusBits).toEqual([49, ...Array<number>(9).fill(37), 49]);
    expect(grown.scaleBits).toBe(37);
    expect(grown.outputBits).toBe(12);
    expect(paramsError({ ...request, firstPrimeBits: 61 }).message).toMatch(/first prime would need 61 bits > 60/);
  });

  it('derives output and precision bits from calibration magnitudes and error budgets', () => {
    expect(outputBitsForMagnitude(0.5)).toBe(3); // sign + 2 guard bits
    expect(outputBitsForMagnitude(10)).toBe(7); // 4 integer bits + sign + guard
    expect(outputBitsForMagnitude(1000, 0)).toBe(11);
    expect(precisionBitsForError(1e-3)).toBe(12);
    expect(precisionBitsForError(0.5)).toBe(3);
    expect(() => outputBitsForMagnitude(Number.NaN)).toThrow(DeepPowersError);
  });
});

describe('rotation steps', () => {
  it('normalises modulo the slot count, sorted and unique, without 0', () => {
    expect(normalizeRotationSteps([0, 1, -1, 4097, 1, 4096, -4095, 8], 4096)).toEqual([1, 8, 4095]);
    const p = selectParameters({ depth: 1, slotsNeeded: 8, outputBits: 10, rotationSteps: [2, -1, 1, 2] });
    expect(p.rotationSteps).toEqual([1, 2, p.slots - 1]);
    expect(p.galoisElements).toEqual(p.rotationSteps.map((s) => galoisElement(s, p.polyModulusDegree)));
  });

  it('names the Galois elements SEAL generates keys for', async () => {
    const p = selectParameters({ depth: 1, slotsNeeded: 8, outputBits: 10, rotationSteps: [1, 3, 7, -2] });
    expect(p.polyModulusDegree).toBe(4096);
    const ctx = await createSealContext({ ...p, parameterId: parameterId(p) });
    const keygen = new seal.KeyGenerator(ctx.context);
    const keys = keygen.createGaloisKeysWithSteps(Int32Array.from(p.rotationSteps));
    try {
      for (const g of p.galoisElements) expect(keys.hasKey(g)).toBe(true);
      expect(keys.hasKey(galoisElement(5, p.polyModulusDegree))).toBe(false);
      expect(keys.size()).toBe(p.rotationSteps.length);
    } finally {
      keys.delete();
      keygen.delete();
      ctx.dispose();
    }
  });
});

describe('SEAL builds exactly the selected parameters', () => {
  const requests: ParameterRequest[] = [
    { depth: 0, slotsNeeded: 1, outputBits: 10 },
    { depth: 1, slotsNeeded: 1, outputBits: 10 },
    { depth: 2, slotsNeeded: 64 },
    { depth: 5, slotsNeeded: 64, outputBits: 8 },
    { depth: 9, slotsNeeded: 64 },
  ];
  for (const request of requests) {
    it(`depth ${request.depth}`, async () => {
      const p = selectParameters(request);
      const ctx = await createSealContext({ ...p, parameterId: parameterId(p) });
      try {
        expect(ctx.context.parametersSet()).toBe(true);
        expect(ctx.maxLevel).toBe(p.levels);
        expect(ctx.slots).toBe(p.slots);
        const keyData = ctx.context.keyContextData();
        const bitCount = keyData.totalCoeffModulusBitCount();
        keyData.delete();
        expect(bitCount).toBeLessThanOrEqual(p.maxBitCount);
        expect(bitCount).toBeGreaterThan(p.totalBits - p.coeffModulusBits.length);
        expect(p.primesApprox).toEqual(p.primes.map(Number));
      } finally {
        ctx.dispose();
      }
    });
  }
});

describe('parameterId', () => {
  const base = selectParameters({ depth: 2, slotsNeeded: 1 });
  it('is stable for the same N and primes', () => {
    expect(parameterId(base)).toBe(parameterId(selectParameters({ depth: 2, slotsNeeded: 1, rotationSteps: [1, 2] })));
    expect(parameterId(base)).toMatch(/^[0-9a-f]{16}$/);
    // Pinned: changing the canonical form would orphan every stored key and ciphertext.
    expect(parameterId({ polyModulusDegree: 8192, primes: base.primes })).toBe(parameterId(base));
    expect(base.primes).toEqual(['1152921504606748673', '1099510890497', '1099511480321', '1152921504606830593']);
    expect(parameterId(base)).toBe(PINNED_ID_8192_60_40_40_60);
  });
  it('changes with N or any prime', () => {
    const other: CkksParameters = { ...base, primes: [...base.primes.slice(0, -1), '1152921504606584833'] };
    expect(parameterId(other)).not.toBe(parameterId(base));
    expect(parameterId({ polyModulusDegree: 16384, primes: base.primes })).not.toBe(parameterId(base));
    expect(parameterId(selectParameters({ depth: 3, slotsNeeded: 1 }))).not.toBe(parameterId(base));
  });
});

const PINNED_ID_8192_60_40_40_60 = 'aee440b7e7318a74';
