import { applyRowPoly } from '../../compiler/approx/row-plans';
import type { AffineStage, ApproxStage } from '../../compiler/chain/stages';

/**
 * The one affine-stage builder of the tests: weight (row, column, flat index) and bias (row) are
 * called in row-major order, weights first, so a seeded source gives the same stage every time.
 */
export function affineStage(
  outSize: number,
  inSize: number,
  weight: (row: number, col: number, index: number) => number,
  bias: (row: number) => number,
  sources: readonly string[] = ['fc'],
): AffineStage {
  const weights = Float64Array.from({ length: outSize * inSize }, (_, k) => weight(Math.floor(k / inSize), k % inSize, k));
  return { kind: 'affine', sources, inSize, outSize, weights, bias: Float64Array.from({ length: outSize }, (_, i) => bias(i)) };
}

/** An affine stage (sources ['fc']) with its weights written out row by row, one row per bias entry. */
export function affineOf(weights: readonly number[], bias: readonly number[]): AffineStage {
  const inSize = weights.length / bias.length;
  if (!Number.isInteger(inSize)) throw new Error(`${weights.length} weights do not make ${bias.length} rows`);
  return affineStage(bias.length, inSize, (_r, _c, k) => weights[k]!, (i) => bias[i]!);
}

/** y = W·x + b by the definition, a row at a time: the reference the lowered circuits are checked against. */
export function affineByHand(s: AffineStage, x: Float64Array): Float64Array {
  const y = Float64Array.from(s.bias);
  for (let i = 0; i < s.outSize; i++) for (let j = 0; j < s.inSize; j++) y[i]! += s.weights[i * s.inSize + j]! * x[j]!;
  return y;
}

/** Clenshaw's recurrence for Σ c_k T_k(t): an evaluation independent of the lowering's baby-step giant-step plan. */
export function clenshaw(c: Float64Array, t: number): number {
  let b1 = 0;
  let b2 = 0;
  for (let k = c.length - 1; k >= 1; k--) {
    const b0 = 2 * t * b1 - b2 + c[k]!;
    b2 = b1;
    b1 = b0;
  }
  return t * b1 - b2 + c[0]!;
}

/**
 * An approximated chain or DAG by the definitions (affine maps by hand, polynomials by Clenshaw,
 * products value by value, row-wise stages' plans row by row, each stage's input its reads concatenated): the reference for lowered bodies.
 */
export function approxChainByHand(stages: readonly ApproxStage[], x: Float64Array): Float64Array {
  const outs: Float64Array[] = [];
  const out = (r: number): Float64Array => (r < 0 ? x : outs[r]!);
  stages.forEach((s, k) => {
    const reads = 'reads' in s && s.reads ? s.reads : [k - 1];
    const v = Float64Array.from(reads.flatMap((r) => Array.from(out(r))));
    if (s.kind === 'affine') outs.push(affineByHand(s, v));
    else if (s.kind === 'maxpool') outs.push(Float64Array.from(s.windows, (w) => Math.max(...w.map((i) => v[i]!))));
    else if (s.kind === 'product') outs.push(Float64Array.from({ length: s.size }, (_u, i) => v[s.left[i]!]! * v[s.factorSizes[0] + s.right[i]!]!));
    else if (s.kind === 'poly') outs.push(v.map((t) => clenshaw(s.chebyshev, t)));
    // A row-wise stage's plan in float64, row by row (its own error against the exact function is test/unit/transformer-approx's).
    else if (s.kind === 'rowpoly') outs.push(applyRowPoly(s, v));
    else noStep(s.kind);
  });
  return outs.length > 0 ? outs[outs.length - 1]! : x;
}

function noStep(kind: string): never {
  throw new Error(`approxChainByHand knows no ${kind} stage`);
}
