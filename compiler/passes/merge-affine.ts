/**
 * Consecutive affine stages with nothing between them become one: W = W2·W1, b = W2·b1 + b2.
 * The product skips zero entries of W2, so sparse maps (pooling, padding, permutations) merge in
 * time proportional to their non-zeros.
 *
 * Before → after:
 *   1. affine 8→8 (W1, b1)   2. affine 8→4 (W2, b2)   3. tanh ×4
 *   1. affine 8→4 (W2·W1, W2·b1 + b2)   2. tanh ×4
 */
import type { AffineStage, Stage } from '../chain/stages';
import { isChain } from '../chain/stage-graph';

export function composeAffine(outer: AffineStage, inner: AffineStage): AffineStage {
  if (outer.inSize !== inner.outSize) throw new RangeError(`composeAffine: ${outer.inSize} inputs after ${inner.outSize} outputs`);
  const n = inner.inSize;
  const weights = new Float64Array(outer.outSize * n);
  const bias = Float64Array.from(outer.bias);
  for (let i = 0; i < outer.outSize; i++) {
    const row = i * n;
    for (let j = 0; j < outer.inSize; j++) {
      const w = outer.weights[i * outer.inSize + j]!;
      if (w === 0) continue;
      const src = j * n;
      for (let c = 0; c < n; c++) weights[row + c]! += w * inner.weights[src + c]!;
      bias[i]! += w * inner.bias[j]!;
    }
  }
  return {
    kind: 'affine',
    sources: [...new Set([...inner.sources, ...outer.sources])],
    inSize: n,
    outSize: outer.outSize,
    weights,
    bias,
  };
}

export function mergeAffineStages(stages: readonly Stage[]): Stage[] {
  // A DAG's reads name stages by index; merging would renumber them.
  if (!isChain(stages)) return [...stages];
  const out: Stage[] = [];
  for (const s of stages) {
    const last = out[out.length - 1];
    if (s.kind === 'affine' && last?.kind === 'affine') out[out.length - 1] = composeAffine(s, last);
    else out.push(s);
  }
  return out;
}
