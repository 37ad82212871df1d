import { stageInSize, stageOutSize, type AffineStage, type ApproxStage } from '../chain/stages';
import type { CircuitBuilder } from './builder';
import { diagonal, planMatVec } from './bsgs-plan';
import { nextPowerOfTwo } from './constant-table';
import type { ValueId } from './ir';

/**
 * vector layout: one sample per ciphertext, its features replicated across the slots with period
 * n' (next power of two ≥ n, zero-padded). An affine layer is a Halevi–Shoup product with
 * baby-step giant-step rotations (see bsgs-plan.ts) whose result is replicated with period m',
 * exactly what the next layer reads, so layers chain with no re-layout. Every rotation works on
 * a value before its rescale (see CircuitBuilder.rotateUnrescaled), where key-switching noise is
 * small next to the scale. Elementwise polynomials act on all slots at once; padding slots carry
 * p(0), which the next layer's zero columns ignore.
 */

/** Replication period of a vector of length n. */
export function vectorPeriod(n: number): number {
  return nextPowerOfTwo(n);
}

/** Slots the chain needs: the widest period any layer works in. */
export function vectorSlotsNeeded(stages: readonly ApproxStage[]): number {
  let need = 1;
  for (const s of stages) {
    const sizes = [stageInSize(s), stageOutSize(s)];
    for (const n of sizes) need = Math.max(need, nextPowerOfTwo(n));
  }
  return need;
}

/** y = W·x + b for x replicated with period n'; returns y replicated with period m', canonical. */
export function lowerVectorAffine(b: CircuitBuilder, x: ValueId, stage: AffineStage): ValueId {
  const plan = planMatVec(stage.weights, stage.outSize, stage.inSize);
  const g = plan.babyStep;
  const babies = new Map<number, ValueId>();
  const baby = (step: number): ValueId => {
    let v = babies.get(step);
    if (v === undefined) {
      v = b.rotateUnrescaled(x, step);
      babies.set(step, v);
    }
    return v;
  };
  const groups: ValueId[] = [];
  for (let start = 0; start < plan.diagonalCount; start += g) {
    const products: ValueId[] = [];
    for (let i = start; i < Math.min(start + g, plan.diagonalCount); i++) {
      if (!plan.used[i]) continue;
      products.push(b.mulPlain(baby(i - start), diagonal(stage.weights, plan, i, -start)));
    }
    if (products.length > 0) groups.push(b.rotate(b.sum(products), start));
  }
  // Giant steps and folds rotate the unrescaled sum (scale ≈ S·Δ), where key-switching noise is
  // negligible; one rescale then finishes the layer. An all-zero matrix still needs a ciphertext
  // at the layer's level to carry the bias.
  let y: ValueId;
  if (groups.length > 0) {
    let sum = b.sum(groups);
    for (const step of plan.foldSteps) sum = b.add(sum, b.rotate(sum, step));
    y = b.rescale(sum);
  } else {
    y = b.nearZero(x);
    for (const step of plan.foldSteps) y = b.add(y, b.rotate(y, step));
  }
  if (stage.bias.some((v) => v !== 0)) {
    const bias = new Float64Array(plan.rowsPadded);
    bias.set(stage.bias);
    y = b.addPlain(y, bias);
  }
  return y;
}

/**
 * y = W·[x_1; x_2; …] + b where each block x_i is its own ciphertext (a branch of a DAG body),
 * replicated with its own period: one product per block with that block's columns of W, summed
 * once the products are at one level (the shallower branch is modswitched down, not recomputed).
 */
export function lowerVectorAffineBlocks(b: CircuitBuilder, stage: AffineStage, blocks: readonly { readonly x: ValueId; readonly size: number }[]): ValueId {
  const parts: ValueId[] = [];
  let offset = 0;
  for (const { x, size } of blocks) {
    const weights = new Float64Array(stage.outSize * size);
    for (let i = 0; i < stage.outSize; i++) weights.set(stage.weights.subarray(i * stage.inSize + offset, i * stage.inSize + offset + size), i * size);
    offset += size;
    if (weights.every((w) => w === 0)) continue;
    parts.push(lowerVectorAffine(b, x, { ...stage, inSize: size, weights, bias: new Float64Array(stage.outSize) }));
  }
  if (parts.length === 0) parts.push(lowerVectorAffine(b, blocks[0]!.x, { ...stage, inSize: blocks[0]!.size, weights: new Float64Array(stage.outSize * blocks[0]!.size), bias: new Float64Array(stage.outSize) }));
  const level = Math.min(...parts.map((p) => b.level(p)));
  let y = b.sum(parts.map((p) => (b.level(p) === level ? p : b.canonicalAt(p, level))));
  if (stage.bias.some((v) => v !== 0)) {
    const bias = new Float64Array(vectorPeriod(stage.outSize));
    bias.set(stage.bias);
    y = b.addPlain(y, bias);
  }
  return y;
}
