/**
 * A tree ensemble's body in the batch layout: input ciphertext j holds threshold bit j of up to
 * N/2 samples, output ciphertext c holds score column c. No rotations.
 *
 * Per leaf, the indicator is the product of its path's node factors (a factor is the node's test
 * or 1 − test, linear in the bits, at no level). The path of length d splits into a prefix of
 * m = the largest power of two below d factors and a suffix of the rest; prefixes end at shared
 * ancestors, so each is computed once (a balanced product tree, depth ⌈log2 m⌉) and shared by every
 * leaf below. A column's sum is Σ_prefix prefix · (Σ_leaf w_leaf · suffix_leaf): the leaf values
 * multiply the shorter suffix while the prefix is being computed, so a tree of depth d costs
 * max(⌈log2 m⌉, ⌈log2(d − m)⌉ + 1) + 1 levels: 2 up to depth 3, 3 up to depth 6, 4 up to 12.
 */
import { fail } from '../errors';
import type { TreeBody, TreeTest } from '../chain/tree-body';
import { CircuitBuilder } from './builder';
import { isPowerOfTwo } from './constant-table';
import type { Circuit, ValueId } from './ir';

/** Values of the leaf weights below this magnitude are dropped (their products cost as much as any other). */
const ZERO_WEIGHT = 0;

interface PathNode {
  readonly at: number;
  /** Factor index into `factors`: the test's side taken to reach this node from its parent (−1 for the root). */
  readonly factor: number;
  readonly parent: PathNode | null;
  readonly depth: number;
}

/** Largest power of two strictly below n (n ≥ 2). */
function prefixLength(n: number): number {
  let m = 1;
  while (m * 2 < n) m *= 2;
  return m;
}

export function lowerTreeBody(body: TreeBody, slots: number): Circuit {
  if (!isPowerOfTwo(slots) || slots < 2) fail('BAD_ARGUMENT', `slot count ${slots} is not a power of two ≥ 2`);
  const b = new CircuitBuilder(slots);
  const inputs: ValueId[] = Array.from({ length: body.bits }, (_, j) => b.input({ kind: 'feature', feature: j }));

  // Factors: value of a node test's true or false side, memoised per (node, side).
  const factorValues = new Map<string, ValueId>();
  const linear = (test: TreeTest, side: boolean): ValueId => {
    const key = `${JSON.stringify(test)}:${side}`;
    let v = factorValues.get(key);
    if (v !== undefined) return v;
    // side true: constant + Σ sign·bit; false: (1 − constant) − Σ sign·bit.
    const sign = side ? 1 : -1;
    const constant = side ? test.constant : 1 - test.constant;
    let acc: ValueId | null = null;
    for (const t of test.terms) {
      const x = inputs[t.bit]!;
      const positive = t.sign * sign > 0;
      acc = acc === null ? (positive ? x : b.neg(x)) : positive ? b.add(acc, x) : b.sub(acc, x);
    }
    if (acc === null) fail('BAD_GRAPH', 'a tree node test reads no input');
    v = b.addScalar(acc, constant);
    factorValues.set(key, v);
    return v;
  };

  // Product of the factors on the path between depth `from` (exclusive of ancestors above) and `to`.
  const segments = new Map<string, ValueId>();
  const ancestorAt = (n: PathNode, depth: number): PathNode => {
    let a = n;
    while (a.depth > depth) a = a.parent!;
    return a;
  };
  const factorOf = (n: PathNode): ValueId => {
    const parent = body.nodes[n.parent!.at]!;
    if (parent.leaf) throw new Error('leaf with children');
    return linear(parent.test, n.factor === 1);
  };
  const product = (x: ValueId, y: ValueId): ValueId => {
    const level = Math.min(b.level(x), b.level(y));
    return b.rescale(b.relin(b.mul(b.canonicalAt(x, level), b.canonicalAt(y, level))));
  };
  /** Product of the factors of the path nodes at depths (from, to], ending at `end` (depth `to`). */
  const segment = (end: PathNode, from: number): ValueId => {
    const key = `${end.at}:${from}`;
    const hit = segments.get(key);
    if (hit !== undefined) return hit;
    const length = end.depth - from;
    let v: ValueId;
    if (length === 1) v = factorOf(end);
    else {
      const mid = from + prefixLength(length);
      v = product(segment(ancestorAt(end, mid), from), segment(end, mid));
    }
    segments.set(key, v);
    return v;
  };

  // Per prefix (keyed by its end node), per column: the leaves' Σ w · suffix, at mixed levels.
  const groups = new Map<string, { prefix: PathNode | null; terms: Array<{ suffix: ValueId; values: Float64Array }> }>();
  const constants = new Float64Array(body.columns);
  const visit = (root: number): void => {
    const stack: PathNode[] = [{ at: root, factor: -1, parent: null, depth: 0 }];
    while (stack.length > 0) {
      const n = stack.pop()!;
      const node = body.nodes[n.at]!;
      if (!node.leaf) {
        stack.push({ at: node.whenTrue, factor: 1, parent: n, depth: n.depth + 1 }, { at: node.whenFalse, factor: 0, parent: n, depth: n.depth + 1 });
        continue;
      }
      if (n.depth === 0) {
        // A tree that is one leaf adds a constant.
        for (let c = 0; c < body.columns; c++) constants[c] += node.values[c]!;
        continue;
      }
      const m = n.depth === 1 ? 0 : prefixLength(n.depth);
      const prefix = m === 0 ? null : ancestorAt(n, m);
      const key = prefix === null ? 'root' : `${prefix.at}`;
      let g = groups.get(key);
      if (!g) {
        g = { prefix, terms: [] };
        groups.set(key, g);
      }
      g.terms.push({ suffix: segment(n, m), values: node.values });
    }
  };
  for (const root of body.roots) visit(root);

  const columns: ValueId[][] = Array.from({ length: body.columns }, () => []);
  for (const g of groups.values()) {
    const prefix = g.prefix === null ? null : segment(g.prefix, 0);
    for (let c = 0; c < body.columns; c++) {
      const terms = g.terms.filter((t) => Math.abs(t.values[c]!) > ZERO_WEIGHT);
      if (terms.length === 0) continue;
      const level = Math.min(...terms.map((t) => b.level(t.suffix)));
      const weighted = b.rescale(b.sum(terms.map((t) => b.mulScalar(b.canonicalAt(t.suffix, level), t.values[c]!))));
      columns[c]!.push(prefix === null ? weighted : product(prefix, weighted));
    }
  }

  const anyInput = inputs[0];
  columns.forEach((terms, c) => {
    let y: ValueId;
    if (terms.length === 0) {
      if (anyInput === undefined) fail('NOT_ENCRYPTABLE', 'the tree ensemble reads no input bits');
      y = b.nearZero(anyInput);
    } else {
      const level = Math.min(...terms.map((t) => b.level(t)));
      y = b.sum(terms.map((t) => b.canonicalAt(t, level)));
    }
    b.output(b.addScalar(y, constants[c]!), { kind: 'feature', element: c });
  });
  return b.finish('batch', body.bits, body.columns, 1);
}
