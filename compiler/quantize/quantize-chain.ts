import { fail } from '../errors';
import type { AffineStage } from '../passes/chain';

/**
 * Post-training weight quantization: every affine map's weights are rounded to a symmetric grid
 * of `bits` bits (per output row, or one grid for the whole matrix), and stay float64 values on
 * that grid. Biases keep full precision: they are added once, cost no precision in CKKS, and
 * quantizing them buys nothing. The point is to study accuracy against bit width and to make
 * small weights exactly zero, which lets the vector layout skip whole diagonals.
 */

export const MIN_QUANT_BITS = 2;
export const MAX_QUANT_BITS = 16;

export interface QuantizeOptions {
  /** Bits per weight, sign included: integers in [-(2^(bits-1) - 1), 2^(bits-1) - 1]. */
  readonly bits: number;
  /** One scale per output row (channel) when true, one per matrix when false. */
  readonly perChannel: boolean;
}

export interface StageQuantization {
  /** Position of the affine stage in the chain. */
  readonly stage: number;
  readonly sources: readonly string[];
  readonly bits: number;
  readonly perChannel: boolean;
  readonly outSize: number;
  readonly inSize: number;
  /** Largest grid step used (the scale of the widest row, or the matrix scale). */
  readonly maxScale: number;
  /** max |w − w_q| over the matrix; at most half the step of the weight's row. */
  readonly maxAbsError: number;
  /** Share of weights that are exactly zero after quantization. */
  readonly zeroFraction: number;
}

export interface QuantizationSummary {
  readonly bits: number;
  readonly perChannel: boolean;
  readonly stages: readonly StageQuantization[];
}

export interface QuantizedChain<S> {
  readonly stages: S[];
  readonly summary: QuantizationSummary;
}

export function checkQuantizeOptions(options: QuantizeOptions): void {
  const { bits } = options;
  if (!Number.isInteger(bits) || bits < MIN_QUANT_BITS || bits > MAX_QUANT_BITS) {
    fail('BAD_ARGUMENT', `--n-bits must be an integer in [${MIN_QUANT_BITS}, ${MAX_QUANT_BITS}], got ${bits}`);
  }
}

/** Quantizes the weights of every affine stage; other stages are passed through unchanged. */
export function quantizeChain<S extends { readonly kind: string }>(stages: readonly S[], options: QuantizeOptions): QuantizedChain<S> {
  checkQuantizeOptions(options);
  const out: S[] = [];
  const summaries: StageQuantization[] = [];
  stages.forEach((stage, index) => {
    if (!isAffine(stage)) {
      out.push(stage);
      return;
    }
    const { stage: quantized, summary } = quantizeAffine(stage, index, options);
    out.push(quantized as unknown as S);
    summaries.push(summary);
  });
  return { stages: out, summary: { bits: options.bits, perChannel: options.perChannel, stages: summaries } };
}

function isAffine(stage: { readonly kind: string }): stage is AffineStage {
  return stage.kind === 'affine';
}

export function quantizeAffine(stage: AffineStage, index: number, options: QuantizeOptions): { stage: AffineStage; summary: StageQuantization } {
  checkQuantizeOptions(options);
  const { inSize, outSize, weights } = stage;
  const name = stage.sources.join(', ') || `stage ${index}`;
  if (weights.length !== inSize * outSize) fail('BAD_GRAPH', `${name}: ${weights.length} weights for a ${outSize}×${inSize} map`);
  for (let i = 0; i < weights.length; i++) {
    if (!Number.isFinite(weights[i]!)) {
      fail('BAD_GRAPH', `${name}: weight [${Math.floor(i / inSize)}, ${i % inSize}] is ${weights[i]}, cannot quantize`);
    }
  }
  const levels = 2 ** (options.bits - 1) - 1;
  const q = new Float64Array(weights.length);
  let maxScale = 0;
  let maxAbsError = 0;
  let zeros = 0;
  const groups = options.perChannel ? outSize : 1;
  const groupLength = options.perChannel ? inSize : weights.length;
  for (let g = 0; g < groups; g++) {
    const from = g * groupLength;
    const to = from + groupLength;
    let maxAbs = 0;
    for (let i = from; i < to; i++) maxAbs = Math.max(maxAbs, Math.abs(weights[i]!));
    const scale = gridScale(maxAbs, levels);
    maxScale = Math.max(maxScale, scale);
    for (let i = from; i < to; i++) {
      // An all-zero group has scale 0: it stays zero rather than dividing by zero.
      const w = scale === 0 ? 0 : roundHalfAway(weights[i]! / scale) * scale;
      q[i] = w === 0 ? 0 : w; // no −0: a zero weight is a zero diagonal entry, whatever its sign bit
      if (q[i] === 0) zeros++;
      maxAbsError = Math.max(maxAbsError, Math.abs(weights[i]! - q[i]!));
    }
  }
  return {
    stage: { ...stage, weights: q },
    summary: {
      stage: index,
      sources: stage.sources,
      bits: options.bits,
      perChannel: options.perChannel,
      outSize,
      inSize,
      maxScale,
      maxAbsError,
      zeroFraction: weights.length === 0 ? 0 : zeros / weights.length,
    },
  };
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
