/**
 * Softmax and LayerNorm emitted as circuit ops (the server evaluates them; compiler/approx/
 * softmax.ts and layer-norm.ts say how and bound the error). Given a builder, the row's or the
 * token's values (one canonical ciphertext per element, all at one level; tokens, heads and
 * samples in the slots) and the plan made from the calibrated ranges, each returns one
 * canonical ciphertext per element, all at one level `plan.depth` below the inputs. Scales are
 * assigned and checked later with the rest of the circuit (assignScales, checkCircuit).
 */
import { evaluateLayerNorm, type LayerNormPlan } from '../approx/layer-norm';
import { evaluateSoftmax, type SoftmaxPlan } from '../approx/softmax';
import type { CircuitBuilder } from './builder';
import type { ValueId } from './ir';
import { CircuitPolyBuilder, type PolyValue } from './poly-lowering';

export function emitSoftmax(b: CircuitBuilder, row: readonly ValueId[], plan: SoftmaxPlan): ValueId[] {
  return emitRow(b, row, (pb, values) => evaluateSoftmax(pb, values, plan));
}

export function emitLayerNorm(b: CircuitBuilder, features: readonly ValueId[], plan: LayerNormPlan): ValueId[] {
  return emitRow(b, features, (pb, values) => evaluateLayerNorm(pb, values, plan));
}

function emitRow(b: CircuitBuilder, inputs: readonly ValueId[], body: (pb: CircuitPolyBuilder, values: PolyValue[]) => PolyValue[]): ValueId[] {
  const level = b.level(inputs[0]!);
  if (inputs.some((v) => b.level(v) !== level)) throw new Error('a softmax row or LayerNorm token needs its values at one level');
  const pb = new CircuitPolyBuilder(b, inputs[0]!);
  const out = body(pb, inputs.map((v) => pb.wrap(v))).map((v) => pb.settle(v));
  // Every element takes the same path, so they land together; align them anyway for a caller that relies on it.
  const bottom = Math.min(...out.map((v) => b.level(v)));
  return out.map((v) => b.canonicalAt(v, bottom));
}
