import { fail } from '../errors';

/**
 * Symmetric post-training quantization of one weight tensor: the values of each channel (or of the
 * whole tensor) are rounded to the grid k·step, |k| ≤ 2^(bits−1) − 1, step = max|w| / that level
 * count, and stay float64 values on that grid. Which axis is the channel is the caller's business
 * (quantize-weights knows the layer operators).
 */

export const MIN_QUANT_BITS = 2;
export const MAX_QUANT_BITS = 16;

export interface QuantizeOptions {
  /** Bits per weight, sign included: integers in [-(2^(bits-1) - 1), 2^(bits-1) - 1]. */
  readonly bits: number;
  /** One grid per output channel when true, one per tensor when false. */
  readonly perChannel: boolean;
}

/** Where the channels are in a tensor's row-major data: channel c's values sit at indices whose ⌊i / inner⌋ mod channels = c. */
export interface ChannelLayout {
  readonly channels: number;
  /** Product of the dimensions after the channel axis. */
  readonly inner: number;
}

export interface GridResult {
  readonly values: Float64Array;
  /** Largest grid step used (the widest channel's, or the tensor's). */
  readonly maxScale: number;
  /** max |w − w_q|; at most half the step of the weight's channel. */
  readonly maxAbsError: number;
  /** Weights that are exactly zero after quantization. */
  readonly zeros: number;
}

export function checkQuantizeOptions(options: QuantizeOptions): void {
  const { bits } = options;
  if (!Number.isInteger(bits) || bits < MIN_QUANT_BITS || bits > MAX_QUANT_BITS) {
    fail('BAD_ARGUMENT', `--n-bits must be an integer in [${MIN_QUANT_BITS}, ${MAX_QUANT_BITS}], got ${bits}`);
  }
}

/**
 * Rounds `values` to the grid of their channel. `name` names the tensor in errors. Non-finite
 * weights are refused: they have no grid.
 */
export function quantizeValues(values: ArrayLike<number>, layout: ChannelLayout, options: QuantizeOptions, name: string): GridResult {
  checkQuantizeOptions(options);
  const n = values.length;
  const { inner } = layout;
  const channels = options.perChannel ? layout.channels : 1;
  if (options.perChannel && (channels < 1 || inner < 1 || n % (channels * inner) !== 0)) {
    fail('BAD_GRAPH', `${name}: ${n} weights do not split into ${layout.channels} channels of stride ${inner}`);
  }
  const channelOf = (i: number): number => (channels === 1 ? 0 : Math.floor(i / inner) % channels);
  const maxAbs = new Float64Array(channels);
  for (let i = 0; i < n; i++) {
    const w = values[i]!;
    if (!Number.isFinite(w)) fail('BAD_GRAPH', `${name}: weight ${i} is ${w}, cannot quantize`);
    const c = channelOf(i);
    maxAbs[c] = Math.max(maxAbs[c]!, Math.abs(w));
  }
  const levels = 2 ** (options.bits - 1) - 1;
  const steps = maxAbs.map((m) => gridScale(m, levels));
  const q = new Float64Array(n);
  let maxAbsError = 0;
  let zeros = 0;
  for (let i = 0; i < n; i++) {
    const step = steps[channelOf(i)]!;
    // An all-zero channel has step 0: it stays zero rather than dividing by zero.
    const w = step === 0 ? 0 : roundHalfAway(values[i]! / step) * step;
    q[i] = w === 0 ? 0 : w; // no −0: a zero weight is a zero diagonal entry, whatever its sign bit
    if (q[i] === 0) zeros++;
    maxAbsError = Math.max(maxAbsError, Math.abs(values[i]! - q[i]!));
  }
  return { values: q, maxScale: steps.reduce((a, b) => Math.max(a, b), 0), maxAbsError, zeros };
}

/** Ties away from zero (Math.round sends −3.5 to −3), so the grid treats w and −w alike. */
function roundHalfAway(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x));
}

/**
 * The step max|w| / levels. Quantizing again is exact: the largest quantized weight is
 * fl(levels·step), and for these small integer level counts fl(fl(levels·step)/levels) gives the
 * same step back (checked over millions of random steps, and by the idempotence test), while
 * fl(k·step)/step rounds back to k for every |k| ≤ 2^15.
 */
function gridScale(maxAbs: number, levels: number): number {
  return maxAbs / levels;
}
