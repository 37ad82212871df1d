import { evaluateChebyshev } from '../approx/evaluate';
import type { PolyBuilder } from '../approx/poly-builder';
import { fail } from '../errors';
import { stageInSize, stageOutSize, type AffineStage, type ApproxStage, type CircuitStage, type PolyStage, type RowPolyStage } from '../chain/stages';
import { BODY_INPUT, stageReads } from '../chain/stage-graph';
import { isStepStage, stepStageKind } from '../chain/step-stages';
import { CircuitBuilder } from './builder';
import type { RotationKeys } from './rotation-keys';
import { isPowerOfTwo } from './constant-table';
import type { Circuit, Layout, ValueId } from './ir';
import { lowerBatchAffine } from './layout-batch';
import { lowerVectorAffine, lowerVectorAffineBlocks, pickedRows, picksInPlace, selectionMap, vectorPeriod, vectorSlotsNeeded } from './layout-vector';
import { CircuitPolyBuilder } from './poly-lowering';
import { emitLayerNorm, emitSoftmax } from './transformer-lowering';
import { mapRows, rowPlan } from '../approx/row-plans';

/** Evaluates Σ cₖ·Tₖ(x) (Chebyshev basis on [-1, 1]) over any PolyBuilder algebra. */
export type PolyEvaluator = <T>(builder: PolyBuilder<T>, x: T, chebyshev: ArrayLike<number>) => T;

export interface LowerOptions {
  readonly layout: Layout;
  /** N/2 of the intended parameters (a power of two); the vector layout needs its widest period to fit. */
  readonly slots: number;
  /** Default: the approx module's baby-step giant-step Chebyshev evaluator. */
  readonly evaluatePoly?: PolyEvaluator;
  /** Which rotation steps get keys (default all that the layout uses). */
  readonly rotationKeys?: RotationKeys;
}

/**
 * Phase (a) of lowering: the approximated chain as a circuit with levels, no scales yet.
 * `circuitDepth` of the result tells parameter selection how many primes to provide; then
 * `assignScales(circuit, primes)` completes it.
 */
export function lowerChain(chain: readonly ApproxStage[], options: LowerOptions): Circuit {
  const { layout, slots } = options;
  const stages = circuitStages(chain);
  checkChain(stages);
  if (!isPowerOfTwo(slots) || slots < 2) fail('BAD_ARGUMENT', `slot count ${slots} is not a power of two ≥ 2`);
  const inputSize = stageInSize(stages[0]!);
  const last = stages[stages.length - 1]!;
  const outputSize = stageOutSize(last);
  const b = new CircuitBuilder(slots, options.rotationKeys);
  const evaluate = options.evaluatePoly ?? evaluateChebyshev;

  if (layout === 'vector') {
    const minSlots = vectorSlotsNeeded(stages);
    if (minSlots > slots) {
      fail('PARAMS', `vector layout needs ${minSlots} slots (widest layer), only ${slots} available; use the batch layout or a larger N`);
    }
    const input = b.input({ kind: 'replicated', size: inputSize, period: vectorPeriod(inputSize) });
    const outs: ValueId[] = [];
    const out = (k: number): ValueId => (k === BODY_INPUT ? input : outs[k]!);
    const affineOut = (stage: AffineStage, k: number): ValueId =>
      !stage.reads ? lowerVectorAffine(b, out(k - 1), stage) : lowerVectorAffineBlocks(b, stage, stage.reads.map((r) => ({ x: out(r), size: stageOutputSize(stages, r, inputSize) })));
    // A product's factor picked from stage r's values: as they are when the product takes them in
    // place; from r's own inputs when r is an affine map no wider than its output (its rows
    // picked, no extra level; from a wider input, such as a segment's carrying several live
    // values, the picked map would have more diagonals, so more plaintexts, than picking after
    // it); else by a selection map (one level).
    const factor = (r: number, pick: readonly number[], n: number): ValueId => {
      if (picksInPlace(pick, n)) return out(r);
      const source = r === BODY_INPUT ? null : stages[r]!;
      if (source?.kind === 'affine' && source.inSize <= n) return affineOut(pickedRows(source, pick), r);
      return lowerVectorAffine(b, out(r), selectionMap(pick, n));
    };
    stages.forEach((stage, k) => {
      if (stage.kind === 'poly') outs.push(lowerPoly(b, out(k - 1), stage, evaluate));
      else if (stage.kind === 'rowpoly') outs.push(lowerPackedRows(b, out(k - 1), stage));
      // Both factors, picked, are replicated with the period of the product's size: one slot-wise product.
      else if (stage.kind === 'product') outs.push(lowerProduct(b, factor(stage.reads[0], stage.left, stage.factorSizes[0]), factor(stage.reads[1], stage.right, stage.factorSizes[1])));
      else outs.push(affineOut(stage, k));
    });
    const x = outs[outs.length - 1]!;
    const positions = Array.from({ length: outputSize }, (_, i) => i);
    b.output(x, { kind: 'slots', slots: positions, elements: positions });
    return b.finish(layout, inputSize, outputSize, minSlots);
  }

  const inputs: ValueId[] = Array.from({ length: inputSize }, (_, j) => b.input({ kind: 'feature', feature: j }));
  const outs: ValueId[][] = [];
  const out = (k: number): ValueId[] => (k === BODY_INPUT ? inputs : outs[k]!);
  stages.forEach((stage, k) => {
    if (stage.kind === 'poly') outs.push(out(k - 1).map((x) => lowerPoly(b, x, stage, evaluate)));
    else if (stage.kind === 'rowpoly') outs.push(lowerRows(b, alignLevels(b, out(k - 1)), stage));
    else if (stage.kind === 'product') {
      const [xs, ys] = [out(stage.reads[0]), out(stage.reads[1])];
      outs.push(stage.left.map((j, i) => lowerProduct(b, xs[j]!, ys[stage.right[i]!]!)));
    } else if (!stage.reads) outs.push(lowerBatchAffine(b, out(k - 1), stage));
    else outs.push(lowerBatchAffine(b, alignLevels(b, stage.reads.flatMap(out)), stage));
  });
  const xs = outs[outs.length - 1]!;
  xs.forEach((x, i) => b.output(x, { kind: 'feature', element: i }));
  return b.finish(layout, inputSize, outputSize, 1);
}

/** Multiplicative depth of a lowered circuit: the number of droppable primes it needs. */
export function circuitDepth(circuit: Circuit): number {
  return circuit.depth;
}

function lowerPoly(b: CircuitBuilder, x: ValueId, stage: PolyStage, evaluate: PolyEvaluator): ValueId {
  const pb = new CircuitPolyBuilder(b, x);
  return pb.settle(evaluate(pb, pb.wrap(x), stage.chebyshev));
}

/**
 * x·y for two canonical ciphertexts: both brought to the lower of their levels at its canonical
 * scale, multiplied (size 3, scale S_ℓ²), relinearised and rescaled, which lands exactly on
 * S_{ℓ−1} (see canonicalScales): one level, like an affine map.
 */
export function lowerProduct(b: CircuitBuilder, x: ValueId, y: ValueId): ValueId {
  const level = Math.min(b.level(x), b.level(y));
  return b.rescale(b.relin(b.mul(b.canonicalAt(x, level), b.canonicalAt(y, level))));
}

/** A row-wise stage in the batch layout: each row's values (one ciphertext each) through its plan. */
function lowerRows(b: CircuitBuilder, xs: readonly ValueId[], stage: RowPolyStage): ValueId[] {
  return mapRows(xs, stage, { softmax: (row, plan, part) => emitSoftmax(b, row, plan, {}, part), layerNorm: (row, plan, part) => emitLayerNorm(b, row, plan, {}, part) });
}

/** A row-wise stage in the vector layout: all its rows in one ciphertext, summed by a block matrix of ones. */
function lowerPackedRows(b: CircuitBuilder, x: ValueId, stage: RowPolyStage): ValueId {
  const p = rowPlan(stage);
  const packing = { packedRows: stage.size };
  return (p.kind === 'softmax' ? emitSoftmax(b, [x], p.plan, packing, stage.part ?? 'whole') : emitLayerNorm(b, [x], p.plan, packing, stage.part ?? 'whole'))[0]!;
}

/** The chain as circuit stages; a step stage (a MaxPool) is a client step, so the body is cut there first (refresh-plan). */
function circuitStages(stages: readonly ApproxStage[]): CircuitStage[] {
  return stages.map((s, k) => {
    if (isStepStage(s)) fail('BAD_ARGUMENT', `stage ${k} (${s.sources.join(', ')}) is ${stepStageKind(s).noun}, a client step between two circuits: cut the chain there before lowering`);
    return s;
  });
}

function checkChain(stages: readonly CircuitStage[]): void {
  if (stages.length === 0) fail('NOT_ENCRYPTABLE', 'the encrypted body is empty: nothing to lower');
  const inputSize = stageInSize(stages[0]!);
  stages.forEach((s, k) => {
    const name = s.sources.join(', ') || `stage ${k}`;
    const inSize = stageInSize(s);
    const reads = stageReads(stages, k);
    if (reads.some((r) => r < BODY_INPUT || r >= k)) fail('BAD_GRAPH', `${name}: reads a stage that does not come before it`);
    const given = reads.reduce((n, r) => n + stageOutputSize(stages, r, inputSize), 0);
    if (k > 0 && inSize !== given) fail('BAD_GRAPH', `${name}: reads ${inSize} values but its inputs give ${given}`);
    if (s.kind === 'product') {
      const [x, y] = s.reads.map((r) => stageOutputSize(stages, r, inputSize));
      if (x !== s.factorSizes[0] || y !== s.factorSizes[1]) fail('BAD_GRAPH', `${name}: a product of factors of ${s.factorSizes.join(' and ')} values reads ${x} and ${y}`);
      if (s.left.length !== s.size || s.right.length !== s.size || s.left.some((j) => !(j >= 0 && j < x!)) || s.right.some((j) => !(j >= 0 && j < y!))) {
        fail('BAD_GRAPH', `${name}: a product picks factors outside its inputs`);
      }
    } else if (s.kind === 'rowpoly') {
      if (s.size % s.rowLength !== 0) fail('BAD_GRAPH', `${name}: ${s.size} values do not split into rows of ${s.rowLength}`);
    } else if (s.kind === 'affine') {
      if (s.weights.length !== s.outSize * s.inSize || s.bias.length !== s.outSize) {
        fail('BAD_GRAPH', `${name}: affine map shapes do not match ${s.outSize}×${s.inSize}`);
      }
    } else if (s.chebyshev.length === 0) fail('NOT_ENCRYPTABLE', `${name}: polynomial has no coefficients`);
  });
}

function stageOutputSize(stages: readonly ApproxStage[], k: number, inputSize: number): number {
  if (k === BODY_INPUT) return inputSize;
  return stageOutSize(stages[k]!);
}

/**
 * Where branches meet (batch layout), every value is brought to the lowest level among them: the
 * shallower branch is modswitched down (with a scale correction folded into its last plaintext
 * products when it has them), never recomputed.
 */
function alignLevels(b: CircuitBuilder, xs: readonly ValueId[]): ValueId[] {
  const level = Math.min(...xs.map((x) => b.level(x)));
  return xs.map((x) => (b.level(x) === level ? x : b.canonicalAt(x, level)));
}
