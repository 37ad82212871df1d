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
import type { CoefficientMask } from '../../compiler/client-steps/kind';
import type { Unmasking } from './step-store';

/** Masks each evaluation's result ciphertexts (`parts`, `segments.from`'s outputs per evaluation) with a fresh mask of `step`. */
export async function maskResults(
  ctx: BackendContext,
  step: ClientStep,
  segments: StepSegments,
  bounds: StepBounds,
  parts: readonly Uint8Array[],
): Promise<{ parts: Uint8Array[]; unmask: Unmasking[] }> {
  const per = segments.from.outputs.length;
  if (parts.length % per !== 0) fail('BAD_CIPHERTEXT', `${parts.length} result ciphertexts, not a multiple of the segment's ${per} outputs`);
  const unmask: Unmasking[] = [];
  const out: Uint8Array[] = [];
  for (let g = 0; g < parts.length / per; g++) {
    const drawn = drawStepMask(step, segments, bounds);
    const own = parts.slice(g * per, (g + 1) * per);
    out.push(...addEach(ctx, drawn.coefficients?.add ?? [], await runEach(ctx, drawn.mask, own), own, 'result'));
    unmask.push({ circuits: [...drawn.unmask], coefficients: [...(drawn.coefficients?.remove ?? [])] });
  }
  return { parts: out, unmask };
}

/** Unmasks the client's fresh ciphertexts: per evaluation, one circuit per input ciphertext of the next segment. */
export async function unmaskInputs(ctx: BackendContext, unmask: readonly Unmasking[], perInput: number, parts: readonly Uint8Array[]): Promise<Uint8Array[]> {
  if (parts.length !== unmask.length * perInput) fail('BAD_CIPHERTEXT', `the client step sent ${parts.length} ciphertexts, the next segment reads ${unmask.length * perInput}`);
  const out: Uint8Array[] = [];
  for (let g = 0; g < unmask.length; g++) {
    const own = parts.slice(g * perInput, (g + 1) * perInput);
    out.push(...addEach(ctx, unmask[g]!.coefficients, await runEach(ctx, unmask[g]!.circuits, own), own, 'fresh'));
  }
  return out;
}

/**
 * Ciphertext k plus coefficient mask k (ciphertexts no circuit ran on are the originals `parts`):
 * a coefficient mask is integers on the plaintext polynomial, put on through the backend seam.
 */
function addEach(ctx: BackendContext, masks: readonly CoefficientMask[], ran: readonly (Uint8Array | undefined)[], parts: readonly Uint8Array[], what: string): Uint8Array[] {
  return parts.map((part, k) => {
    const mask = masks[k];
    const current = ran[k] ?? part;
    return mask ? ctx.addCoefficients(current, { ...mask.at, label: `${what} ciphertext ${k}` }, mask.values) : current;
  });
}

/** One evaluation's ciphertexts `parts` through its step circuits, each result back at its ciphertext's index. */
async function runEach(ctx: BackendContext, circuits: readonly StepCircuit[], parts: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
  const out = new Array<Uint8Array | undefined>(parts.length);
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
