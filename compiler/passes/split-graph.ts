/**
 * The passes in order: an imported graph → client prologue, encrypted chain, client epilogue.
 *   nearest-neighbour refusal → constant folding → shape folding (fold-shapes) → constant folding → dead-code removal →
 *   batch axis followed through transposes and reshapes, every input-derived value batch-first (batch-axis) →
 *   activation fusion (multi-node activations as one node) → embeddings as a client one-hot times the table → LayerNorm fusion (opset-14 exports as one node) →
 *   BatchNormalization folding → LinearClassifier/Regressor expansion →
 *   symbolic trace (affine maps composed per value, activations as heads) → split → merge.
 * prepareGraph runs the rewrites up to the expansion, splitPrepared the rest, so a caller can
 * change the layers' weights in between (weight quantization does).
 * Anything that cannot be reduced is refused with NOT_ENCRYPTABLE naming the node.
 *
 * Before → after (sk_mlp_breast_cancer_tanh, as `inspect --lowered` prints it):
 *   Scaler → MatMul → Add → Tanh → MatMul → Add → Sigmoid → Sub → Concat → ArgMax → … (Casts left out)
 *   client prologue: (none)
 *   encrypted body: 1. affine 30→16 (Scaler, MatMul, Add)  2. tanh ×16  3. affine 16→1 (MatMul1, Add1)
 *   client epilogue: Sigmoid, Sub, Concat, ArgMax, ArrayFeatureExtractor, Reshape, Cast
 */
import type { Graph, Node } from '../graph/graph';
import type { Tensor } from '../graph/tensor';
import type { SplitModel } from '../chain/stages';
import type { SourceTable } from './node-sources';
import { foldConstants } from './constant-fold';
import { foldShapes } from './fold-shapes';
import { removeDeadNodes } from './dead-code';
import { expandLinearMl } from './expand-linear-ml';
import { foldBatchNorm } from './fold-batchnorm';
import { fuseActivations } from './fuse-activations';
import { fuseLayerNorms } from './fuse-layernorm';
import { batchFirst } from './batch-axis';
import { oneHotEmbeddings } from './embedding-one-hot';
import { mergeAffineStages } from './merge-affine';
import { refuseKnownFamilies } from './refuse-families';
import { chooseCut } from './cut';
import { traceGraph } from './trace';
import { hasTreeEnsemble, treeModel, type TreeModel } from './tree-model';

export interface GraphSplit {
  readonly split: SplitModel;
  /** The graph the split refers to (after folding and expansion): prologue ∪ body ∪ epilogue nodes. */
  readonly graph: Graph;
  /** BatchNormalization nodes folded into their Gemm/Conv. */
  readonly foldedBatchNorms: readonly string[];
}

/**
 * The graph after the rewriting passes and before the symbolic trace: every layer's effective
 * weights (BatchNormalization folded in, linear ml operators as Gemm) are initializers read by
 * Gemm, MatMul or Conv nodes. Weight quantization works on this form, before the trace merges
 * layers with their preprocessing.
 */
export interface PreparedGraph {
  readonly graph: Graph;
  /** Original ONNX node labels per rewritten node, for reports. */
  readonly sources: SourceTable;
  /** Nodes made by the passes that the client runs after decryption (see expandLinearMl). */
  readonly clientNodes: ReadonlySet<Node>;
  /** Nodes made by the passes that the client runs before encryption (an embedding's one-hot, see embedding-one-hot). */
  readonly clientPrologue: ReadonlySet<Node>;
  /** Nodes batch-axis.ts added to move the batch back where it could not follow it, keyed by first output, with the reason. */
  readonly layoutRefusals: ReadonlyMap<string, string>;
  readonly foldedBatchNorms: readonly string[];
}

export function prepareGraph(original: Graph): PreparedGraph {
  refuseKnownFamilies(original);
  // Shape arithmetic becomes constant once folded (fold-shapes), and what it fed may fold in turn.
  // The batch axis is followed on plain ONNX nodes, before the fusions make nodes without kernels.
  const batchAxis = batchFirst(removeDeadNodes(foldConstants(foldShapes(foldConstants(original)))), new Map());
  const fused = fuseActivations(batchAxis.graph, batchAxis.sources);
  const embedded = oneHotEmbeddings(fused.graph, fused.sources);
  const norms = fuseLayerNorms(embedded.graph, embedded.sources);
  const bn = foldBatchNorm(norms.graph, norms.sources);
  const expanded = expandLinearMl(bn.graph, bn.sources);
  return { graph: expanded.graph, sources: expanded.sources, clientNodes: expanded.clientNodes, clientPrologue: embedded.clientPrologue, layoutRefusals: batchAxis.refusals, foldedBatchNorms: bn.folded };
}

/** Trace, split and merge a prepared graph (its initializers may have been rewritten since). */
export function splitPrepared(prepared: PreparedGraph): GraphSplit {
  const { graph } = prepared;
  const trace = traceGraph(graph, prepared.sources, prepared.clientPrologue, prepared.layoutRefusals);
  const cut = chooseCut(graph, trace, prepared.clientNodes);
  const outType = graph.valueTypes.get(cut.bodyOutput);
  const split: SplitModel = {
    inputName: trace.inputName,
    inputShape: trace.inputShape,
    prologue: trace.prologue,
    bodyInput: trace.bodyInput,
    body: mergeAffineStages(cut.stages),
    bodyOutput: cut.bodyOutput,
    bodyOutputShape: trace.values.get(cut.bodyOutput)!.shape,
    epilogue: cut.epilogue,
    inputDType: trace.inputDType,
    bodyOutputDType: outType?.kind === 'tensor' ? outType.dtype : 'float32',
    outputs: graph.outputs,
    opsets: graph.opsets,
    constants: constantsRead([...trace.prologue, ...cut.epilogue], graph.initializers),
  };
  return { split, graph, foldedBatchNorms: prepared.foldedBatchNorms };
}

/**
 * What the passes make of a model's encrypted part, by body kind: a chain of affine maps,
 * activations and client steps (prologue, chain, epilogue), or a tree ensemble (the ensemble
 * with the client's nodes before and after it), which the compile encodes (steps/encode-trees) and lowers in the batch layout.
 * Inspect, compile and report read the kind; neither kind is an error.
 */
export type BodySplit = ({ readonly kind: 'chain' } & GraphSplit) | TreeBodySplit;

/** The tree-ensemble body kind: the ensemble and the client's nodes around it (see tree-model), on the graph they came from. */
export interface TreeBodySplit {
  readonly kind: 'trees';
  readonly trees: TreeModel;
  readonly graph: Graph;
}

export function splitBody(original: Graph): BodySplit {
  return treeBodyOf(original) ?? { kind: 'chain', ...splitGraph(original) };
}

/** The tree body when the model's encrypted part is a tree ensemble, null when it is a chain: the one place the kind is decided. */
export function treeBodyOf(original: Graph): TreeBodySplit | null {
  return hasTreeEnsemble(original) ? { kind: 'trees', trees: treeModel(original), graph: original } : null;
}

/** All the passes of a chain model: an imported graph → its split (prologue, chain, epilogue). */
export function splitGraph(original: Graph): GraphSplit {
  return splitPrepared(prepareGraph(original));
}

function constantsRead(nodes: readonly Node[], initializers: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const n of nodes) for (const x of n.inputs) if (initializers.has(x)) out.set(x, initializers.get(x)!);
  return out;
}
