import { beforeAll, describe, expect, it } from 'vitest';
import SEAL, { type MainModule } from 'node-seal';
import { chainAvailable, createCoeffModulus, isPrime64, nttPrimes } from '../../compiler/params/primes';
import { DeepPowersError } from '../../compiler/errors';

let seal: MainModule;
beforeAll(async () => {
  seal = await SEAL();
});

function sealPrimes(n: number, bits: readonly number[]): bigint[] {
  const vec = seal.CoeffModulus.Create(n, Int32Array.from(bits));
  try {
    return seal.jsArrayFromVecModulus(vec) as bigint[];
  } finally {
    vec.delete();
  }
}

describe('isPrime64', () => {
  it('agrees with trial division on small numbers', () => {
    for (let n = 0; n < 2000; n++) {
      let prime = n >= 2;
      for (let d = 2; d * d <= n; d++) if (n % d === 0) prime = false;
      expect(isPrime64(BigInt(n))).toBe(prime);
    }
  });

  it('handles 64-bit primes and strong pseudoprimes', () => {
    expect(isPrime64(18446744073709551557n)).toBe(true); // largest prime below 2^64
    expect(isPrime64((1n << 61n) - 1n)).toBe(true); // Mersenne M61
    expect(isPrime64(3215031751n)).toBe(false); // strong pseudoprime to bases 2, 3, 5, 7
    expect(isPrime64(3825123056546413051n)).toBe(false); // strong pseudoprime to bases up to 23
    expect(isPrime64(18446744073709551559n)).toBe(false);
  });
});

describe('createCoeffModulus matches node-seal CoeffModulus.Create', () => {
  const cases: Array<[number, number[]]> = [
    [1024, [27]],
    [2048, [27, 27]],
    [4096, [40, 20, 40]],
    [4096, [36, 36, 37]],
    [8192, [60, 40, 40, 60]],
    [8192, [31, 26, 26, 26, 26, 26, 26, 31]],
    [8192, [30, 40, 30, 50, 40]],
    [16384, [60, 40, 40, 40, 40, 40, 40, 40, 60]],
    [16384, [40, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 40]],
    [32768, [60, ...Array<number>(19).fill(40), 60]],
    [32768, [50, ...Array<number>(26).fill(30), 50]],
  ];
  for (const [n, bits] of cases) {
    it(`N=${n} bits=[${bits.join(',')}]`, () => {
      const ours = createCoeffModulus(n, bits);
      expect(ours).toEqual(sealPrimes(n, bits));
      for (const [i, p] of ours.entries()) {
        expect(p % BigInt(2 * n)).toBe(1n);
        expect(p.toString(2).length).toBe(bits[i]);
      }
      expect(new Set(ours).size).toBe(ours.length);
    });
  }

  it('refuses, like SEAL, when a size has too few NTT primes', () => {
    // At N = 32768 only a handful of 20-bit values are ≡ 1 mod 65536.
    const bits = Array<number>(6).fill(20);
    expect(() => sealPrimes(32768, bits)).toThrow();
    expect(chainAvailable(32768, bits)).toBe(false);
    expect(() => createCoeffModulus(32768, bits)).toThrow(DeepPowersError);
    const available = nttPrimes(32768, 20, 10).length;
    expect(available).toBeLessThan(6);
    expect(createCoeffModulus(32768, Array<number>(available).fill(20))).toEqual(
      sealPrimes(32768, Array<number>(available).fill(20)),
    );
  });

  it('rejects sizes and degrees SEAL rejects', () => {
    expect(() => createCoeffModulus(8192, [61])).toThrow(/61 bits/);
    expect(() => createCoeffModulus(8192, [1])).toThrow(DeepPowersError);
    expect(() => createCoeffModulus(3000, [40])).toThrow(/power of two/);
    expect(() => createCoeffModulus(8192, [])).toThrow(DeepPowersError);
  });
});
