/**
 * Bias correction of the polynomial activations: on the calibration rows, each unit's polynomial
 * error p(t) − f(x) has a mean that is not zero (a Chebyshev interpolant of a kinked function sits
 * above it near the kink, where most of a ReLU layer's inputs are). Pushed through the next affine
 * map, those means are a fixed shift of every logit, different per class, which flips close
 * predictions. Subtracting W·mean from that map's bias removes the shift at no cost: it is a
 * plaintext bias the circuit adds anyway. Only what varies from row to row is left.
 */
import { clenshaw } from './chebyshev';
import type { ApproxStage } from '../chain/stages';
import { activationFunction } from '../activations/registry';

/** The chain with the mean polynomial error of every activation followed by an affine map folded into that map's bias. */
export function correctPolynomialBias(stages: readonly ApproxStage[], rows: readonly Float64Array[]): ApproxStage[] {
  const out = [...stages];
  let xs: Float64Array[] = rows.map((r) => Float64Array.from(r));
  out.forEach((s, k) => {
    if (s.kind === 'affine') {
      xs = xs.map((x) => applyAffine(out[k] as typeof s, x));
      return;
    }
    const f = activationFunction(s);
    const [lo, hi] = s.range;
    const mean = new Float64Array(s.size);
    const ys = xs.map((t): Float64Array => {
      const y = t.map((v) => clenshaw(s.chebyshev, v));
      for (let i = 0; i < s.size; i++) mean[i]! += (y[i]! - f(lo + ((t[i]! + 1) * (hi - lo)) / 2)) / xs.length;
      return y;
    });
    xs = ys;
    const next = out[k + 1];
    if (next?.kind !== 'affine' || xs.length === 0) return;
    const bias = Float64Array.from(next.bias);
    for (let r = 0; r < next.outSize; r++) {
      let shift = 0;
      for (let j = 0; j < next.inSize; j++) shift += next.weights[r * next.inSize + j]! * mean[j]!;
      bias[r]! -= shift;
    }
    out[k + 1] = { ...next, bias };
  });
  return out;
}

function applyAffine(s: Extract<ApproxStage, { kind: 'affine' }>, x: Float64Array): Float64Array {
  const y = Float64Array.from(s.bias);
  for (let i = 0; i < s.outSize; i++) {
    let sum = 0;
    for (let j = 0; j < s.inSize; j++) sum += s.weights[i * s.inSize + j]! * x[j]!;
    y[i]! += sum;
  }
  return y;
}
