/**
 * The exact chain a compiled model approximates, from its ONNX graph: the passes with the layers'
 * weights quantized in between (when asked). Compile and report both go through here, so the
 * report measures exactly what was compiled.
 */
import type { Graph } from '../graph/graph';
import type { SplitModel } from '../passes/chain';
import { prepareGraph, splitPrepared } from '../passes/lower-to-chain';
import { quantizationSummary, quantizeGraphWeights } from '../quantize/quantize-weights';
import type { QuantizationSummary } from '../quantize/summary';

export interface LoweredModel {
  readonly split: SplitModel;
  readonly quantization: QuantizationSummary | null;
}

/** Passes, with per-channel weight quantization to `nBits` before the trace when given. */
export function lowerModel(graph: Graph, nBits?: number): LoweredModel {
  const prepared = prepareGraph(graph);
  if (nBits === undefined) return { split: splitPrepared(prepared).split, quantization: null };
  const q = quantizeGraphWeights(prepared, { bits: nBits, perChannel: true });
  const { split } = splitPrepared(q.prepared);
  return { split, quantization: quantizationSummary(q, split.body) };
}
