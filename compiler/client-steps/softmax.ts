/**
 * A Softmax between two segments as a client step, exact, using softmax(y + c) = softmax(y):
 *   server: per sample and row g, c_g uniform in ±2^σ·B: every value y of row g becomes
 *           z = y + c_g (an addPlain, no level); values in no row get an offset r_i of their own
 *   client: z decrypted, unpacked, softmax over each row (the rest unchanged), packed as segment
 *           k+1's inputs (output i is input i), encrypted fresh at the top level → server
 *   server: adds −r_i to the values in no row (nothing to remove from a row's softmax)
 * The client sees each row's values under one unknown offset, i.e. their differences, and
 * returns (so learns) the row's softmax: the attention pattern of its own input. That is more
 * than a refresh shows; the server-side polynomial route (compiler/approx/softmax.ts) shows nothing.
 */
import type { GroupStep } from '../artifact/types';
import { overGroups, softmaxReference } from '../chain/normalize';
import type { ClientStepKindRecord } from './kind';
import { applyRowMask, checkGroups, drawEvaluationMasks, drawRowMask, packForNext } from './group-mask';
import { inputAt, resultAt } from './refresh';
import { repackSlots } from './repack';
import { addCircuits } from './step-circuits';

type Softmax = { readonly kind: 'softmax'; readonly softmax: GroupStep };

/** Each row of `z` replaced by its softmax; elements in no row unchanged. */
export function softmaxRows(rows: GroupStep['groups'], z: Float64Array): Float64Array {
  return overGroups(rows, z, softmaxReference);
}

export const SOFTMAX: ClientStepKindRecord<Softmax, { readonly kind: 'softmax'; readonly softmax: Pick<GroupStep, 'groups'> }> = {
  kind: 'softmax',
  domain: 'slots',
  maskLevels: 0,
  unmaskLevels: 0,
  scaleOctaves: null,
  // z = y + c as at a refresh: 2^σ·B, nothing beyond.
  maskGrowthBits: () => 0,
  roundingBits: () => 0,

  draw({ from, to }, { softmax }, bounds) {
    checkGroups(softmax.groups, from, to);
    const { rows, offsets } = drawEvaluationMasks(from, softmax.groups, bounds.maskBits, bounds.maskBound, 0);
    const mask = addCircuits(from, offsets.map((_, k) => resultAt(from, k)), offsets);
    // A row comes back as its softmax, which the offset does not change; the rest gets −r back.
    const removal = packForNext(to, rows.map((r) => r.offsets.map((c, i) => (r.grouped[i] ? 0 : -c))));
    return { mask, unmask: addCircuits(to, removal.map(() => inputAt(to)), removal) };
  },
  maskedAt: (_from, result) => result,

  clientOperation: (from, to, { softmax }, slotVectors) => repackSlots(from, to, slotVectors, (z) => softmaxRows(softmax.groups, z)),

  // Per sample, z = y + c with a fresh mask, the client's softmax on z, then −r off the rest, in float64.
  simulate: (samples, { softmax }, bounds) =>
    samples.map((y) => {
      const m = drawRowMask(y.length, softmax.groups, bounds.maskBits, bounds.maskBound, 0);
      const out = softmaxRows(softmax.groups, applyRowMask(y, m));
      return out.map((v, i) => (m.grouped[i] ? v : v - m.offsets[i]!));
    }),

  describe: ({ softmax }, bounds) =>
    `softmax (${softmax.sources.join(', ')}; ${softmax.groups.length} rows) as an exact client step: the server adds to each row one offset c uniform in ±2^${bounds.maskBits}·${bounds.maskBound.toPrecision(3)}, fresh per row and per sample ` +
    `(softmax(y + c) = softmax(y)); the client decrypts, computes each row's softmax and encrypts it fresh. ` +
    `The client learns each row's softmax — the attention pattern of its own input — and the differences between a row's values (the offset keeps those), not their level; ` +
    `values in no row it sees under a random offset alone, as at a refresh step`,

  // Nothing is unmasked from a row: the next segment runs on exactly the weights the client returns.
  dishonestClient: 'returning attention weights of its own runs the next segment on them exactly (no mask to remove), so one-hot rows read out the values (V) and the layers after them',
};
