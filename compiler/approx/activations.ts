import type { ActivationFn } from '../passes/chain';

/** An activation as the fitter sees it: a float64 function plus the facts that make fits cheaper. */
export interface Activation {
  readonly fn: ActivationFn;
  readonly eval: (x: number) => number;
  /**
   * Points where f is not smooth. Error grids include them, because the worst error of a
   * polynomial fit sits exactly at a kink and a uniform grid can step over it.
   */
  readonly kinks: readonly number[];
  /**
   * f(x) − offset is odd when set (sigmoid − ½, tanh). On a range symmetric about 0 the fit then
   * has only odd Chebyshev terms, which the evaluator skips for free.
   */
  readonly oddAbout?: number;
}

/** 1/(1+e^−x) written so neither branch overflows. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/**
 * erf to a few ulp. Below 1.5: 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)), whose terms are
 * all positive (no cancellation). Above: 1 − erfc(x) with erfc from its continued fraction
 * e^(−x²)/√π · 1/(x + ½/(x + 1/(x + 3/2/(x + …)))), accurate relative to erfc's small value.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  let value: number;
  if (ax < 1.5) {
    const x2 = ax * ax;
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    value = (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
  } else {
    let fraction = ax;
    for (let n = 80; n >= 1; n--) fraction = ax + n / 2 / fraction;
    value = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / fraction;
  }
  return x < 0 ? -value : value;
}

const ACTIVATIONS: Record<ActivationFn, Activation> = {
  relu: { fn: 'relu', eval: (x) => (x > 0 ? x : 0), kinks: [0] },
  sigmoid: { fn: 'sigmoid', eval: sigmoid, kinks: [], oddAbout: 0.5 },
  tanh: { fn: 'tanh', eval: Math.tanh, kinks: [], oddAbout: 0 },
  // ONNX Gelu with approximate="none": x·Φ(x).
  gelu: { fn: 'gelu', eval: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), kinks: [] },
  silu: { fn: 'silu', eval: (x) => x * sigmoid(x), kinks: [] },
};

export function activation(fn: ActivationFn): Activation {
  return ACTIVATIONS[fn];
}

export const ACTIVATION_FNS: readonly ActivationFn[] = Object.keys(ACTIVATIONS) as ActivationFn[];
