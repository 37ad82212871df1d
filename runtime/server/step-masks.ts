/**
 * The server's side of a client step (compiler/client-steps/): a fresh mask on a segment's result
 * before the client sees it, and the unmasking of the client's fresh ciphertexts (kept meanwhile
 * in the StepStore, step-store.ts), small circuits run through the backend seam: per evaluation,
 * one over all its ciphertexts at a level (compiler/client-steps/step-circuits.ts).
 */
import type { ClientStep, StepBounds, StepSegments } from '../../compiler/client-steps/kind';
import type { StepCircuit } from '../../compiler/client-steps/step-circuits';
import { drawStepMask } from '../../compiler/client-steps/table';
import { fail } from '../../compiler/errors';
import type { BackendContext } from '../backends/backend';

/** Masks each evaluation's result ciphertexts (`parts`, `segments.from`'s outputs per evaluation) with a fresh mask of `step`. */
export async function maskResults(
  ctx: BackendContext,
  step: ClientStep,
  segments: StepSegments,
  bounds: StepBounds,
  parts: readonly Uint8Array[],
): Promise<{ parts: Uint8Array[]; unmask: StepCircuit[][] }> {
  const per = segments.from.outputs.length;
  if (parts.length % per !== 0) fail('BAD_CIPHERTEXT', `${parts.length} result ciphertexts, not a multiple of the segment's ${per} outputs`);
  const unmask: StepCircuit[][] = [];
  const out: Uint8Array[] = [];
  for (let g = 0; g < parts.length / per; g++) {
    const drawn = drawStepMask(step, segments, bounds);
    out.push(...(await runEach(ctx, drawn.mask, parts.slice(g * per, (g + 1) * per))));
    unmask.push([...drawn.unmask]);
  }
  return { parts: out, unmask };
}

/** Unmasks the client's fresh ciphertexts: per evaluation, one circuit per input ciphertext of the next segment. */
export async function unmaskInputs(ctx: BackendContext, unmask: readonly (readonly StepCircuit[])[], perInput: number, parts: readonly Uint8Array[]): Promise<Uint8Array[]> {
  if (parts.length !== unmask.length * perInput) fail('BAD_CIPHERTEXT', `the client step sent ${parts.length} ciphertexts, the next segment reads ${unmask.length * perInput}`);
  const out: Uint8Array[] = [];
  for (let g = 0; g < unmask.length; g++) out.push(...(await runEach(ctx, unmask[g]!, parts.slice(g * perInput, (g + 1) * perInput))));
  return out;
}

/** One evaluation's ciphertexts `parts` through its step circuits, each result back at its ciphertext's index. */
async function runEach(ctx: BackendContext, circuits: readonly StepCircuit[], parts: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const out = new Array<Uint8Array>(parts.length);
  for (const { circuit, ciphertexts } of circuits) {
    const results = await runOn(ctx, circuit, ciphertexts.map((k) => parts[k]!));
    ciphertexts.forEach((k, j) => (out[k] = results[j]!));
  }
  return out;
}

/** One small circuit on its ciphertexts, through the backend seam (so every backend does it). */
async function runOn(ctx: BackendContext, circuit: StepCircuit['circuit'], parts: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const loaded = ctx.loadCircuit(circuit);
  try {
    const keys = loaded.loadEvaluationKeys({ relin: null, galois: null });
    try {
      return await loaded.execute([...parts], keys);
    } finally {
      keys.dispose();
    }
  } finally {
    loaded.dispose();
  }
}
