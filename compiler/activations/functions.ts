/**
 * The activations as float64 functions, written once: the registry's records, the reference
 * interpreter's kernels, calibration and the fitter all evaluate these.
 */

export function relu(x: number): number {
  return x > 0 ? x : 0;
}

/** 1/(1+e^−x) written so neither branch overflows: exp of a large positive number is never taken. */
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

/** ONNX Gelu with approximate="none": x·Φ(x). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** x·sigmoid(x) (SiLU, Swish with β = 1). */
export function silu(x: number): number {
  return x * sigmoid(x);
}

/** GELU's tanh approximation (ONNX Gelu with approximate="tanh"). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** x for x ≥ 0, α·x below (LeakyRelu; PRelu with one slope). */
export function leakyRelu(alpha: number): (x: number) => number {
  return (x) => (x >= 0 ? x : alpha * x);
}

/** x for x > 0, α·(eˣ − 1) otherwise; expm1 keeps small negative inputs exact. */
export function elu(alpha: number): (x: number) => number {
  return (x) => (x > 0 ? x : alpha * Math.expm1(x));
}

/** γ·(x for x > 0, α·(eˣ − 1) otherwise). */
export function selu(alpha: number, gamma: number): (x: number) => number {
  return (x) => gamma * (x > 0 ? x : alpha * Math.expm1(x));
}

/** max(0, x) + min(0, α·(e^(x/α) − 1)). */
export function celu(alpha: number): (x: number) => number {
  return (x) => Math.max(0, x) + Math.min(0, alpha * Math.expm1(x / alpha));
}

/** ln(1 + eˣ), as x + ln(1 + e⁻ˣ) above 0 so that eˣ never overflows. */
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

export function softsign(x: number): number {
  return x / (1 + Math.abs(x));
}

/** max(0, min(1, α·x + β)). */
export function hardSigmoid(alpha: number, beta: number): (x: number) => number {
  return (x) => Math.max(0, Math.min(1, alpha * x + beta));
}

/** x·max(0, min(1, x/6 + ½)). */
export function hardSwish(x: number): number {
  return x * Math.max(0, Math.min(1, x / 6 + 0.5));
}

/** x·tanh(softplus(x)). */
export function mish(x: number): number {
  return x * Math.tanh(softplus(x));
}

/** min(max(x, lo), hi); NaN passes through unchanged, as in numpy.clip. */
export function clip(lo: number, hi: number): (x: number) => number {
  return (x) => (Number.isNaN(x) ? x : Math.min(Math.max(x, lo), hi));
}
