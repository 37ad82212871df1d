/**
 * Compile step 3 for a tree ensemble: its body (splitBody's tree kind: the ensemble and the client nodes around it),
 * encoded on the calibration rows:
 *   tree inputs on the calibration rows → threshold grid (--n-bits, or the fewest bits keeping
 *   every calibration row's leaves) and the client's bit encoding → server sums and client
 *   finalisation → prologue/epilogue ONNX nodes → the largest value the circuit carries.
 * Its plan (batch-layout circuit, parameters, exact scales) is the plan search's (steps/tree-plan).
 * The vector layout is not offered: the path products would have to bring each sample's bits
 * together by rotations, while the batch layout needs none.
 */
import type { Calibration, ValueStats } from '../../approx/calibrate';
import type { JsonObject } from '../../artifact/json-text';
import { fail } from '../../errors';
import type { Graph } from '../../graph/graph';
import type { NumericTensor } from '../../graph/tensor';
import type { SplitModel } from '../../chain/stages';
import { runPrologue } from '../../chain/run';
import { evaluateTreeBody, forestDepth, type TreeBody } from '../../chain/tree-body';
import { treeClientSteps } from '../../passes/tree-client';
import { chooseTreeBits, encodeRow, encodeTrees, rowsWithChangedLeaves, type TreeEncoding } from '../../passes/tree-encoding';
import type { TreeBodySplit } from '../../passes/split-graph';
import type { TreeModel } from '../../passes/tree-model';
import { treeScores } from '../../passes/tree-scores';
import { outputBitsForMagnitude } from '../../params/select';

/** A compiled tree ensemble's counts and threshold grid: what the compiler chose, the manifest records and the report shows. */
export interface TreeGrid {
  readonly trees: number;
  /** Deepest leaf. */
  readonly depth: number;
  readonly branches: number;
  readonly leaves: number;
  /** Grid bits per feature, and whether the default chose them. */
  readonly nBits: number;
  readonly nBitsChosen: boolean;
  /** Encrypted bits per sample (distinct snapped cuts). */
  readonly bits: number;
  /** Branch thresholds that the snap moved. */
  readonly movedThresholds: number;
  /** Calibration rows that reach another leaf in some tree because of the snap. */
  readonly calibrationRowsChanged: number;
  readonly calibrationRows: number;
}

/** The grid's fields of `t` alone, in the manifest's order (a report built from a manifest record keeps no other field). */
export function treeGridOf(t: TreeGrid): TreeGrid {
  const { trees, depth, branches, leaves, nBits, nBitsChosen, bits, movedThresholds, calibrationRowsChanged, calibrationRows } = t;
  return { trees, depth, branches, leaves, nBits, nBitsChosen, bits, movedThresholds, calibrationRowsChanged, calibrationRows };
}

/** What the report says about a compiled tree ensemble. */
export interface TreeSummary extends TreeGrid {
  readonly thresholds: readonly { readonly node: number; readonly feature: number; readonly mode: string; readonly threshold: number; readonly snapped: number }[];
  /** Score columns the server sums per sample. */
  readonly columns: number;
}

/** `treeSummaryJson`'s record: per branch node [feature, threshold, snapped]. */
export interface RecordedTreeSummary extends TreeGrid {
  readonly thresholds: readonly (readonly [number, number, number])[];
  readonly columns: number;
}

/**
 * The summary as the manifest records it (options.trees): counts, the grid, and per branch node
 * [feature, threshold, snapped], so a report can list the snap without the source model.
 */
export function treeSummaryJson(t: TreeSummary): JsonObject {
  const { thresholds, ...rest } = t;
  return { ...rest, thresholds: thresholds.map((x) => [x.feature, x.threshold, x.snapped]) };
}

export interface EncodedTrees {
  readonly model: TreeModel;
  readonly encoding: TreeEncoding;
  readonly body: TreeBody;
  readonly split: SplitModel;
  readonly calibration: Calibration;
  readonly maxAbs: number;
  readonly outputBits: number;
  readonly summary: TreeSummary;
}

function stats(values: readonly number[]): ValueStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sq = 0;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
    sq += v * v;
  }
  const count = values.length;
  const mean = count > 0 ? sum / count : 0;
  return { min, max, mean, std: count > 0 ? Math.sqrt(Math.max(0, sq / count - mean * mean)) : 0, count };
}

/** The client's feed into the ensemble (its input after the nodes before it), one vector per row. */
export function treeInputRows(graph: Graph, model: TreeModel, input: NumericTensor): Float64Array[] {
  return runPrologue(treeInputSplit(graph, model), input);
}

function treeInputSplit(graph: Graph, model: TreeModel): SplitModel {
  const input = graph.inputs[0];
  if (!input || input.type.kind !== 'tensor') fail('NOT_ENCRYPTABLE', 'the model needs one tensor input');
  const inputShape = (input.type.shape ?? []).slice(1).map((d) => (typeof d === 'number' ? d : fail('NOT_ENCRYPTABLE', `input "${input.name}" has an open dimension besides the batch`)));
  return {
    inputName: input.name,
    inputShape,
    inputDType: input.type.dtype,
    prologue: model.before,
    bodyInput: model.input,
    body: [],
    bodyOutput: model.input,
    bodyOutputShape: [model.features],
    epilogue: [],
    bodyOutputDType: 'float32',
    outputs: graph.outputs,
    opsets: graph.opsets,
    constants: graph.initializers,
  };
}

/** `nBits`: the threshold grid's bits per feature (--n-bits); the fewest that keep every calibration row's leaves when absent. */
export function encodeTreeBody(tree: TreeBodySplit, calibrationInput: NumericTensor, nBits?: number): EncodedTrees {
  const { graph, trees: model } = tree;
  const treeInput = treeInputSplit(graph, model);
  const rows = runPrologue(treeInput, calibrationInput);
  if (rows.length === 0) fail('BAD_DATA', 'the calibration data has no rows');

  let encoding: TreeEncoding;
  let changed: number;
  if (nBits !== undefined) {
    encoding = encodeTrees(model, rows, nBits);
    changed = rowsWithChangedLeaves(model, encoding, rows).length;
  } else {
    const choice = chooseTreeBits(model, rows);
    encoding = choice.encoding;
    changed = choice.changedRows;
  }
  const { body, finish } = treeScores(model, encoding);
  const client = treeClientSteps(model, encoding, finish);
  const constants = new Map([...graph.initializers, ...client.constants]);
  const split: SplitModel = {
    ...treeInput,
    prologue: [...model.before, ...client.prologue],
    bodyInput: client.bodyInput,
    bodyOutput: client.bodyOutput,
    bodyOutputShape: [body.columns],
    bodyOutputDType: 'float32',
    epilogue: [...client.epilogue, ...model.after],
    constants,
  };

  // The largest value the circuit carries: a score, a leaf value, or a 0/1 product.
  const outputs = rows.map((r) => evaluateTreeBody(body, encodeRow(encoding.bits, r)));
  let maxAbs = 1;
  for (const o of outputs) for (const v of o) maxAbs = Math.max(maxAbs, Math.abs(v));
  for (const n of body.nodes) if (n.leaf) for (const v of n.values) maxAbs = Math.max(maxAbs, Math.abs(v));
  const outputBits = outputBitsForMagnitude(maxAbs);

  const thresholds = encoding.thresholds.map((t) => ({ node: t.node, feature: t.feature, mode: t.mode, threshold: t.threshold, snapped: t.snapped }));
  const leaves = model.ensemble.nodes.filter((n) => n.leaf).length;
  const summary: TreeSummary = {
    trees: model.ensemble.roots.length,
    depth: forestDepth(body),
    branches: model.ensemble.nodes.length - leaves,
    leaves,
    nBits: encoding.nBits,
    nBitsChosen: nBits === undefined,
    bits: encoding.bits.length,
    movedThresholds: thresholds.filter((t) => t.snapped !== t.threshold).length,
    thresholds,
    calibrationRowsChanged: changed,
    calibrationRows: rows.length,
    columns: body.columns,
  };
  const calibration: Calibration = { rows: rows.length, activations: [], output: stats(outputs.flatMap((o) => [...o])) };
  return { model, encoding, body, split, calibration, maxAbs, outputBits, summary };
}
