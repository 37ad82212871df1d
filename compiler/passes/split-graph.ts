/**
 * The passes in order: an imported graph → client prologue, encrypted chain, client epilogue.
 *   nearest-neighbour refusal → constant folding → dead-code removal → activation fusion (multi-node activations as one node) →
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
import { removeDeadNodes } from './dead-code';
import { expandLinearMl } from './expand-linear-ml';
import { foldBatchNorm } from './fold-batchnorm';
import { fuseActivations } from './fuse-activations';
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
  /** Nodes made by the passes that the client runs (see expandLinearMl). */
  readonly clientNodes: ReadonlySet<Node>;
  readonly foldedBatchNorms: readonly string[];
}

export function prepareGraph(original: Graph): PreparedGraph {
  refuseKnownFamilies(original);
  const fused = fuseActivations(removeDeadNodes(foldConstants(original)));
  const bn = foldBatchNorm(fused.graph, fused.sources);
  const expanded = expandLinearMl(bn.graph, bn.sources);
  return { graph: expanded.graph, sources: expanded.sources, clientNodes: expanded.clientNodes, foldedBatchNorms: bn.folded };
}

/** Trace, split and merge a prepared graph (its initializers may have been rewritten since). */
export function splitPrepared(prepared: PreparedGraph): GraphSplit {
  const { graph } = prepared;
  const trace = traceGraph(graph, prepared.sources);
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
