/** What weight quantization did, per weight tensor: recorded in the manifest and shown by reports. */

export interface StageQuantization {
  /** Position, in the encrypted chain, of the affine stage the quantized layer is part of. */
  readonly stage: number;
  /** The ONNX nodes the layer stands for (a Gemm with the BatchNormalization folded into it, say). */
  readonly sources: readonly string[];
  readonly bits: number;
  readonly perChannel: boolean;
  /** Output channels of the weight tensor. */
  readonly outSize: number;
  /** Weights per output channel. */
  readonly inSize: number;
  /** Largest grid step used (the widest channel's, or the tensor's). */
  readonly maxScale: number;
  /** max |w − w_q| over the tensor; at most half the step of the weight's channel. */
  readonly maxAbsError: number;
  /** Share of weights that are exactly zero after quantization. */
  readonly zeroFraction: number;
}

export interface QuantizationSummary {
  readonly bits: number;
  readonly perChannel: boolean;
  /** One entry per quantized weight tensor, in graph order. */
  readonly stages: readonly StageQuantization[];
}
