/**
 * Softmax and LayerNorm emitted as circuit ops (the server evaluates them; compiler/approx/
 * softmax.ts and layer-norm.ts say how and bound the error). Given a builder, the row's or the
 * token's values and the plan made from the calibrated ranges, each returns its results as
 * canonical ciphertexts, all at one level `plan.depth` below the inputs. Scales are assigned and
 * checked later with the rest of the circuit (assignScales, checkCircuit). Two packings:
 *  - one canonical ciphertext per element (the default): tokens, heads and samples in the slots,
 *    the sums along the row or token are additions;
 *  - `packedWidth: w`: one ciphertext holding the row or token in w consecutive slots, repeated
 *    with period w (w a power of two; a replicated input of period w is one). The sums are
 *    log2(w) rotate-and-adds, which leave the whole sum in every slot; rotations by 1, 2, …, w/2;
 *  - `packedRows: size`: the vector layout's one ciphertext holding every row of the stage, `size`
 *    values (consecutive rows) replicated with period nextPow2(size). Each sum is one product by
 *    the block matrix of ones (layout-vector.ts rowSumMap): one level and a few rotations, and the
 *    row's sum lands at each of its elements.
 */
import { evaluateLayerNorm, type LayerNormPlan } from '../approx/layer-norm';
import { evaluateSoftmax, valueSum, type AxisSum, type SoftmaxPlan } from '../approx/softmax';
import type { RowPart } from '../chain/rowwise';
import type { CircuitBuilder } from './builder';
import { lowerVectorAffine, rowSumMap } from './layout-vector';
import type { ValueId } from './ir';
import { CircuitPolyBuilder, type PolyValue } from './poly-lowering';

export interface Packing {
  /** The row or token packed in this many slots of one ciphertext, repeated with that period. */
  readonly packedWidth?: number;
  /** Every row in one vector-layout ciphertext: this many values, consecutive rows of the row length. */
  readonly packedRows?: number;
}

/** `part`: all of the Softmax, its exps alone or their normalisation (see RowPart). */
export function emitSoftmax(b: CircuitBuilder, row: readonly ValueId[], plan: SoftmaxPlan, packing: Packing = {}, part: RowPart = 'whole'): ValueId[] {
  return emitRow(b, row, plan.n, packing, (pb, values, axis) => evaluateSoftmax(pb, values, plan, axis, part));
}

export function emitLayerNorm(b: CircuitBuilder, features: readonly ValueId[], plan: LayerNormPlan, packing: Packing = {}, part: RowPart = 'whole'): ValueId[] {
  return emitRow(b, features, plan.d, packing, (pb, values, axis) => evaluateLayerNorm(pb, values, plan, axis, part));
}

function emitRow(
  b: CircuitBuilder,
  inputs: readonly ValueId[],
  length: number,
  packing: Packing,
  body: (pb: CircuitPolyBuilder, values: PolyValue[], axis: AxisSum<PolyValue>) => PolyValue[],
): ValueId[] {
  const level = b.level(inputs[0]!);
  if (inputs.some((v) => b.level(v) !== level)) throw new Error('a softmax row or LayerNorm token needs its values at one level');
  const pb = new CircuitPolyBuilder(b, inputs[0]!);
  let axis: AxisSum<PolyValue>;
  if (packing.packedRows !== undefined) {
    const size = packing.packedRows;
    if (inputs.length !== 1 || size < length || size % length !== 0) {
      throw new Error(`packed rows are one ciphertext of whole rows of ${length} (got ${inputs.length} values, ${size} elements)`);
    }
    axis = blockSum(b, pb, size, length);
  } else if (packing.packedWidth === undefined) axis = valueSum(pb, inputs.length);
  else {
    const w = packing.packedWidth;
    if (inputs.length !== 1 || w !== length || w < 1 || (w & (w - 1)) !== 0 || b.slots % w !== 0) {
      throw new Error(`a packed row is one ciphertext of width ${length}, a power of two dividing ${b.slots} slots (got ${inputs.length} values, width ${w})`);
    }
    axis = rotationSum(b, pb, w);
  }
  const out = body(pb, inputs.map((v) => pb.wrap(v)), axis).map((v) => pb.settle(v));
  // Every element takes the same path, so they land together; align them anyway for a caller that relies on it.
  const bottom = Math.min(...out.map((v) => b.level(v)));
  return out.map((v) => b.canonicalAt(v, bottom));
}

/** Σ over w consecutive slots of a period-w vector, in every slot: x + rot(x, 1), then + rot(·, 2), … */
function rotationSum(b: CircuitBuilder, pb: CircuitPolyBuilder, w: number): AxisSum<PolyValue> {
  return {
    length: w,
    sum: (values) => {
      let acc = pb.settle(values[0]!);
      for (let step = 1; step < w; step *= 2) acc = b.add(acc, b.rotate(acc, step));
      return pb.wrap(acc);
    },
  };
}

/** Σ over each row of `length` consecutive values of a packed `size`-vector, at every element of the row. */
function blockSum(b: CircuitBuilder, pb: CircuitPolyBuilder, size: number, length: number): AxisSum<PolyValue> {
  const sums = rowSumMap(size, length);
  return { length, sum: (values) => pb.wrap(lowerVectorAffine(b, pb.settle(values[0]!), sums)) };
}
