import type { OpCosts } from '../../compiler/circuit/count';
import { fail } from '../../compiler/errors';
import type { CkksParameters } from '../../compiler/params/types';
import { benchSealOps, type SealOpsBenchResult } from './seal-ops';

/**
 * Per-op node-seal costs measured on this machine at a model's exact modulus chain, in the form
 * the compiler's cost model multiplies op counts by. Measured at the top level (all data
 * primes), which is what `OpCosts.dataPrimes` means: the cost model scales them down per level.
 */
export interface MeasuredCosts {
  readonly bench: SealOpsBenchResult;
  readonly costs: OpCosts;
}

export function chainKey(params: Pick<CkksParameters, 'polyModulusDegree' | 'coeffModulusBits'>): string {
  return `${params.polyModulusDegree}:${params.coeffModulusBits.join(',')}`;
}

export function opCostsOf(bench: SealOpsBenchResult): OpCosts {
  const ms = bench.ms;
  const us = (v: number | null, name: string): number => {
    if (v === null) fail('IO', `the ops benchmark has no ${name} time at level ${bench.level}`);
    return v * 1000;
  };
  const add = us(ms.add, 'add');
  return {
    dataPrimes: bench.level + 1,
    micros: {
      rotate: us(ms.rotate, 'rotate'),
      relin: us(ms.relinearize, 'relinearize'),
      mulCt: us(ms.multiply, 'multiply'),
      mulPt: us(ms.multiplyPlain, 'multiplyPlain'),
      rescale: us(ms.rescale, 'rescale'),
      // Dropping a prime of an NTT-form ciphertext is a copy of what is left: about an addition.
      modswitch: add,
      add,
    },
    encodeMicros: us(ms.encode, 'encode'),
    encryptMicros: us(ms.encrypt, 'encrypt'),
    decryptMicros: us(ms.decryptDecode, 'decryptDecode'),
  };
}

/** Measures each distinct chain once per process. */
export class CostTable {
  private readonly measured = new Map<string, MeasuredCosts>();

  constructor(private readonly reps: number) {}

  async costsFor(params: CkksParameters): Promise<MeasuredCosts> {
    const key = chainKey(params);
    let m = this.measured.get(key);
    if (!m) {
      const bench = await benchSealOps({
        polyModulusDegree: params.polyModulusDegree,
        coeffModulusBits: params.coeffModulusBits,
        scaleBits: params.scaleBits,
        reps: this.reps,
      });
      m = { bench, costs: opCostsOf(bench) };
      this.measured.set(key, m);
    }
    return m;
  }

  /** Every measurement so far, grouped by N (the `ops` section of the bench JSON). */
  byN(): Record<string, SealOpsBenchResult[]> {
    const out: Record<string, SealOpsBenchResult[]> = {};
    for (const { bench } of this.measured.values()) (out[String(bench.polyModulusDegree)] ??= []).push(bench);
    return out;
  }
}
