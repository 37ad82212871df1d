/**
 * Compile step 2, the passes, and the exact chain a compiled model approximates: the imported
 * graph → its body IR (passBody): a tree ensemble (splitBody's tree kind), or a chain of stages
 * (a DAG where a stage reads several earlier ones) from the passes, the layers' weights quantized
 * between the rewrites and the trace when asked. The report rebuilds the exact chain here too
 * (exactChain: ReLU units rescaled by recorded bounds), so it measures exactly what was compiled.
 */
import { fail } from '../errors';
import type { Graph } from '../graph/graph';
import type { SplitModel } from '../chain/stages';
import { prepareGraph, splitPrepared, treeBodyOf, type TreeBodySplit } from '../passes/split-graph';
import { quantizationSummary, quantizeGraphWeights } from '../quantize/quantize-weights';
import type { QuantizationSummary } from '../quantize/summary';
import { scaleUnits } from '../approx/unit-scaling';
import type { RowFunctionKind } from '../chain/rowwise';
import { rowsToClient } from '../passes/rows-to-client';

export interface QuantizedSplit {
  readonly split: SplitModel;
  readonly quantization: QuantizationSummary | null;
}

/** A model's body after the passes, by kind: what the rest of the compile works on. */
export type PassedBody = ChainBodySplit | TreeBodySplit;

export type ChainBodySplit = { readonly kind: 'chain' } & QuantizedSplit;

/**
 * All the passes: a tree ensemble's body, or the chain's split with its weights quantized to
 * `nBits` when given (`progress` hears 'quantize' first; a tree reads `nBits` as its grid instead).
 */
export function passBody(graph: Graph, nBits?: number, progress: (step: 'quantize') => void = () => {}, onClient: readonly RowFunctionKind[] = []): PassedBody {
  const trees = treeBodyOf(graph);
  if (trees) return trees;
  if (nBits !== undefined) progress('quantize');
  return { kind: 'chain', ...quantizedSplit(graph, nBits, onClient) };
}

/**
 * Passes, with per-channel weight quantization to `nBits` before the trace when given, and the
 * row-wise functions in `onClient` as exact client steps (passes/rows-to-client.ts).
 */
export function quantizedSplit(graph: Graph, nBits?: number, onClient: readonly RowFunctionKind[] = []): QuantizedSplit {
  const prepared = prepareGraph(graph);
  const withSteps = (split: SplitModel): SplitModel => (onClient.length === 0 ? split : { ...split, body: rowsToClient(split.body, onClient) });
  if (nBits === undefined) return { split: withSteps(splitPrepared(prepared).split), quantization: null };
  const q = quantizeGraphWeights(prepared, { bits: nBits, perChannel: true });
  const split = withSteps(splitPrepared(q.prepared).split);
  return { split, quantization: quantizationSummary(q, split.body) };
}

export interface ExactChainOptions {
  /** Bits of the weight quantization the model was compiled with. */
  readonly nBits?: number;
  /** Per activation of the chain, in order: the unit divisors it was compiled with, if any. */
  readonly unitBounds?: readonly (Float64Array | undefined)[];
  /** The row-wise functions compiled as exact client steps (compile --on-client). */
  readonly onClient?: readonly RowFunctionKind[];
}

/** The body the report measures against, by the compile's kind: the exact chain (see exactChain), or the tree ensemble itself. */
export function exactBody(graph: Graph, options: ExactChainOptions = {}): ({ readonly kind: 'chain'; readonly split: SplitModel }) | TreeBodySplit {
  return treeBodyOf(graph) ?? { kind: 'chain', split: exactChain(graph, options) };
}

/** The split model whose body is the compiled exact chain (quantized, ReLU units rescaled). */
export function exactChain(graph: Graph, options: ExactChainOptions = {}): SplitModel {
  const { split } = quantizedSplit(graph, options.nBits, options.onClient);
  const activations = split.body.flatMap((s, i) => (s.kind === 'activation' ? [i] : []));
  const given = options.unitBounds ?? [];
  if (given.length > activations.length) fail('BAD_ARGUMENT', `unit bounds for ${given.length} activations, the chain has ${activations.length}`);
  const bounds = new Map<number, Float64Array>();
  given.forEach((b, k) => {
    if (b) bounds.set(activations[k]!, b);
  });
  return bounds.size > 0 ? { ...split, body: scaleUnits(split.body, bounds) } : split;
}
