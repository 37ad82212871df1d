/**
 * The server's side of a client step (runtime/client-step.ts): masks a segment's result before
 * the client sees it, keeps the mask until the client's fresh ciphertext comes back, and removes
 * it. A mask is used once: taking it frees it. At most `maxPending` masks wait at once; the
 * oldest is dropped beyond that (its client step then fails with a clear error).
 */
import { randomBytes } from 'node:crypto';
import type { RefreshPlan } from '../../compiler/artifact/types';
import type { Circuit } from '../../compiler/circuit/ir';
import { fail } from '../../compiler/errors';
import type { BackendContext } from '../backends/backend';
import type { PoolStep } from '../../compiler/artifact/types';
import { drawMask, drawPoolMask, maskCircuit, poolMaskCircuit, poolUnmaskCircuit, poolUnmaskVectors, repackSlots, type PoolMaskBounds, type PoolMask } from '../client-step';

interface PendingMask {
  readonly modelId: string;
  /** The segment whose result was masked; the fresh ciphertexts feed segment + 1. */
  readonly segment: number;
  /** One slot vector per result ciphertext, in order (a refresh step; empty for a max pool). */
  readonly masks: readonly Float64Array[];
  /** A max pool's step: one mask per evaluation, in order. */
  readonly pool?: readonly PoolMask[];
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

/** Adds a fresh mask to each result ciphertext of `circuit` (one evaluation's outputs, `parts`). */
export async function maskResults(ctx: BackendContext, circuit: Circuit, plan: RefreshPlan, parts: readonly Uint8Array[]): Promise<{ parts: Uint8Array[]; masks: Float64Array[] }> {
  const outputs = circuit.ops.filter((op) => op.op === 'output');
  if (parts.length % outputs.length !== 0) fail('BAD_CIPHERTEXT', `${parts.length} result ciphertexts, not a multiple of the segment's ${outputs.length} outputs`);
  const masks: Float64Array[] = [];
  const out: Uint8Array[] = [];
  for (let i = 0; i < parts.length; i++) {
    const op = outputs.find((o) => o.op === 'output' && o.output === i % outputs.length)!;
    const mask = drawMask(circuit.slots, plan.maskBits, plan.maskBound);
    out.push(await addPlain(ctx, maskCircuit(circuit, op.level, op.scale, mask), parts[i]!));
    masks.push(mask);
  }
  return { parts: out, masks };
}

/** Removes the masks from the client's fresh ciphertexts, which are `next`'s inputs for the evaluations masked at the end of `previous`. */
export async function unmaskInputs(ctx: BackendContext, previous: Circuit, next: Circuit, masks: readonly Float64Array[], parts: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const perOut = previous.outputs.length;
  const perIn = next.inputs.length;
  const evaluations = masks.length / perOut;
  if (parts.length !== evaluations * perIn) fail('BAD_CIPHERTEXT', `the client step sent ${parts.length} ciphertexts, the next segment reads ${evaluations * perIn}`);
  const input = next.ops.find((op) => op.op === 'input')!;
  const out: Uint8Array[] = [];
  for (let g = 0; g < evaluations; g++) {
    const packed = repackSlots(previous, next, masks.slice(g * perOut, (g + 1) * perOut));
    for (let k = 0; k < perIn; k++) {
      const negated = packed[k]!.map((v) => -v);
      out.push(await addPlain(ctx, maskCircuit(next, input.level, input.scale, negated), parts[g * perIn + k]!));
    }
  }
  return out;
}

/** A max pool's step: each window of each evaluation's results masked as a·y + c (one level), with a fresh mask per evaluation. */
export async function poolMaskResults(
  ctx: BackendContext,
  circuit: Circuit,
  pool: PoolStep,
  bounds: PoolMaskBounds,
  parts: readonly Uint8Array[],
): Promise<{ parts: Uint8Array[]; masks: PoolMask[] }> {
  const outputs = circuit.ops.filter((op) => op.op === 'output');
  const per = outputs.length;
  if (parts.length % per !== 0) fail('BAD_CIPHERTEXT', `${parts.length} result ciphertexts, not a multiple of the segment's ${per} outputs`);
  const masks: PoolMask[] = [];
  const out: Uint8Array[] = [];
  for (let g = 0; g < parts.length / per; g++) {
    const mask = drawPoolMask(circuit, pool, bounds);
    for (let k = 0; k < per; k++) {
      const op = outputs.find((o) => o.op === 'output' && o.output === k)!;
      out.push(await addPlain(ctx, poolMaskCircuit(circuit, op.level, op.scale, mask.scales[k]!, mask.offsets[k]!), parts[g * per + k]!));
    }
    masks.push(mask);
  }
  return { parts: out, masks };
}

/** Unmasks the client's fresh ciphertexts after a max pool: (z' − c)·(1/a) per window, landing a level below the top as `next`'s inputs. `top` is the first segment (it starts at the top level). */
export async function poolUnmaskInputs(ctx: BackendContext, top: Circuit, next: Circuit, masks: readonly PoolMask[], parts: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const perIn = next.inputs.length;
  if (parts.length !== masks.length * perIn) fail('BAD_CIPHERTEXT', `the client step sent ${parts.length} ciphertexts, the next segment reads ${masks.length * perIn}`);
  const out: Uint8Array[] = [];
  for (let g = 0; g < masks.length; g++) {
    const { negOffsets, inverseScales } = poolUnmaskVectors(next, masks[g]!);
    for (let k = 0; k < perIn; k++) out.push(await addPlain(ctx, poolUnmaskCircuit(top, next, negOffsets[k]!, inverseScales[k]!), parts[g * perIn + k]!));
  }
  return out;
}

async function addPlain(ctx: BackendContext, circuit: Circuit, part: Uint8Array): Promise<Uint8Array> {
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
