/**
 * The softmax and LayerNorm client steps end to end on SEAL: a hand-cut three-segment model
 * (test/helpers/segmented-tiny.ts: a body, a softmax step, a segment, a LayerNorm step, a segment)
 * run encrypted on 3 rows, the client decrypting each masked step, normalizing exactly and
 * encrypting fresh, the server masking and unmasking with the records' circuits. The results
 * match float64 written out by hand, within CKKS noise plus the ε/a² deviation the LayerNorm step
 * declares; the simulation backend (the steps' float64 semantics) agrees too.
 */
import { describe, expect, test } from 'vitest';
import { finalizeCompiledModel } from '../../compiler/artifact/codec';
import { fheBackend } from '../../runtime/run/run-encrypted';
import { simulateBackend } from '../../runtime/run/run-compiled';
import { segmentedTiny, segmentedTinyReference, TINY_LAYER_NORM } from '../helpers/segmented-tiny';

const ROWS = [Float64Array.of(0.2, 0.9, 0.5), Float64Array.of(1.5, 0.3, 0.5), Float64Array.of(-0.5, 2, 0.5)];

/** |got − want| allowed for output i: CKKS noise (~2^-20 at these scales) plus the LayerNorm step's |γ_i·n_i|·ε/(2·var), |n_i| ≤ 1 for two features. */
function tolerance(x: Float64Array, i: number): number {
  const q0 = (0.5 * x[0]! - x[1]!) ** 2;
  const q1 = (-x[1]! + 2 * x[2]!) ** 2;
  const diff = Math.tanh((q0 - q1) / 2); // s0 − s1
  const variance = (diff / 2) ** 2;
  return 1e-4 + Math.abs(TINY_LAYER_NORM.gamma[i]!) * (TINY_LAYER_NORM.epsilon / (2 * variance));
}

describe('softmax and LayerNorm client steps, encrypted', () => {
  const model = finalizeCompiledModel(segmentedTiny());

  test('in simulation: the steps’ float64 semantics give the hand-written reference', async () => {
    const out = await simulateBackend(model)(ROWS);
    ROWS.forEach((x, r) => segmentedTinyReference(x).forEach((w, i) => expect(Math.abs(out[r]![i]! - w), `row ${r} output ${i}`).toBeLessThan(tolerance(x, i))));
  });

  test('on SEAL: 3 rows through both client steps give the hand-written reference', async () => {
    const fhe = fheBackend(model);
    const out = await fhe.backend(ROWS);
    ROWS.forEach((x, r) => segmentedTinyReference(x).forEach((w, i) => expect(Math.abs(out[r]![i]! - w), `row ${r} output ${i}`).toBeLessThan(tolerance(x, i))));
    expect(fhe.lastRun()!.timings.per_evaluation.every((e) => e.client_steps === 2)).toBe(true);
  }, 120_000);
});
