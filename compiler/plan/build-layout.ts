/**
 * One layout, end to end: lower the approximated chain (or a tree ensemble's body), pick CKKS
 * parameters from the circuit's depth, slots and rotations, assign exact scales for the chosen
 * primes, and read counts and a latency estimate off the finished circuit.
 */
import type { RotationKeys } from '../circuit/rotation-keys';
import { countOps, estimateLatency, type LatencyEstimate, type OpCounts } from '../circuit/count';
import type { Circuit, Layout } from '../circuit/ir';
import { interleaveSamples } from '../circuit/interleave';
import { vectorSlotsNeeded } from '../circuit/layout-vector';
import { lowerChain } from '../circuit/lower';
import type { ChainLowerer, PlanMemo, Scaler } from './lowering-memo';
import { assignScales } from '../circuit/passes-scales';
import type { ApproxStage } from '../chain/stages';
import type { TreeBody } from '../chain/tree-body';
import { lowerTreeBody } from '../circuit/tree-lowering';
import { selectParameters } from '../params/select';
import type { CkksParameters, ParameterRequest } from '../params/types';

export interface ParameterOptions {
  /** Bits above the scale for the largest intermediate value (see outputBitsForMagnitude). */
  readonly outputBits: number;
  readonly precisionBits?: number;
  /** Keep precisionBits after noise growth (see ParameterRequest.strictPrecision). */
  readonly strictPrecision?: boolean;
  readonly scaleBits?: number;
  readonly preferN?: number;
  /** Lowering: which rotation steps get Galois keys (default all). */
  readonly rotationKeys?: RotationKeys;
  /** σ of the client steps' masks (refresh-plan.ts; default MASK_BITS). */
  readonly maskBits?: number;
  /** What the plan search remembers across the σ it tries (lowering-memo.ts); absent: nothing. */
  readonly memo?: PlanMemo;
}

/**
 * What the vector layout is packed for: `latency` puts one sample in each ciphertext (today's
 * single-row behaviour and artifacts); `throughput` interleaves as many samples as the slots hold
 * (slots / widest period, see interleave.ts) at the same ops and depth, so a request of R rows
 * takes ⌈R/k⌉ evaluations. Batch layout is the same for both.
 */
export type Objective = 'latency' | 'throughput';

export interface LayoutBuild {
  readonly layout: Layout;
  /** Scales assigned for `params`' primes. */
  readonly circuit: Circuit;
  readonly params: CkksParameters;
  readonly counts: OpCounts;
  /** One circuit evaluation at `params`' N (samplesPerEvaluation(circuit) samples). */
  readonly latency: LatencyEstimate;
}

/** The lowering option `options` carries, if any. */
export function rotationsOf(options: ParameterOptions): { rotationKeys?: RotationKeys } {
  return options.rotationKeys !== undefined ? { rotationKeys: options.rotationKeys } : {};
}

/** The droppable primes as assignScales wants them: [q_L, …, q_1] (chain order is [q0, q1 … qL, special]). */
/** The lowering `options` asks for (lowerChain by default). */
export function lowererOf(options: ParameterOptions): ChainLowerer {
  return options.memo?.lowerChain ?? lowerChain;
}

/** The scale assignment `options` asks for (assignScales by default). */
export function scalerOf(options: ParameterOptions): Scaler {
  return options.memo?.assignScales ?? ((circuit, primes) => assignScales(circuit, primes));
}

export function rescalePrimes(params: CkksParameters): number[] {
  return params.primesApprox.slice(1, 1 + params.levels).reverse();
}

export function buildLayout(stages: readonly ApproxStage[], layout: Layout, options: ParameterOptions, objective: Objective = 'latency'): LayoutBuild {
  // The depth does not depend on the slot count, so a first lowering at the fewest slots the
  // layout needs tells parameter selection the depth; the circuit is then lowered again at the
  // chosen N/2, where rotations wrap and constants tile.
  const firstSlots = layout === 'vector' ? Math.max(2, vectorSlotsNeeded(stages)) : 2;
  const lower = lowererOf(options);
  let circuit = lower(stages, { layout, slots: firstSlots, ...rotationsOf(options) });
  const request = parameterRequest(circuit.depth, circuit.minSlots, options);
  let params = selectParameters({ ...request, rotationSteps: circuit.rotationSteps });
  if (params.slots !== circuit.slots) {
    // For throughput, the circuit lowered at the widest period is exactly each sample's virtual
    // vector: interleaving fills the chosen N/2 with slots / period samples.
    circuit = layout === 'vector' && objective === 'throughput' ? interleaveSamples(circuit, params.slots / circuit.slots) : lower(stages, { layout, slots: params.slots, ...rotationsOf(options) });
    params = selectParameters({ ...request, preferN: params.polyModulusDegree, rotationSteps: circuit.rotationSteps });
  }
  const scaled = scalerOf(options)(circuit, rescalePrimes(params));
  const counts = countOps(scaled);
  return { layout, circuit: scaled, params, counts, latency: estimateLatency(counts, params.polyModulusDegree) };
}

/**
 * A tree ensemble's body in the batch layout (the only one it has: one sample per slot, so no
 * rotations): lowered once at 2 slots for its depth, then at the chosen N/2.
 */
export function buildTreeLayout(body: TreeBody, options: ParameterOptions): LayoutBuild {
  let circuit = lowerTreeBody(body, 2);
  const params = selectParameters({ ...parameterRequest(circuit.depth, 1, options), rotationSteps: [] });
  circuit = lowerTreeBody(body, params.slots);
  const scaled = assignScales(circuit, rescalePrimes(params));
  const counts = countOps(scaled);
  return { layout: 'batch', circuit: scaled, params, counts, latency: estimateLatency(counts, params.polyModulusDegree) };
}

/** What parameter selection is asked for a circuit of this depth and slot need, under the options. */
function parameterRequest(depth: number, slotsNeeded: number, options: ParameterOptions): Omit<ParameterRequest, 'rotationSteps'> {
  return {
    depth,
    slotsNeeded,
    outputBits: options.outputBits,
    ...(options.precisionBits !== undefined ? { precisionBits: options.precisionBits } : {}),
    ...(options.scaleBits !== undefined ? { scaleBits: options.scaleBits } : {}),
    ...(options.strictPrecision === true ? { strictPrecision: true } : {}),
    ...(options.preferN !== undefined ? { preferN: options.preferN } : {}),
  };
}
