/**
 * The tree structure shared by TreeEnsembleClassifier and TreeEnsembleRegressor: decoding the
 * parallel nodes_* / class_* (target_*) attribute lists into linked nodes, checking them so that
 * evaluation can never index out of bounds or loop, and walking one row down one tree.
 * onnxruntime (tree_ensemble_common.h) is the reference for which node is a tree's root, how
 * leaves collect weights and how NaN and missing_value_tracks_true steer a comparison.
 */
import type { Node } from '../graph';
import type { NodeView } from '../kernel';
import { floatList, intList } from './ml-common';

export type BranchMode = 'BRANCH_LEQ' | 'BRANCH_LT' | 'BRANCH_GTE' | 'BRANCH_GT' | 'BRANCH_EQ' | 'BRANCH_NEQ';
const BRANCH_MODES: readonly string[] = ['BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ'];

export interface LeafWeight {
  /** Class index (classifier) or target index (regressor). */
  readonly index: number;
  readonly value: number;
}

export type TreeNode =
  | {
      readonly leaf: false;
      readonly mode: BranchMode;
      readonly feature: number;
      readonly threshold: number;
      readonly missingTracksTrue: boolean;
      /** Positions in `TreeEnsemble.nodes`. */
      readonly whenTrue: number;
      readonly whenFalse: number;
    }
  | { readonly leaf: true; readonly weights: readonly LeafWeight[] };

export interface TreeEnsemble {
  readonly nodes: readonly TreeNode[];
  /** Position of each tree's root node, in evaluation order. */
  readonly roots: readonly number[];
  /** Largest feature index any branch reads: the input needs more columns than this. */
  readonly maxFeature: number;
  /** How many different classes/targets the weights name (1 marks onnxruntime's binary case). */
  readonly distinctWeightIndices: number;
  /** No weight is negative, counting those onnxruntime ignores on branch nodes, as it does. */
  readonly allWeightsNonNegative: boolean;
}

/** The attribute prefix of leaf weights: `class_*` for classifiers, `target_*` for regressors. */
export type WeightPrefix = 'class' | 'target';

const cache = new WeakMap<Node, TreeEnsemble>();

/** Decoded once per graph node; every later call (infer, each run) reuses it. */
export function treeEnsembleOf(view: NodeView, prefix: WeightPrefix, outputCount: number): TreeEnsemble {
  let e = cache.get(view.node);
  if (!e) {
    e = decodeEnsemble(view, prefix, outputCount);
    cache.set(view.node, e);
  }
  return e;
}

function required<T>(view: NodeView, name: string, v: readonly T[] | undefined): readonly T[] {
  if (v === undefined) view.invalid(`attribute "${name}" is required`);
  return v;
}

function decodeEnsemble(view: NodeView, prefix: WeightPrefix, outputCount: number): TreeEnsemble {
  const treeIds = required(view, 'nodes_treeids', intList(view, 'nodes_treeids'));
  const nodeIds = required(view, 'nodes_nodeids', intList(view, 'nodes_nodeids'));
  const featureIds = required(view, 'nodes_featureids', intList(view, 'nodes_featureids'));
  const modes = required(view, 'nodes_modes', view.strings('nodes_modes'));
  const values = required(view, 'nodes_values', floatList(view, 'nodes_values'));
  const trueIds = required(view, 'nodes_truenodeids', intList(view, 'nodes_truenodeids'));
  const falseIds = required(view, 'nodes_falsenodeids', intList(view, 'nodes_falsenodeids'));
  const missing = intList(view, 'nodes_missing_value_tracks_true') ?? [];
  const n = treeIds.length;
  if (n === 0) view.invalid('the ensemble has no nodes');
  const lists: Array<[string, number]> = [
    ['nodes_nodeids', nodeIds.length],
    ['nodes_featureids', featureIds.length],
    ['nodes_modes', modes.length],
    ['nodes_values', values.length],
    ['nodes_truenodeids', trueIds.length],
    ['nodes_falsenodeids', falseIds.length],
  ];
  for (const [name, len] of lists) if (len !== n) view.invalid(`"${name}" has ${len} entries but "nodes_treeids" has ${n}`);
  if (missing.length !== 0 && missing.length !== n) view.invalid(`"nodes_missing_value_tracks_true" has ${missing.length} entries for ${n} nodes`);

  const key = (tree: number, node: number) => `${tree}:${node}`;
  const position = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const k = key(treeIds[i]!, nodeIds[i]!);
    if (position.has(k)) view.invalid(`node ${nodeIds[i]} of tree ${treeIds[i]} is defined twice`);
    position.set(k, i);
  }

  // Leaf weights, in attribute order per leaf.
  const wIds = intList(view, `${prefix}_ids`) ?? [];
  const wNodes = intList(view, `${prefix}_nodeids`) ?? [];
  const wTrees = intList(view, `${prefix}_treeids`) ?? [];
  const wValues = floatList(view, `${prefix}_weights`) ?? [];
  const m = wIds.length;
  if (wNodes.length !== m || wTrees.length !== m || wValues.length !== m) {
    view.invalid(`"${prefix}_ids", "${prefix}_nodeids", "${prefix}_treeids" and "${prefix}_weights" must have the same length (${m}, ${wNodes.length}, ${wTrees.length}, ${wValues.length})`);
  }
  const leafWeights = new Map<number, LeafWeight[]>();
  for (let j = 0; j < m; j++) {
    const at = position.get(key(wTrees[j]!, wNodes[j]!));
    if (at === undefined) view.invalid(`weight ${j} refers to node ${wNodes[j]} of tree ${wTrees[j]}, which does not exist`);
    const index = wIds[j]!;
    if (index < 0 || index >= outputCount) view.invalid(`weight ${j} is for ${prefix} ${index}, outside [0, ${outputCount})`);
    // onnxruntime ignores weights attached to branch nodes (old converters wrote them).
    if (modes[at] !== 'LEAF') continue;
    const list = leafWeights.get(at) ?? [];
    list.push({ index, value: wValues[j]! });
    leafWeights.set(at, list);
  }

  const nodes: TreeNode[] = [];
  let maxFeature = -1;
  for (let i = 0; i < n; i++) {
    const mode = modes[i]!;
    if (mode === 'LEAF') {
      const weights = leafWeights.get(i);
      if (!weights) view.invalid(`leaf node ${nodeIds[i]} of tree ${treeIds[i]} has no ${prefix} weights`);
      nodes.push({ leaf: true, weights });
      continue;
    }
    if (!BRANCH_MODES.includes(mode)) view.unsupported(`node mode "${mode}" (node ${nodeIds[i]} of tree ${treeIds[i]})`);
    const feature = featureIds[i]!;
    if (feature < 0) view.invalid(`node ${nodeIds[i]} of tree ${treeIds[i]} reads feature ${feature}`);
    maxFeature = Math.max(maxFeature, feature);
    const child = (id: number, side: string): number => {
      const at = position.get(key(treeIds[i]!, id));
      if (at === undefined) view.invalid(`node ${nodeIds[i]} of tree ${treeIds[i]}: ${side} child ${id} does not exist in that tree`);
      if (at === i) view.invalid(`node ${nodeIds[i]} of tree ${treeIds[i]} is its own ${side} child`);
      return at;
    };
    nodes.push({
      leaf: false,
      mode: mode as BranchMode,
      feature,
      threshold: values[i]!,
      missingTracksTrue: missing[i] === 1,
      whenTrue: child(trueIds[i]!, 'true'),
      whenFalse: child(falseIds[i]!, 'false'),
    });
  }

  // onnxruntime takes as root the first node listed for each run of equal tree ids.
  const roots: number[] = [];
  for (let i = 0; i < n; i++) if (i === 0 || treeIds[i] !== treeIds[i - 1]) roots.push(i);
  refuseCycles(view, nodes, roots, treeIds, nodeIds);

  return {
    nodes,
    roots,
    maxFeature,
    distinctWeightIndices: new Set(wIds).size,
    allWeightsNonNegative: wValues.every((v) => !(v < 0)),
  };
}

/** A branch that leads back to itself would make evaluation loop forever: refuse it up front. */
function refuseCycles(view: NodeView, nodes: readonly TreeNode[], roots: readonly number[], treeIds: readonly number[], nodeIds: readonly number[]): void {
  const state = new Uint8Array(nodes.length); // 0 unseen, 1 on the current path, 2 done
  for (const root of roots) {
    if (state[root] === 2) continue;
    const stack: Array<{ at: number; next: 0 | 1 | 2 }> = [{ at: root, next: 0 }];
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const node = nodes[top.at]!;
      if (node.leaf || top.next === 2) {
        state[top.at] = 2;
        stack.pop();
        continue;
      }
      const child = top.next === 0 ? node.whenTrue : node.whenFalse;
      top.next = top.next === 0 ? 1 : 2;
      if (state[child] === 1) view.invalid(`tree ${treeIds[child]} has a cycle through node ${nodeIds[child]}`);
      if (state[child] === 0) {
        state[child] = 1;
        stack.push({ at: child, next: 0 });
      }
    }
  }
}

/** Whether a branch of this mode sends x the true way (NaN compares false, so only NEQ sends it true). */
export function goesTrue(mode: BranchMode, x: number, threshold: number): boolean {
  switch (mode) {
    case 'BRANCH_LEQ':
      return x <= threshold;
    case 'BRANCH_LT':
      return x < threshold;
    case 'BRANCH_GTE':
      return x >= threshold;
    case 'BRANCH_GT':
      return x > threshold;
    case 'BRANCH_EQ':
      return x === threshold;
    case 'BRANCH_NEQ':
      return x !== threshold;
  }
}

/**
 * The leaf one row reaches from `root`. A NaN feature fails every comparison except NEQ, unless
 * the node says missing values go the true way.
 */
export function leafFor(e: TreeEnsemble, root: number, row: Float64Array, offset: number): Extract<TreeNode, { leaf: true }> {
  let node = e.nodes[root]!;
  while (!node.leaf) {
    const x = row[offset + node.feature]!;
    const t = goesTrue(node.mode, x, node.threshold) || (node.missingTracksTrue && Number.isNaN(x));
    node = e.nodes[t ? node.whenTrue : node.whenFalse]!;
  }
  return node;
}
