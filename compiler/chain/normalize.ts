/**
 * Softmax and LayerNorm in float64, written the obvious way: the semantics of the Softmax and
 * LayerNorm step stages (compiler/chain/stages.ts), the client's operation at their client steps
 * (compiler/client-steps/softmax.ts, layer-norm.ts) and the reference the server-side polynomial
 * constructs are measured against (compiler/approx/softmax.ts, layer-norm.ts) all come from here.
 */

/** Softmax of one row, the max subtracted first (so any finite scores work). */
export function softmaxReference(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
  const e = Float64Array.from(row, (x) => Math.exp(x - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** LayerNorm's constants: ε and the per-feature scale γ and shift β. */
export interface LayerNormAffine {
  readonly epsilon: number;
  readonly gamma: ArrayLike<number>;
  readonly beta: ArrayLike<number>;
}

/** (x − mean)/√(var + ε) of one token (population variance over its features), before γ and β. */
export function normalizeReference(x: ArrayLike<number>, epsilon: number): Float64Array {
  const d = x.length;
  let mean = 0;
  for (let i = 0; i < d; i++) mean += x[i]!;
  mean /= d;
  let variance = 0;
  for (let i = 0; i < d; i++) variance += (x[i]! - mean) ** 2;
  variance /= d;
  const inv = 1 / Math.sqrt(variance + epsilon);
  return Float64Array.from({ length: d }, (_v, i) => (x[i]! - mean) * inv);
}

/** LayerNorm of one token: γ ⊙ (x − mean)/√(var + ε) + β. */
export function layerNormReference(x: ArrayLike<number>, affine: LayerNormAffine): Float64Array {
  return normalizeReference(x, affine.epsilon).map((n, i) => affine.gamma[i]! * n + affine.beta[i]!);
}

/** `x` with each group's elements replaced by `f` of them (in the group's order); elements in no group unchanged. */
export function overGroups(groups: readonly (readonly number[])[], x: ArrayLike<number>, f: (values: Float64Array) => Float64Array): Float64Array {
  const out = Float64Array.from(x);
  for (const g of groups) {
    const y = f(Float64Array.from(g, (i) => x[i]!));
    g.forEach((i, j) => (out[i] = y[j]!));
  }
  return out;
}
