/**
 * The server's side of a client step (compiler/client-steps/): a fresh mask on a segment's result
 * before the client sees it, and the unmasking of the client's fresh ciphertexts (kept meanwhile
 * in the StepStore, step-store.ts), each a small circuit run through the backend seam.
 */
import type { Circuit } from '../../compiler/circuit/ir';
import type { ClientStep, StepBounds, StepSegments } from '../../compiler/client-steps/kind';
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
): Promise<{ parts: Uint8Array[]; unmask: Circuit[][] }> {
  const per = segments.from.outputs.length;
  if (parts.length % per !== 0) fail('BAD_CIPHERTEXT', `${parts.length} result ciphertexts, not a multiple of the segment's ${per} outputs`);
  const unmask: Circuit[][] = [];
  const out: Uint8Array[] = [];
  for (let g = 0; g < parts.length / per; g++) {
    const drawn = drawStepMask(step, segments, bounds);
    for (let k = 0; k < per; k++) out.push(await runOn(ctx, drawn.mask[k]!, parts[g * per + k]!));
    unmask.push([...drawn.unmask]);
  }
  return { parts: out, unmask };
}

/** Unmasks the client's fresh ciphertexts: per evaluation, one circuit per input ciphertext of the next segment. */
export async function unmaskInputs(ctx: BackendContext, unmask: readonly (readonly Circuit[])[], perInput: number, parts: readonly Uint8Array[]): Promise<Uint8Array[]> {
  if (parts.length !== unmask.length * perInput) fail('BAD_CIPHERTEXT', `the client step sent ${parts.length} ciphertexts, the next segment reads ${unmask.length * perInput}`);
  const out: Uint8Array[] = [];
  for (let g = 0; g < unmask.length; g++) {
    for (let k = 0; k < perInput; k++) out.push(await runOn(ctx, unmask[g]![k]!, parts[g * perInput + k]!));
  }
  return out;
}

/** One small circuit on one ciphertext, through the backend seam (so every backend does it). */
async function runOn(ctx: BackendContext, circuit: Circuit, part: Uint8Array): Promise<Uint8Array> {
  const loaded = ctx.loadCircuit(circuit);
  try {
    const keys = loaded.loadEvaluationKeys({ relin: null, galois: null });
    try {
      return (await loaded.execute([part], keys))[0]!;
    } finally {
      keys.dispose();
    }
  } finally {
    loaded.dispose();
  }
}
