/**
 * The per-group masks of the softmax and LayerNorm steps: every element of group g (a softmax
 * row, a token's features) gets z = a_g·y + c_g, one a_g and c_g per group and per sample; an
 * element of no group gets z = y + r_i, an offset of its own (as at a refresh). Softmax draws
 * a_g = 1 (softmax is invariant under a shift only); LayerNorm a_g log-uniform in [1, 2^octaves].
 */
import type { GroupStep } from '../artifact/types';
import type { Circuit } from '../circuit/ir';
import { packOutputs, packSamples, samplesPerEvaluation } from '../circuit/packing';
import { fail } from '../errors';
import { drawMask, drawScales } from './masks';

/** One sample's mask, element by element of the segment's output (a = 1 outside every group). */
export interface RowMask {
  readonly scales: Float64Array;
  readonly offsets: Float64Array;
  /** Which elements are in a group. */
  readonly grouped: Uint8Array;
}

/** A fresh mask for one sample of `size` elements: scale octaves 0 draws a = 1 everywhere. */
export function drawRowMask(size: number, groups: GroupStep['groups'], maskBits: number, maskBound: number, octaves: number): RowMask {
  const spread = maskBound * 2 ** octaves;
  const a = octaves > 0 ? drawScales(groups.length, octaves) : new Float64Array(groups.length).fill(1);
  const c = drawMask(groups.length, maskBits, spread);
  const scales = new Float64Array(size).fill(1);
  const offsets = drawMask(size, maskBits, spread);
  const grouped = new Uint8Array(size);
  groups.forEach((g, k) => {
    for (const i of g) {
      if (i >= size) fail('BAD_ARTIFACT', `a client step's group names output ${i} of ${size}`);
      scales[i] = a[k]!;
      offsets[i] = c[k]!;
      grouped[i] = 1;
    }
  });
  return { scales, offsets, grouped };
}

/** z = a·y + c on one sample. */
export function applyRowMask(y: Float64Array, m: RowMask): Float64Array {
  return y.map((v, i) => m.scales[i]! * v + m.offsets[i]!);
}

/** One evaluation's masks: per sample, and as slot vectors per result ciphertext of `from` (slots of no sample get random offsets). */
export function drawEvaluationMasks(from: Circuit, groups: GroupStep['groups'], maskBits: number, maskBound: number, octaves: number): { rows: RowMask[]; scales: Float64Array[]; offsets: Float64Array[] } {
  const rows = Array.from({ length: samplesPerEvaluation(from) }, () => drawRowMask(from.outputSize, groups, maskBits, maskBound, octaves));
  const scales = from.outputs.map(() => new Float64Array(from.slots).fill(1));
  const offsets = from.outputs.map(() => drawMask(from.slots, maskBits, maskBound * 2 ** octaves));
  packOutputs(from, rows.map((r) => r.scales), scales);
  packOutputs(from, rows.map((r) => r.offsets), offsets);
  return { rows, scales, offsets };
}

/** Per input ciphertext of `to`, one evaluation's per-sample vectors packed as `to` reads them. */
export function packForNext(to: Circuit, perSample: readonly Float64Array[]): Float64Array[] {
  const groups = packSamples(to, perSample);
  if (groups.length !== 1) fail('BAD_ARTIFACT', 'a client step unmasks one evaluation at a time');
  return groups[0]!.inputs;
}

/** Checks that a step's groups are non-empty, disjoint and inside `size` outputs, and that output i can be input i. */
export function checkGroups(groups: GroupStep['groups'], from: Pick<Circuit, 'outputSize'>, to: Pick<Circuit, 'inputSize'>): void {
  if (from.outputSize !== to.inputSize) fail('BAD_ARTIFACT', `a normalizing step hands ${from.outputSize} outputs to a segment reading ${to.inputSize}`);
  const seen = new Uint8Array(from.outputSize);
  for (const g of groups) {
    if (g.length === 0) fail('BAD_ARTIFACT', 'a client step with an empty group');
    for (const i of g) {
      if (!Number.isInteger(i) || i < 0 || i >= from.outputSize) fail('BAD_ARTIFACT', `a client step's group names output ${i} of ${from.outputSize}`);
      if (seen[i]) fail('BAD_ARTIFACT', `output ${i} is in two groups of a client step`);
      seen[i] = 1;
    }
  }
}
