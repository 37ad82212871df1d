/**
 * The client-side encoding of a tree ensemble's input: every node threshold is snapped to an
 * n-bit grid over its feature's calibrated range, and the client sends one encrypted bit
 * [x_f > cut] per distinct (feature, cut) the ensemble uses. Each node test is then a ±1
 * combination of bits (LEQ t: 1 − [x > t]; GT t: [x > t]; LT/GTE use the cut just below t, so
 * [x > cut] = [x ≥ t]), which costs no multiplicative depth. Missing values (NaN) go the way
 * `nodes_missing_value_tracks_true` says: each bit carries the value it takes for NaN.
 *
 * The client learns the snapped cut points per feature (not which tree or node uses them, nor
 * the tree structure or leaf values); the grid bounds how precisely they are known.
 *
 * Before → after (feature 0 calibrated on [0, 1], a 3-bit grid of step 1/8):
 *   node tests  x0 ≤ 0.37   x0 ≤ 0.81   x0 ≤ 0.36
 *   each threshold moves to a grid point next to it (the one that changes fewer calibration rows'
 *   decisions, the nearer on a tie), say 0.375, 0.875, 0.375: two bits b0 = [x0 > 0.375],
 *   b1 = [x0 > 0.875]; the tests are 1 − b0, 1 − b1, 1 − b0
 */
import { fail } from '../errors';
import { goesTrue, leafFor, type BranchMode } from '../graph/ops/ml-tree-ensemble';
import type { TreeTest } from '../chain/tree-body';
import type { TreeModel } from './tree-model';

export interface ThresholdBit {
  readonly feature: number;
  /** The bit is [x_feature > cut]. */
  readonly cut: number;
  /** The bit's value when the feature is missing (NaN). */
  readonly missing: 0 | 1;
}

/** Grid of one feature: lo + k·step for integer k in [−1, 2^nBits]. */
export interface FeatureGrid {
  readonly lo: number;
  readonly step: number;
}

export interface SnappedThreshold {
  /** Position of the branch node in the ensemble. */
  readonly node: number;
  readonly feature: number;
  readonly mode: BranchMode;
  readonly threshold: number;
  readonly snapped: number;
}

export interface TreeEncoding {
  readonly nBits: number;
  /** Per feature of the ensemble's input; null for features no branch reads. */
  readonly grids: readonly (FeatureGrid | null)[];
  /** The client's bits, sorted by feature then cut. */
  readonly bits: readonly ThresholdBit[];
  /** Test of every branch node, by node position. */
  readonly tests: ReadonlyMap<number, TreeTest>;
  readonly thresholds: readonly SnappedThreshold[];
}

/** Bits tried when choosing the grid. */
export const MIN_TREE_BITS = 1;
export const MAX_TREE_BITS = 24;

/** The largest double below x (x itself for NaN and −Infinity). */
export function nextDown(x: number): number {
  if (Number.isNaN(x) || x === -Infinity) return x;
  if (x === 0) return -Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  view.setBigUint64(0, x > 0 ? bits - 1n : bits + 1n);
  return view.getFloat64(0);
}

/** What the client computes per sample: [x_f > cut], or the bit's missing value for NaN. */
export function encodeRow(bits: readonly ThresholdBit[], x: ArrayLike<number>): Float64Array {
  return Float64Array.from(bits, (b) => {
    const v = x[b.feature]!;
    return Number.isNaN(v) ? b.missing : v > b.cut ? 1 : 0;
  });
}

function featureGrids(model: TreeModel, rows: readonly Float64Array[], nBits: number): (FeatureGrid | null)[] {
  const used = new Set<number>();
  for (const n of model.ensemble.nodes) if (!n.leaf) used.add(n.feature);
  const levels = 2 ** nBits - 1;
  return Array.from({ length: model.features }, (_, f) => {
    if (!used.has(f)) return null;
    let lo = Infinity;
    let hi = -Infinity;
    for (const r of rows) {
      const v = r[f]!;
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    if (lo === Infinity) fail('BAD_DATA', `feature ${f} has no finite value in the calibration rows; the tree encoding needs its range`);
    const span = hi > lo ? hi - lo : Math.max(1, Math.abs(lo));
    return { lo, step: span / Math.max(1, levels) };
  });
}

/**
 * The grid point next to `t` (below or above) that changes the node's decision for the fewest
 * calibration rows, the nearer one on a tie. EQ/NEQ keep their value: equality to a grid point
 * would be a different test.
 */
function snap(mode: BranchMode, t: number, grid: FeatureGrid, nBits: number, column: readonly number[]): number {
  if (mode === 'BRANCH_EQ' || mode === 'BRANCH_NEQ' || !Number.isFinite(t)) return t;
  const top = 2 ** nBits;
  const k = Math.min(top, Math.max(-1, Math.floor((t - grid.lo) / grid.step)));
  const candidates = [grid.lo + k * grid.step, grid.lo + Math.min(top, k + 1) * grid.step];
  let best = candidates[0]!;
  let bestChanges = Infinity;
  for (const s of candidates) {
    let changes = 0;
    for (const v of column) if (goesTrue(mode, v, t) !== goesTrue(mode, v, s)) changes++;
    if (changes < bestChanges || (changes === bestChanges && Math.abs(s - t) < Math.abs(best - t))) {
      best = s;
      bestChanges = changes;
    }
  }
  return best;
}

export function encodeTrees(model: TreeModel, rows: readonly Float64Array[], nBits: number): TreeEncoding {
  if (!Number.isInteger(nBits) || nBits < MIN_TREE_BITS || nBits > MAX_TREE_BITS) {
    fail('BAD_ARGUMENT', `--n-bits ${nBits} for a tree ensemble must be an integer in [${MIN_TREE_BITS}, ${MAX_TREE_BITS}]`);
  }
  const grids = featureGrids(model, rows, nBits);
  const columns = new Map<number, number[]>();
  const column = (f: number): number[] => {
    let c = columns.get(f);
    if (!c) {
      c = rows.map((r) => r[f]!).filter((v) => !Number.isNaN(v));
      columns.set(f, c);
    }
    return c;
  };

  const keys = new Map<string, ThresholdBit>();
  const bitOf = (feature: number, cut: number, missing: 0 | 1): string => {
    const key = `${feature}:${cut}:${missing}`;
    if (!keys.has(key)) keys.set(key, { feature, cut, missing });
    return key;
  };
  const thresholds: SnappedThreshold[] = [];
  const pending: Array<{ node: number; constant: 0 | 1; terms: Array<{ key: string; sign: 1 | -1 }> }> = [];
  model.ensemble.nodes.forEach((n, node) => {
    if (n.leaf) return;
    const s = snap(n.mode, n.threshold, grids[n.feature]!, nBits, column(n.feature));
    thresholds.push({ node, feature: n.feature, mode: n.mode, threshold: n.threshold, snapped: s });
    // NaN fails every comparison but NEQ; tracks-true sends it the true way regardless.
    const nanTrue = n.mode === 'BRANCH_NEQ' || n.missingTracksTrue;
    const f = n.feature;
    const below = nextDown(s);
    switch (n.mode) {
      case 'BRANCH_LEQ':
        pending.push({ node, constant: 1, terms: [{ key: bitOf(f, s, nanTrue ? 0 : 1), sign: -1 }] });
        break;
      case 'BRANCH_LT':
        pending.push({ node, constant: 1, terms: [{ key: bitOf(f, below, nanTrue ? 0 : 1), sign: -1 }] });
        break;
      case 'BRANCH_GTE':
        pending.push({ node, constant: 0, terms: [{ key: bitOf(f, below, nanTrue ? 1 : 0), sign: 1 }] });
        break;
      case 'BRANCH_GT':
        pending.push({ node, constant: 0, terms: [{ key: bitOf(f, s, nanTrue ? 1 : 0), sign: 1 }] });
        break;
      case 'BRANCH_EQ':
        pending.push({ node, constant: 0, terms: [{ key: bitOf(f, below, nanTrue ? 1 : 0), sign: 1 }, { key: bitOf(f, s, 0), sign: -1 }] });
        break;
      case 'BRANCH_NEQ':
        pending.push({ node, constant: 1, terms: [{ key: bitOf(f, below, 0), sign: -1 }, { key: bitOf(f, s, 0), sign: 1 }] });
        break;
    }
  });
  const bits = [...keys.values()].sort((a, b) => a.feature - b.feature || a.cut - b.cut || a.missing - b.missing);
  const index = new Map<string, number>(bits.map((b, i) => [`${b.feature}:${b.cut}:${b.missing}`, i]));
  const tests = new Map<number, TreeTest>(pending.map((p) => [p.node, { constant: p.constant, terms: p.terms.map((t) => ({ bit: index.get(t.key)!, sign: t.sign })) }]));
  return { nBits, grids, bits, tests, thresholds };
}

/** The leaf each row reaches in each tree with the exact thresholds: [row × tree] node positions. */
export function exactLeaves(model: TreeModel, rows: readonly Float64Array[]): Int32Array {
  const e = model.ensemble;
  const out = new Int32Array(rows.length * e.roots.length);
  const position = new Map(e.nodes.map((n, i) => [n, i] as const));
  rows.forEach((x, r) => {
    e.roots.forEach((root, t) => {
      out[r * e.roots.length + t] = position.get(leafFor(e, root, x, 0))!;
    });
  });
  return out;
}

/**
 * Rows (by index) that reach a different leaf in some tree with the snapped thresholds than with
 * the exact ones. Walks the snapped comparisons, which the encoding's bits and tests reproduce.
 */
export function rowsWithChangedLeaves(model: TreeModel, encoding: Pick<TreeEncoding, 'thresholds'>, rows: readonly Float64Array[], exact = exactLeaves(model, rows)): number[] {
  const e = model.ensemble;
  const snapped = new Float64Array(e.nodes.length);
  for (const t of encoding.thresholds) snapped[t.node] = t.snapped;
  const changed: number[] = [];
  rows.forEach((x, r) => {
    for (let t = 0; t < e.roots.length; t++) {
      let at = e.roots[t]!;
      let n = e.nodes[at]!;
      while (!n.leaf) {
        const v = x[n.feature]!;
        const goes = Number.isNaN(v) ? n.mode === 'BRANCH_NEQ' || n.missingTracksTrue : goesTrue(n.mode, v, snapped[at]!);
        at = goes ? n.whenTrue : n.whenFalse;
        n = e.nodes[at]!;
      }
      if (at !== exact[r * e.roots.length + t]) {
        changed.push(r);
        return;
      }
    }
  });
  return changed;
}

export interface TreeBitsChoice {
  readonly encoding: TreeEncoding;
  /** Calibration rows whose leaves the snap changed (none when `reached`). */
  readonly changedRows: number;
  readonly reached: boolean;
}

/** The fewest grid bits at which no calibration row changes a leaf; the best tried otherwise. */
export function chooseTreeBits(model: TreeModel, rows: readonly Float64Array[]): TreeBitsChoice {
  let best: TreeBitsChoice | null = null;
  const exact = exactLeaves(model, rows);
  for (let b = MIN_TREE_BITS; b <= MAX_TREE_BITS; b++) {
    const encoding = encodeTrees(model, rows, b);
    const changedRows = rowsWithChangedLeaves(model, encoding, rows, exact).length;
    if (changedRows === 0) return { encoding, changedRows, reached: true };
    if (!best || changedRows < best.changedRows) best = { encoding, changedRows, reached: false };
  }
  return best!;
}
