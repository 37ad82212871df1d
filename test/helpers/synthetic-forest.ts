/**
 * Random ONNX tree ensembles (TreeEnsembleClassifier / TreeEnsembleRegressor, ai.onnx.ml opset 1)
 * for tests and scaling scripts: trees of a given depth (full, or with leaves cut early at random),
 * thresholds on float32 values in [0, 1), optional branch modes and missing-value tracking, and
 * rows that hit thresholds exactly and carry NaNs, where the comparison modes differ.
 */
import { forestAttributes, type ForestNode } from './forest-attributes';
import { oneNodeModel, type Attr } from './ml-model';
import { mulberry32 } from './random';

export interface ForestSpec {
  readonly trees: number;
  readonly depth: number;
  readonly features: number;
  /** Classifier with these int64 labels, or regressor with `targets` targets. */
  readonly task: { readonly kind: 'classifier'; readonly labels: readonly number[] } | { readonly kind: 'regressor'; readonly targets: number };
  readonly seed: number;
  /** Branch modes to draw from (default BRANCH_LEQ only). */
  readonly modes?: readonly string[];
  /** Chance a node below the root becomes a leaf early (default 0: full trees). */
  readonly earlyLeaf?: number;
  /** Draw nodes_missing_value_tracks_true at random (default all 0). */
  readonly missingTracks?: boolean;
  /** Leaves vote for one class each (XGBoost style) instead of a vector of all classes. */
  readonly oneClassPerLeaf?: boolean;
  /** With oneClassPerLeaf: tree t votes for class t mod votedClasses (default: every class; 1 is XGBoost's binary form). */
  readonly votedClasses?: number;
  readonly extra?: Readonly<Record<string, Attr>>;
}

export interface SyntheticForest {
  readonly bytes: Uint8Array;
  /** Every threshold, so rows can be built to hit them. */
  readonly thresholds: readonly { readonly feature: number; readonly value: number }[];
}

export function syntheticForest(s: ForestSpec): SyntheticForest {
  const rand = mulberry32(s.seed);
  const modes = s.modes ?? ['BRANCH_LEQ'];
  const outputs = s.task.kind === 'classifier' ? s.task.labels.length : s.task.targets;
  const prefix = s.task.kind === 'classifier' ? 'class' : 'target';
  const nodes: ForestNode[] = [];
  const thresholds: { feature: number; value: number }[] = [];
  for (let tree = 0; tree < s.trees; tree++) {
    let next = 0;
    const grow = (depth: number): number => {
      const id = next++;
      const leaf = depth === s.depth || (depth > 0 && rand() < (s.earlyLeaf ?? 0));
      if (leaf) {
        const votes = s.oneClassPerLeaf ? [tree % (s.votedClasses ?? outputs)] : Array.from({ length: outputs }, (_, k) => k);
        nodes.push({ tree, id, leaf: votes.map((k) => [k, Math.fround(rand() * 2 - 0.5)] as const) });
        return id;
      }
      const feature = Math.floor(rand() * s.features);
      const value = Math.fround(rand());
      thresholds.push({ feature, value });
      const mode = modes[Math.floor(rand() * modes.length)]!;
      const branch = { tree, id, mode, feature, value, t: 0, f: 0, missingTrue: s.missingTracks === true && rand() < 0.5 };
      nodes.push(branch);
      branch.t = grow(depth + 1);
      branch.f = grow(depth + 1);
      return id;
    };
    grow(0);
  }
  const attributes: Record<string, Attr> = {
    ...forestAttributes(nodes, prefix),
    ...(s.task.kind === 'classifier' ? { classlabels_int64s: { ints: s.task.labels } } : { n_targets: { int: s.task.targets } }),
    ...s.extra,
  };
  const input = { name: 'X', type: 'float32' as const, shape: ['N', s.features] };
  const bytes =
    s.task.kind === 'classifier'
      ? oneNodeModel({ opType: 'TreeEnsembleClassifier', attributes, inputs: [input], outputs: [{ name: 'label', type: 'int64', shape: ['N'] }, { name: 'scores', type: 'float32', shape: ['N', outputs] }] })
      : oneNodeModel({ opType: 'TreeEnsembleRegressor', attributes, inputs: [input], outputs: [{ name: 'Y', type: 'float32', shape: ['N', outputs] }] });
  return { bytes, thresholds };
}

/**
 * Rows of float32 features in [0, 1): a share set exactly on a threshold of their feature (where
 * LEQ and LT, GTE and GT, EQ and NEQ part ways) and a share NaN.
 */
export function forestRows(f: SyntheticForest, features: number, count: number, seed: number, nanShare = 0): number[][] {
  const rand = mulberry32(seed);
  return Array.from({ length: count }, () =>
    Array.from({ length: features }, (_, j) => {
      const r = rand();
      if (r < nanShare) return NaN;
      if (r < nanShare + 0.2) {
        const on = f.thresholds.filter((t) => t.feature === j);
        if (on.length > 0) return on[Math.floor(rand() * on.length)]!.value;
      }
      return Math.fround(rand());
    }),
  );
}
