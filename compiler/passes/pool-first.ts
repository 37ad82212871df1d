/**
 * A MaxPool right after an activation f that never decreases runs before it: max_i f(x_i) =
 * f(max_i x_i), exactly, so Activation → MaxPool becomes MaxPool → Activation on the pooled
 * values. Why it pays under encryption: the pool is a client step (compiler/client-steps/), and
 * the segment before it must also keep a spare level and spend one on the mask, so a deep
 * polynomial there sets N for the whole body; after the move that segment is the affine map and
 * the mask, and the polynomial opens the segment after the step. The polynomial also runs on the
 * pooled values (a quarter of them for a 2×2 pool), whose calibrated range leaves out most of the
 * negative side, so a lower degree meets the same precision (pt_cnn_maxpool_digits: ReLU degree
 * 127 at N = 32768 before, 31 at N = 16384 after).
 *
 * What the client sees at the step changes with it: the window values it decrypts (masked as
 * a·y + c) are the activation's inputs instead of its outputs (client-steps/max-pool.ts describe).
 *
 * Only in a chain (no stage with `reads`): there an activation's output is read by the stage
 * after it alone. Not when the pool would then read the encrypted input itself or follow another
 * client step (a pool, a softmax, a LayerNorm: cuts the compiler refuses).
 */
import { activationRecord } from '../activations/registry';
import type { ActivationStage, Stage } from '../chain/stages';
import { isStepStage } from '../chain/step-stages';

export function poolBeforeActivations(stages: readonly Stage[]): Stage[] {
  const out = [...stages];
  if (out.some((s) => s.kind === 'affine' && s.reads !== undefined)) return out;
  for (let k = 1; k < out.length; k++) {
    const f = out[k - 1]!;
    const pool = out[k]!;
    if (f.kind !== 'activation' || pool.kind !== 'maxpool' || !commutes(f)) continue;
    // Not onto the encrypted input, nor right after another client step: two steps would then meet (refresh-plan's checkPools).
    if (k === 1 || isStepStage(out[k - 2]!)) continue;
    // The words that travel with the pool (compile, report, the client-step description) say what moved.
    const moved = `taken ahead of the ${activationRecord(f.fn).title} (${f.sources.join(', ')}) that it follows in the model, which never decreases, so the client sees that activation's inputs`;
    out[k - 1] = { ...pool, geometry: `${pool.geometry}; ${moved}` };
    out[k] = { ...f, size: pool.windows.length };
  }
  return out;
}

function commutes(f: ActivationStage): boolean {
  return activationRecord(f.fn).nonDecreasing(f.params ?? {});
}

