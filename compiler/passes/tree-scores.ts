/**
 * Which sums the server computes for a tree ensemble and how the client turns them into the ONNX
 * node's outputs, following onnxruntime's aggregation (the reference kernels in
 * graph/ops/ml-tree.ts): per class/target the sum of the reached leaves' weights; then base
 * values, the binary special cases, post_transform and the label, all on the client.
 *
 * The server sums only the columns that vary: a class no leaf votes for is a constant 0, and when
 * every leaf of a tree spreads the same total over the classes (probabilities), the last class is
 * that total minus the others. A class that some rows vote for and others not ("has a score" in
 * onnxruntime) would need a data-dependent flag and is refused.
 *
 * Before → after (one tree on bit b, probabilities over two classes):
 *   b ? leaf [0.2, 0.8] : leaf [0.9, 0.1]
 *   server: s0 = 0.9·(1 − b) + 0.2·b   client: p = [s0, 1 − s0] (every leaf spreads a total of 1)
 */
import { fail } from '../errors';
import type { PostTransform } from '../graph/ops/ml-common';
import { leafFor } from '../graph/ops/ml-tree-ensemble';
import type { TreeBody, TreeBodyNode } from '../chain/tree-body';
import type { TreeEncoding } from './tree-encoding';
import type { TreeModel } from './tree-model';

/** Ties within this of a decision boundary resolve as an exact tie does, despite CKKS noise. */
export const TIE_MARGIN = 2 ** -14;

/** raw scores (all classes/targets, per sample) = body columns · matrix + offset. */
export interface ScoreMap {
  /** [columns × outputs], row-major. */
  readonly matrix: Float64Array;
  readonly offset: Float64Array;
}

export type LabelRule =
  | { readonly kind: 'none' }
  /** Index of the largest finalised score before the transform (first on ties). */
  | { readonly kind: 'argmax' }
  /** Index [positive > threshold], positive = columns · weights + offset. */
  | { readonly kind: 'threshold'; readonly weights: Float64Array; readonly offset: number; readonly threshold: number };

/**
 * What the client does with the decrypted columns: pre = columns · matrix + offset (base values and
 * the binary cases folded in), outputs = transform(pre), label by `label`.
 */
export interface TreeFinish {
  readonly columns: number;
  readonly outputs: number;
  readonly pre: ScoreMap;
  readonly transform: 'NONE' | 'LOGISTIC' | 'SOFTMAX';
  readonly label: LabelRule;
}

export interface TreeScores {
  readonly body: TreeBody;
  readonly finish: TreeFinish;
}

type Presence = 'always' | 'never' | 'sometimes';

/** Per leaf position, its summed weight per class/target as onnxruntime reads them. */
function leafVotes(model: TreeModel): Map<number, Float64Array> {
  const votes = new Map<number, Float64Array>();
  const trees = model.ensemble.roots.length;
  const scale = model.task.kind === 'regressor' && model.task.average ? 1 / trees : 1;
  model.ensemble.nodes.forEach((n, at) => {
    if (!n.leaf) return;
    const v = new Float64Array(model.outputs);
    // One regression target: onnxruntime reads only each leaf's first weight.
    const weights = model.task.kind === 'regressor' && model.outputs === 1 ? n.weights.slice(0, 1).map((w) => ({ index: 0, value: w.value })) : n.weights;
    for (const w of weights) v[w.index] += w.value * scale;
    votes.set(at, v);
  });
  return votes;
}

/** Leaves of each tree, by tree. */
function treeLeaves(model: TreeModel): number[][] {
  const nodes = model.ensemble.nodes;
  return model.ensemble.roots.map((root) => {
    const leaves: number[] = [];
    const stack = [root];
    while (stack.length > 0) {
      const at = stack.pop()!;
      const n = nodes[at]!;
      if (n.leaf) leaves.push(at);
      else stack.push(n.whenTrue, n.whenFalse);
    }
    return leaves;
  });
}

function presence(model: TreeModel, leaves: readonly number[][]): Presence[] {
  const votedBy = (leaf: number, k: number): boolean => {
    const n = model.ensemble.nodes[leaf]!;
    if (!n.leaf) return false;
    if (model.task.kind === 'regressor' && model.outputs === 1) return k === 0;
    return n.weights.some((w) => w.index === k);
  };
  return Array.from({ length: model.outputs }, (_, k) => {
    if (leaves.some((tree) => tree.every((l) => votedBy(l, k)))) return 'always';
    if (leaves.every((tree) => tree.every((l) => !votedBy(l, k)))) return 'never';
    return 'sometimes';
  });
}

/**
 * Columns the server sums, and raw = columns · map: voted classes only, the last dropped when every
 * tree's leaves carry one total each (then it is Σ totals − the others).
 */
function columnsOf(model: TreeModel, leaves: readonly number[][], votes: ReadonlyMap<number, Float64Array>, has: readonly Presence[]): { computed: number[]; map: ScoreMap } {
  const voted = has.flatMap((p, k) => (p === 'always' ? [k] : []));
  let computed = voted;
  let total = 0;
  let derived: number | null = null;
  if (voted.length >= 2) {
    const totals = leaves.map((tree) => tree.map((l) => voted.reduce((s, k) => s + votes.get(l)![k]!, 0)));
    const constant = totals.every((t) => t.every((v) => Math.abs(v - t[0]!) <= 1e-6 * Math.max(1, Math.abs(t[0]!))));
    if (constant) {
      derived = voted[voted.length - 1]!;
      computed = voted.slice(0, -1);
      total = totals.reduce((s, t) => s + t[0]!, 0);
    }
  }
  const K = model.outputs;
  const matrix = new Float64Array(computed.length * K);
  const offset = new Float64Array(K);
  computed.forEach((k, c) => {
    matrix[c * K + k] = 1;
    if (derived !== null) matrix[c * K + derived] = -1;
  });
  if (derived !== null) offset[derived] = total;
  return { computed, map: { matrix, offset } };
}

/** pre = raw · m + o composed after raw = columns · first. */
function compose(first: ScoreMap, columns: number, inner: number, m: Float64Array, o: Float64Array, outer: number): ScoreMap {
  const matrix = new Float64Array(columns * outer);
  const offset = Float64Array.from(o);
  for (let j = 0; j < outer; j++) {
    for (let k = 0; k < inner; k++) {
      const w = m[k * outer + j]!;
      if (w === 0) continue;
      for (let c = 0; c < columns; c++) matrix[c * outer + j] += first.matrix[c * inner + k]! * w;
      offset[j] += first.offset[k]! * w;
    }
  }
  return { matrix, offset };
}

function clientTransform(model: TreeModel, width: number): TreeFinish['transform'] {
  const t: PostTransform = model.transform;
  // onnxruntime applies no transform but PROBIT to a single score.
  if (width === 1 && t !== 'PROBIT') return 'NONE';
  if (t === 'NONE' || t === 'LOGISTIC' || t === 'SOFTMAX') return t;
  fail('NOT_ENCRYPTABLE', `post_transform ${t} of a tree ensemble is not supported for encryption`);
}

/**
 * raw → pre and the label for a classifier, following ml-tree.ts's classifyMulti / classifyBinary
 * with the per-class "has a score" flags known statically.
 */
function classifierFinish(model: TreeModel, has: readonly Presence[]): { m: Float64Array; o: Float64Array; width: number; label: (raw: ScoreMap) => LabelRule; transform: TreeFinish['transform'] } {
  const K = model.outputs;
  const base = model.baseValues;
  const h = has.map((p) => p === 'always');
  if (K > 2) {
    if (base.length === 0 && h.some((x) => !x)) fail('NOT_ENCRYPTABLE', 'a tree classifier with a class no leaf votes for and no base values is not supported for encryption');
    const m = new Float64Array(K * K);
    const o = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      if (h[k] || base.length > 0) m[k * K + k] = h[k] ? 1 : 0;
      o[k] = base.length === K ? base[k]! : 0;
    }
    return { m, o, width: K, label: () => ({ kind: 'argmax' }), transform: clientTransform(model, K) };
  }
  // Two classes: onnxruntime's binary finalisation, raw s0/s1 → out[0], out[1] and `positive`.
  const binaryCase = model.ensemble.distinctWeightIndices === 1;
  const [h0, h1] = [h[0]!, h[1]!];
  // pre_j = Σ_k raw_k · a[k][j] + b[j] for j = 0, 1 and positive (j = 2).
  const a = [new Float64Array(3), new Float64Array(3)];
  const b = new Float64Array(3);
  let single = false;
  let second: 'complement' | 'negated' | 'none' = 'none';
  let s0: [number, number, number] = [1, 0, 0]; // s0 as raw0·x + raw1·y + z
  let s1: [number, number, number] = [0, 1, 0];
  if (base.length === 2) {
    if (h1) {
      s1 = [1, 0, base[1]!];
      s0 = [-1, 0, -base[1]!];
    } else {
      s1 = [0, 1, base[1]!];
      s0 = [1, 0, base[0]!];
    }
  } else if (base.length === 1) {
    s0 = [1, 0, base[0]!];
    single = !h1;
  } else {
    second = 'negated';
    single = !h1;
  }
  const zero: [number, number, number] = [0, 0, 0];
  const positive = !single && h1 ? s1 : h0 ? s0 : zero;
  let threshold: number;
  if (binaryCase) {
    const allPositive = model.ensemble.allWeightsNonNegative;
    threshold = allPositive ? 0.5 : 0;
    second = allPositive ? 'complement' : 'negated';
  } else {
    threshold = 0;
    if (model.task.kind === 'classifier' && model.task.labels.kind === 'int64' && !(model.task.labels.values[0] === 0 && model.task.labels.values[1] === 1)) {
      // onnxruntime returns the literal integers 0 / 1 here, whatever the labels.
      fail('NOT_ENCRYPTABLE', 'a two-class tree classifier whose weights name both classes and whose labels are not [0, 1] is not supported for encryption');
    }
  }
  const set = (j: number, f: readonly number[], sign = 1, add = 0): void => {
    a[0]![j] = sign * f[0]!;
    a[1]![j] = sign * f[1]!;
    b[j] = sign * f[2]! + add;
  };
  set(2, positive);
  let transform: TreeFinish['transform'];
  if (!single) {
    set(0, h0 ? s0 : zero);
    set(1, h1 ? s1 : zero);
    transform = clientTransform(model, 2);
  } else {
    const v = h0 ? s0 : zero;
    if (second === 'complement') {
      set(0, v, -1, 1);
      set(1, v);
      transform = 'NONE';
    } else {
      set(0, v, -1);
      set(1, v);
      transform = model.transform === 'LOGISTIC' ? 'LOGISTIC' : 'NONE';
    }
  }
  const m = new Float64Array([a[0]![0]!, a[0]![1]!, a[1]![0]!, a[1]![1]!]);
  const o = new Float64Array([b[0]!, b[1]!]);
  const label = (raw: ScoreMap): LabelRule => {
    // positive = raw · a[·][2] + b[2], raw = columns · raw.matrix + raw.offset.
    const p = compose(raw, raw.matrix.length / K, K, new Float64Array([a[0]![2]!, a[1]![2]!]), new Float64Array([b[2]!]), 1);
    return { kind: 'threshold', weights: p.matrix, offset: p.offset[0]!, threshold };
  };
  return { m, o, width: 2, label, transform };
}

/** The columns the server sums: which classes/targets, each leaf's values, and raw = columns · map. */
interface ScoreColumns {
  readonly computed: readonly number[];
  readonly map: ScoreMap;
  readonly votes: ReadonlyMap<number, Float64Array>;
  readonly has: readonly Presence[];
}

function scoreColumns(model: TreeModel): ScoreColumns {
  const votes = leafVotes(model);
  const leaves = treeLeaves(model);
  const has = presence(model, leaves);
  const sometimes = has.indexOf('sometimes');
  if (sometimes >= 0) fail('NOT_ENCRYPTABLE', `${model.task.kind === 'classifier' ? 'class' : 'target'} ${sometimes} gets votes from some leaves of every tree but not all; such an ensemble is not supported for encryption`);
  const { computed, map } = columnsOf(model, leaves, votes, has);
  if (computed.length === 0) fail('NOT_ENCRYPTABLE', 'the tree ensemble\'s scores do not depend on its input: nothing to encrypt');
  return { computed, map, votes, has };
}

/**
 * What the server's sums are with the exact (unsnapped) thresholds: per row of the ensemble's
 * input, Σ over trees of the reached leaf's values in the body's columns. The reference a report
 * compares the decrypted or simulated sums with.
 */
export function exactTreeSums(model: TreeModel, rows: readonly Float64Array[]): Float64Array[] {
  const { computed, votes } = scoreColumns(model);
  const e = model.ensemble;
  const position = new Map(e.nodes.map((n, i) => [n, i] as const));
  return rows.map((x) => {
    const out = new Float64Array(computed.length);
    for (const root of e.roots) {
      const v = votes.get(position.get(leafFor(e, root, x, 0))!)!;
      computed.forEach((k, c) => (out[c] += v[k]!));
    }
    return out;
  });
}

export function treeScores(model: TreeModel, encoding: TreeEncoding): TreeScores {
  const { computed, map, votes, has } = scoreColumns(model);

  const nodes: TreeBodyNode[] = model.ensemble.nodes.map((n, at) =>
    n.leaf ? { leaf: true, values: Float64Array.from(computed, (k) => votes.get(at)![k]!) } : { leaf: false, test: encoding.tests.get(at)!, whenTrue: n.whenTrue, whenFalse: n.whenFalse },
  );
  const body: TreeBody = { bits: encoding.bits.length, columns: computed.length, nodes, roots: model.ensemble.roots };

  const K = model.outputs;
  let finish: TreeFinish;
  if (model.task.kind === 'regressor') {
    const m = new Float64Array(K * K);
    const o = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      // A target no leaf votes for reads 0, base value or not.
      m[k * K + k] = has[k] === 'always' ? 1 : 0;
      o[k] = has[k] === 'always' && model.baseValues.length === K ? model.baseValues[k]! : 0;
    }
    finish = { columns: computed.length, outputs: K, pre: compose(map, computed.length, K, m, o, K), transform: clientTransform(model, K), label: { kind: 'none' } };
  } else {
    const c = classifierFinish(model, has);
    finish = { columns: computed.length, outputs: K, pre: compose(map, computed.length, K, c.m, c.o, c.width), transform: c.transform, label: c.label(map) };
  }
  return { body, finish };
}
