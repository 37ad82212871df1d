/**
 * A max pool between two segments makes the client step a window max:
 *   server: per sample and window w, a_w log-uniform in [1, 2^octaves] and c_w uniform in
 *           ±2^σ·B·2^octaves; every value y of window w becomes z = a_w·y + c_w (a plaintext
 *           product and a rescale, then an addPlain: one level); slots in no window get c alone
 *   client: z decrypted, unpacked, max over each window (max z = a_w·max y + c_w as a_w > 0),
 *           packed as segment k+1's inputs, encrypted fresh at the top level → server
 *   server: (z' − c_w)·(1/a_w), a plaintext product and a rescale: segment k+1 starts a level down
 * The client sees, per window, its values under an unknown positive scale and offset: which
 * position holds the max and the ratios of the differences between the window's values, not
 * their level (c) and their spread only up to the factor 2^octaves (a).
 */
import type { PoolStep } from '../artifact/types';
import { maxOverWindows } from '../chain/max-pool';
import type { Circuit } from '../circuit/ir';
import { packOutputs, packSamples, samplesPerEvaluation } from '../circuit/packing';
import { fail } from '../errors';
import type { ClientStepKindRecord, StepBounds } from './kind';
import { drawMask, drawScales } from './masks';
import { inputAt, resultAt } from './refresh';
import { repackSlots } from './repack';
import { affineCircuit, affineCircuits, outputOf, unaffineCircuits } from './step-circuits';

/**
 * A max pool's window scale a is log-uniform in [1, 2^octaves]: it hides the spread of a window's
 * values up to that factor, and costs as many bits of float64 mantissa and of modulus room as σ.
 */
export const POOL_SCALE_OCTAVES = 4;

type MaxPool = { readonly kind: 'maxpool'; readonly pool: PoolStep };

export const MAX_POOL: ClientStepKindRecord<MaxPool, { readonly kind: 'maxpool'; readonly pool: Pick<PoolStep, 'windows'> }> = {
  kind: 'maxpool',
  domain: 'slots',
  // The product by a (rescaled) before the client's max; the product by 1/a after it.
  maskLevels: 1,
  unmaskLevels: 1,
  scaleOctaves: POOL_SCALE_OCTAVES,
  maskGrowthBits: (bounds) => octavesOf(bounds),
  // z = a·y + c reaches 2^σ·B·2^octaves (+ a·B): that many more bits of the 53, and (z − c)/a does not make the rounding larger as a ≥ 1.
  roundingBits: (bounds) => octavesOf(bounds) + 1,

  draw({ from, to, top }, { pool }, bounds) {
    const mask = drawPoolMask(from, pool, bounds);
    // One circuit over the evaluation's result ciphertexts: in batch layout the ciphertexts of one window share a and c, encoded once.
    const masking = affineCircuits(from, from.outputs.map((_, k) => resultAt(from, k)), mask.scales, mask.offsets);
    const { negOffsets, inverseScales } = poolUnmaskVectors(to, mask);
    // The client encrypts the maxima at the top level; the unmasking lands them where `to` reads.
    const fresh = { level: top.topLevel, scale: inputAt(to).scale };
    const unmask = unaffineCircuits(top, negOffsets.map(() => fresh), negOffsets, inverseScales);
    return { mask: masking, unmask };
  },
  maskedAt: (from, result) => outputOf(affineCircuit(from, result, new Float64Array(from.slots).fill(1), new Float64Array(from.slots))),

  clientOperation: (from, to, { pool }, slotVectors) => repackSlots(from, to, slotVectors, (z) => maxOverWindows(pool.windows, z)),

  // Per sample, z = a·y + c on each window with a fresh mask, the window max of z, then (z' − c)/a in float64:
  // a simulated run carries the mask's rounding and the max the client takes.
  simulate(rows, { pool }, bounds) {
    const octaves = octavesOf(bounds);
    const spread = bounds.maskBound * 2 ** octaves;
    return rows.map((y) => {
      const a = drawScales(pool.windows.length, octaves);
      const c = drawMask(pool.windows.length, bounds.maskBits, spread);
      const z = new Float64Array(y.length);
      pool.windows.forEach((w, o) => {
        for (const i of w) z[i] = a[o]! * y[i]! + c[o]!;
      });
      return maxOverWindows(pool.windows, z).map((v, o) => (v - c[o]!) / a[o]!);
    });
  },

  describe({ pool }, bounds) {
    const octaves = octavesOf(bounds);
    return (
      `max pool (${pool.geometry}; ${pool.sources.join(', ')}) as a client step: the server masks each window's values as a·y + c, with a > 0 log-uniform in [1, 2^${octaves}] ` +
      `and c uniform in ±2^${bounds.maskBits}·2^${octaves}·${bounds.maskBound.toPrecision(3)}, both fresh per window and per sample; the client decrypts, takes each window's max and encrypts it fresh, and the server removes (z − c)/a. ` +
      `The client learns, within each window, which position holds the max and the order and the ratios of differences of the window's values (an affine mask keeps those); ` +
      `not their level (c hides it within 2^-${bounds.maskBits}), their spread only up to the unknown factor a (2^${octaves}), and nothing that links two windows beyond that; ` +
      `values in no window it sees under a random offset alone, as at a refresh step`
    );
  },

  // The server divides the returned max by a_w: max + t becomes max_w + t/a_w for the next segment
  // (test/e2e/client-step-probe.test.ts reads columns of pt_cnn_maxpool_digits' Linear this way,
  // through the ReLU that runs after its pool: passes/pool-first.ts).
  dishonestClient:
    "returning a window's max plus t moves the outputs by W[:, w]·t/a_w, or by W[:, w]·(f(m_w + t/a_w) − f(m_w)) where an activation f comes first: a query or a few per input read a column of the affine map after the pool, up to a factor",
};

function octavesOf(bounds: StepBounds): number {
  if (bounds.poolScaleOctaves === undefined) fail('BAD_ARTIFACT', 'a max-pool step without poolScaleOctaves');
  return bounds.poolScaleOctaves;
}

/** One evaluation's pool mask: slot vectors for the server, and per sample the windows' a and c for unmasking. */
export interface PoolMask {
  /** Per output ciphertext of the segment before: a_w on the slots of window w, 1 elsewhere. */
  readonly scales: Float64Array[];
  /** Per output ciphertext: c_w on the slots of window w, a random offset elsewhere. */
  readonly offsets: Float64Array[];
  /** Per sample of the evaluation, per window (the next segment's input element): a_w and c_w. */
  readonly windowScales: Float64Array[];
  readonly windowOffsets: Float64Array[];
}

/** Draws a fresh pool mask for one evaluation whose result `from` wrote. */
export function drawPoolMask(from: Circuit, pool: Pick<PoolStep, 'windows'>, bounds: StepBounds): PoolMask {
  const octaves = octavesOf(bounds);
  const samples = samplesPerEvaluation(from);
  const spread = bounds.maskBound * 2 ** octaves;
  const windowScales: Float64Array[] = [];
  const windowOffsets: Float64Array[] = [];
  const rowScales: Float64Array[] = [];
  const rowOffsets: Float64Array[] = [];
  for (let j = 0; j < samples; j++) {
    const a = drawScales(pool.windows.length, octaves);
    const c = drawMask(pool.windows.length, bounds.maskBits, spread);
    const rowA = new Float64Array(from.outputSize).fill(1);
    const rowC = drawMask(from.outputSize, bounds.maskBits, spread);
    pool.windows.forEach((w, o) => {
      for (const i of w) {
        rowA[i] = a[o]!;
        rowC[i] = c[o]!;
      }
    });
    windowScales.push(a);
    windowOffsets.push(c);
    rowScales.push(rowA);
    rowOffsets.push(rowC);
  }
  const scales = from.outputs.map(() => new Float64Array(from.slots).fill(1));
  const offsets = from.outputs.map(() => drawMask(from.slots, bounds.maskBits, spread));
  packOutputs(from, rowScales, scales);
  packOutputs(from, rowOffsets, offsets);
  return { scales, offsets, windowScales, windowOffsets };
}

/** Per input ciphertext of `next`, the slot vectors −c and 1/a that unmask one evaluation. */
export function poolUnmaskVectors(next: Circuit, mask: Pick<PoolMask, 'windowScales' | 'windowOffsets'>): { negOffsets: Float64Array[]; inverseScales: Float64Array[] } {
  const [neg] = packSamples(next, mask.windowOffsets.map((c) => c.map((v) => -v)));
  const [inv] = packSamples(next, mask.windowScales.map((a) => a.map((v) => 1 / v)));
  if (!neg || !inv) fail('BAD_ARTIFACT', 'a pool step unmasks one evaluation at a time');
  return { negOffsets: neg.inputs, inverseScales: inv.inputs };
}
