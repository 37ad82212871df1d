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
import { BODY_INPUT, readersOf, stageInput } from '../chain/stage-graph';
import { activationFunction } from '../activations/registry';
import { multiplyFactors } from '../chain/product';
import { applyAffine } from '../chain/affine-apply';
import { applyRowPoly } from './row-plans';
import { applyStepStage, isStepStage } from '../chain/step-stages';
import { stageOutSize } from '../chain/stages';

/** The body with the mean polynomial error of every activation folded into the bias of each affine map that reads it. */
export function correctPolynomialBias(stages: readonly ApproxStage[], rows: readonly Float64Array[]): ApproxStage[] {
  const out = [...stages];
  const inputSize = rows[0]?.length ?? 0;
  const readers = readersOf(stages, (k) => (k === BODY_INPUT ? inputSize : outSizeOf(stages[k]!)));
  const outputs: Float64Array[][] = rows.map(() => []);
  out.forEach((_stage, k) => {
    const s = out[k]!;
    const xs = rows.map((r, i) => stageInput(out, k, r, outputs[i]!));
    if (s.kind === 'affine') {
      xs.forEach((x, i) => outputs[i]!.push(applyAffine(s, x)));
      return;
    }
    // A client step (a max) does not carry a mean shift through unchanged: the error is left as it is there.
    if (isStepStage(s)) {
      xs.forEach((x, i) => outputs[i]!.push(applyStepStage(s, x)));
      return;
    }
    // A product's factors carry their own (already corrected) errors; its output is not shifted here.
    if (s.kind === 'product') {
      xs.forEach((x, i) => outputs[i]!.push(multiplyFactors(s, x)));
      return;
    }
    // Softmax and LayerNorm as planned: their error is bounded by the plan, not shifted here.
    if (s.kind === 'rowpoly') {
      xs.forEach((x, i) => outputs[i]!.push(applyRowPoly(s, x)));
      return;
    }
    const f = activationFunction(s);
    const [lo, hi] = s.range;
    const mean = new Float64Array(s.size);
    xs.forEach((t, i) => {
      const y = t.map((v) => clenshaw(s.chebyshev, v));
      for (let u = 0; u < s.size; u++) mean[u]! += (y[u]! - f(lo + ((t[u]! + 1) * (hi - lo)) / 2)) / xs.length;
      outputs[i]!.push(y);
    });
    if (xs.length === 0) return;
    for (const { stage, offset } of readers[k]!) {
      const next = out[stage]!;
      if (next.kind !== 'affine') continue;
      const bias = Float64Array.from(next.bias);
      for (let r = 0; r < next.outSize; r++) {
        let shift = 0;
        for (let j = 0; j < s.size; j++) shift += next.weights[r * next.inSize + offset + j]! * mean[j]!;
        bias[r]! -= shift;
      }
      out[stage] = { ...next, bias };
    }
  });
  return out;
}

function outSizeOf(s: ApproxStage): number {
  return stageOutSize(s);
}

