import { evaluateChebyshev } from '../approx/evaluate';
import type { PolyBuilder } from '../approx/poly-builder';
import { fail } from '../errors';
import type { ApproxStage, PolyStage } from '../chain/stages';
import { CircuitBuilder } from './builder';
import { isPowerOfTwo } from './constant-pool';
import type { Circuit, Layout, ValueId } from './ir';
import { lowerBatchAffine } from './layout-batch';
import { lowerVectorAffine, vectorPeriod, vectorSlotsNeeded } from './layout-vector';
import { CircuitPolyBuilder } from './poly-lowering';

/** Evaluates Σ cₖ·Tₖ(x) (Chebyshev basis on [-1, 1]) over any PolyBuilder algebra. */
export type PolyEvaluator = <T>(builder: PolyBuilder<T>, x: T, chebyshev: ArrayLike<number>) => T;

export interface LowerOptions {
  readonly layout: Layout;
  /** N/2 of the intended parameters (a power of two); the vector layout needs its widest period to fit. */
  readonly slots: number;
  /** Default: the approx module's baby-step giant-step Chebyshev evaluator. */
  readonly evaluatePoly?: PolyEvaluator;
}

/**
 * Phase (a) of lowering: the approximated chain as a circuit with levels, no scales yet.
 * `circuitDepth` of the result tells parameter selection how many primes to provide; then
 * `assignScales(circuit, primes)` completes it.
 */
export function lowerChain(stages: readonly ApproxStage[], options: LowerOptions): Circuit {
  const { layout, slots } = options;
  checkChain(stages);
  if (!isPowerOfTwo(slots) || slots < 2) fail('BAD_ARGUMENT', `slot count ${slots} is not a power of two ≥ 2`);
  const inputSize = stages[0]!.kind === 'affine' ? stages[0]!.inSize : stages[0]!.size;
  const last = stages[stages.length - 1]!;
  const outputSize = last.kind === 'affine' ? last.outSize : last.size;
  const b = new CircuitBuilder(slots);
  const evaluate = options.evaluatePoly ?? evaluateChebyshev;

  if (layout === 'vector') {
    const minSlots = vectorSlotsNeeded(stages);
    if (minSlots > slots) {
      fail('PARAMS', `vector layout needs ${minSlots} slots (widest layer), only ${slots} available; use the batch layout or a larger N`);
    }
    let x = b.input({ kind: 'replicated', size: inputSize, period: vectorPeriod(inputSize) });
    for (const stage of stages) {
      x = stage.kind === 'affine' ? lowerVectorAffine(b, x, stage) : lowerPoly(b, x, stage, evaluate);
    }
    const positions = Array.from({ length: outputSize }, (_, i) => i);
    b.output(x, { kind: 'slots', slots: positions, elements: positions });
    return b.finish(layout, inputSize, outputSize, minSlots);
  }

  let xs: ValueId[] = Array.from({ length: inputSize }, (_, j) => b.input({ kind: 'feature', feature: j }));
  for (const stage of stages) {
    xs = stage.kind === 'affine' ? lowerBatchAffine(b, xs, stage) : xs.map((x) => lowerPoly(b, x, stage, evaluate));
  }
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

function checkChain(stages: readonly ApproxStage[]): void {
  if (stages.length === 0) fail('NOT_ENCRYPTABLE', 'the encrypted body is empty: nothing to lower');
  let size: number | null = null;
  stages.forEach((s, k) => {
    const name = s.sources.join(', ') || `stage ${k}`;
    const inSize = s.kind === 'affine' ? s.inSize : s.size;
    if (size !== null && inSize !== size) fail('BAD_GRAPH', `${name}: reads ${inSize} values but the previous stage gives ${size}`);
    if (s.kind === 'affine') {
      if (s.weights.length !== s.outSize * s.inSize || s.bias.length !== s.outSize) {
        fail('BAD_GRAPH', `${name}: affine map shapes do not match ${s.outSize}×${s.inSize}`);
      }
      size = s.outSize;
    } else {
      if (s.chebyshev.length === 0) fail('NOT_ENCRYPTABLE', `${name}: polynomial has no coefficients`);
      size = s.size;
    }
  });
}
