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
 * The map `stage` keeping only the outputs `pick` (out[i] = its row pick[i]): a product's factor
 * picked from an affine map's result is that map with its rows picked, so the picking costs no
 * level of its own (L·(W·x + b) = (L·W)·x + L·b for the selection matrix L).
 */
export function pickedRows(stage: AffineStage, pick: readonly number[]): AffineStage {
  const weights = new Float64Array(pick.length * stage.inSize);
  pick.forEach((r, i) => weights.set(stage.weights.subarray(r * stage.inSize, (r + 1) * stage.inSize), i * stage.inSize));
  return { ...stage, outSize: pick.length, weights, bias: Float64Array.from(pick, (r) => stage.bias[r]!) };
}

/** The selection y[i] = x[pick[i]] of an n-vector as an affine map (one level when lowered). */
export function selectionMap(pick: readonly number[], n: number): AffineStage {
  const weights = new Float64Array(pick.length * n);
  pick.forEach((j, i) => (weights[i * n + j] = 1));
  return { kind: 'affine', sources: [], inSize: n, outSize: pick.length, weights, bias: new Float64Array(pick.length) };
}

/**
 * Whether an n-vector replicated with its period already holds x[pick[i]] at slot i: `pick` takes
 * every value in place, or (n a power of two, so the period is n) it repeats them in order
 * (pick[i] = i mod n, as Kᵀ's factor in Q·Kᵀ at (query, key, feature) does). Then the factor
 * needs no picking.
 */
export function picksInPlace(pick: readonly number[], n: number): boolean {
  if (vectorPeriod(n) === n) return pick.every((j, i) => j === i % n);
  return pick.length === n && pick.every((j, i) => j === i);
}

/**
 * The sum of each row of `rowLength` consecutive values of a `size`-vector, at every element of
 * the row, as an affine map: the block-diagonal matrix of ones (2·rowLength − 1 diagonals, so a
 * few baby-step giant-step rotations and one level).
 */
export function rowSumMap(size: number, rowLength: number): AffineStage {
  const weights = new Float64Array(size * size);
  for (let i = 0; i < size; i++) {
    const start = i - (i % rowLength);
    weights.fill(1, i * size + start, i * size + start + rowLength);
  }
  return { kind: 'affine', sources: [], inSize: size, outSize: size, weights, bias: new Float64Array(size) };
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
