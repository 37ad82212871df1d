/**
 * The server's side of a client step (compiler/client-steps/): masks a segment's result before
 * the client sees it, keeps the unmasking until the client's fresh ciphertexts come back, and
 * runs it. A mask is used once: taking it frees it. At most `maxPending` masks wait at once; the
 * oldest is dropped beyond that (its client step then fails with a clear error).
 */
import { randomBytes } from 'node:crypto';
import type { Circuit } from '../../compiler/circuit/ir';
import type { ClientStep, StepBounds, StepSegments } from '../../compiler/client-steps/kind';
import { drawStepMask } from '../../compiler/client-steps/table';
import { fail } from '../../compiler/errors';
import type { BackendContext } from '../backends/backend';

interface PendingMask {
  readonly modelId: string;
  /** The segment whose result was masked; the fresh ciphertexts feed segment + 1. */
  readonly segment: number;
  /** Per evaluation, in order: the circuits that unmask its fresh ciphertexts, one per input of segment + 1. */
  readonly unmask: readonly (readonly Circuit[])[];
}

export const DEFAULT_MAX_PENDING_MASKS = 1024;

export class MaskStore {
  private readonly pending = new Map<string, PendingMask>();

  constructor(private readonly maxPending = DEFAULT_MAX_PENDING_MASKS) {}

  put(mask: PendingMask): string {
    const id = randomBytes(16).toString('hex');
    this.pending.set(id, mask);
    while (this.pending.size > this.maxPending) this.pending.delete(this.pending.keys().next().value!);
    return id;
  }

  take(id: string): PendingMask {
    const mask = this.pending.get(id);
    if (!mask) fail('BAD_ARGUMENT', `no client step ${id.slice(0, 12)}… is waiting (already answered, or dropped)`);
    this.pending.delete(id);
    return mask;
  }

  /** Forget a mask whose step will not be answered. */
  discard(id: string): void {
    this.pending.delete(id);
  }

  get size(): number {
    return this.pending.size;
  }

  clear(): void {
    this.pending.clear();
  }
}

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
