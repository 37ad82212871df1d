/**
 * The encrypted part of a tree ensemble: every node test is a fixed ±1 combination of encrypted
 * 0/1 inputs (the client's threshold bits), every leaf a vector of plaintext values, one per score
 * column the server sums. Leaf indicators are products of the tests along each path; the body's
 * output is Σ over trees of the reached leaf's values. `evaluateTreeBody` is the plain reference
 * the circuit must equal.
 */

/** A node's "goes true" indicator: constant + Σ sign·bit, exactly 0 or 1 on 0/1 bits. */
export interface TreeTest {
  readonly constant: 0 | 1;
  readonly terms: readonly { readonly bit: number; readonly sign: 1 | -1 }[];
}

export type TreeBodyNode =
  | { readonly leaf: false; readonly test: TreeTest; readonly whenTrue: number; readonly whenFalse: number }
  | { readonly leaf: true; /** One value per body output column. */ readonly values: Float64Array };

export interface TreeBody {
  /** Encrypted inputs per sample (threshold bits). */
  readonly bits: number;
  /** Score columns the server computes per sample. */
  readonly columns: number;
  readonly nodes: readonly TreeBodyNode[];
  /** Each tree's root, in `nodes`. */
  readonly roots: readonly number[];
}

export function testValue(t: TreeTest, bits: ArrayLike<number>): number {
  let v: number = t.constant;
  for (const { bit, sign } of t.terms) v += sign * bits[bit]!;
  return v;
}

/** Σ over trees of the reached leaf's values, walking the tests on one sample's bits. */
export function evaluateTreeBody(body: TreeBody, bits: ArrayLike<number>): Float64Array {
  const out = new Float64Array(body.columns);
  for (const root of body.roots) {
    let node = body.nodes[root]!;
    while (!node.leaf) node = body.nodes[testValue(node.test, bits) > 0.5 ? node.whenTrue : node.whenFalse]!;
    for (let c = 0; c < out.length; c++) out[c] += node.values[c]!;
  }
  return out;
}

/** Trees by node index, each node a leaf or a branch to two children: the ONNX ensemble and the body alike. */
export interface Forest {
  readonly roots: readonly number[];
  readonly nodes: readonly ({ readonly leaf: true } | { readonly leaf: false; readonly whenTrue: number; readonly whenFalse: number })[];
}

/** Depth of the deepest leaf over every tree (a lone leaf has depth 0). */
export function forestDepth(forest: Forest): number {
  let deepest = 0;
  const stack: Array<[number, number]> = forest.roots.map((r) => [r, 0]);
  while (stack.length > 0) {
    const [at, d] = stack.pop()!;
    const n = forest.nodes[at]!;
    if (n.leaf) deepest = Math.max(deepest, d);
    else stack.push([n.whenTrue, d + 1], [n.whenFalse, d + 1]);
  }
  return deepest;
}
