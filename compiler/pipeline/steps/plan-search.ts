/**
 * Compile step 4 for a chain, the plan search: the calibrated chain → the plan the artifact
 * records (degree, layout, segments, parameters, rotation keys). One lowering (`lowerChain`)
 * approximates the chain at a degree cap, derives the parameters from the precision promise and
 * builds every layout asked for (one circuit, or segments at client steps); the search is that
 * lowering, tried again at most twice, each time for a named reason:
 *   a. first        auto's degree, the rotation keys asked for (a key per step unless powers of two;
 *                   under auto, powers of two too when a key per step keeps the plan that would meet
 *                   the promise, or every plan, out of the heap)
 *   b. shallower    auto chose a degree above FALLBACK_MAX_DEGREE and missed the promise: its extra
 *                   level per activation forced a smaller scale, so the best shallower degree is
 *                   lowered too and the smaller total error wins
 *   c. rotation keys  --rotation-keys auto, and a key per step makes the evaluation keys larger
 *                   than the key budget: rotations by powers of two are lowered too, and kept when
 *                   their keys are smaller and the promise holds as well as before
 * A body that can have client steps runs these at each mask width σ that --mask-bits auto tries
 * (mask-search.ts); the approximations are shared.
 */
import { FALLBACK_MAX_DEGREE } from '../../approx/degree-choice';
import { noisePrecisionBits, precisionPromise, type PrecisionPromise } from '../../approx/precision-target';
import type { Layout } from '../../circuit/ir';
import { ROTATION_KEY_BUDGET_BYTES, type RotationKeys, type RotationKeysRequest } from '../../circuit/rotation-keys';
import { DeepPowersError, fail } from '../../errors';
import { keySizes } from '../../params/sizes';
import type { LayoutBuild, ParameterOptions } from '../../plan/build-layout';
import { largestMaskBitsFor, MASK_BITS_AUTO, maskRounding, segmentedPromise, type RefreshRequest, type SegmentedBuild } from '../../plan/refresh-plan';
import type { Plan } from '../../plan/choose-plan';
import { planMemo } from '../../plan/lowering-memo';
import { DEFAULT_BYTES_PER_SECOND, DEFAULT_RTT_MS, type NetworkAssumptions } from '../../plan/plan-cost';
import { approximateSplit, type ApproximatedSplit } from './approximate-split';
import type { CalibratedSplit } from './calibrate-split';
import { chooseLayout } from './choose-layout';
import { searchMaskBits, type MaskChoice } from './mask-search';
import type { CompileOptions, CompileStep } from './options';

/** One lowering of the chain: its approximation, the chosen layout (and segments), and the promise they keep. */
export interface ChainPlan {
  readonly approximated: ApproximatedSplit;
  /** The chosen layout, circuit and parameters (with segments: the first). */
  readonly build: LayoutBuild;
  readonly candidates: readonly LayoutBuild[];
  readonly layoutReason: string;
  readonly precision: PrecisionPromise;
  /** The segments, when client steps cut the body; null for one circuit. */
  readonly refresh: SegmentedBuild | null;
  /** The whole plan: its segments, end-to-end latency and heap (plan/choose-plan). */
  readonly plan: Plan;
  readonly rotationKeys: RotationKeys;
  /** The degree cap degree auto searched under (absent: none). */
  readonly maxAutoDegree: number | undefined;
}

export interface RotationKeyChoice {
  readonly mode: RotationKeys;
  readonly request: RotationKeysRequest;
  /** Evaluation-key bytes (seeded, as uploaded) of the chosen circuit's parameters. */
  readonly keyBytes: number;
  /** Auto only, when it chose powers of two: the bytes and steps that every step's own key would have taken. */
  readonly allSteps?: { readonly keyBytes: number; readonly steps: number };
}

export interface PlanSearch {
  readonly plan: ChainPlan;
  readonly rotationKeys: RotationKeyChoice;
  /** Why the kept degree is shallower than the one auto chose first, when it is. */
  readonly shallowerNote?: string;
}

export type Lowering = (maxAutoDegree: number | undefined, rotationKeys: RotationKeys) => ChainPlan;
/** A Lowering at the client steps' mask width σ. */
type MaskedLowering = (maxAutoDegree: number | undefined, rotationKeys: RotationKeys, maskBits: number) => ChainPlan;

/** The plan search, at --mask-bits σ or at the σ auto picks; `mask` is null when the plan has no client steps. */
export function searchChainPlan(calibrated: CalibratedSplit, options: CompileOptions, progress: (step: CompileStep) => void): PlanSearch & { readonly mask: MaskChoice | null } {
  const lower = chainLowering(calibrated, options, progress);
  const searchAt = (maskBits: number): PlanSearch => searchAtMask((degree, keys) => lower(degree, keys, maskBits), options);
  const { search, mask } = searchMaskBits(options.maskBits ?? 'auto', searchAt, guessMaskBits);
  return { ...search, mask };
}

/** The largest σ a search's segmented plan would hold unchanged (the promise's slack less its mask term at the σ it was built with). */
function guessMaskBits(search: PlanSearch): number {
  const { plan } = search;
  if (!plan.refresh) return MASK_BITS_AUTO.min;
  const { precision } = plan;
  const magnitude = plan.approximated.target.magnitude;
  const slack = precision.bound - precision.approximationError - (precision.noiseBound - maskRounding(plan.refresh, magnitude, plan.refresh.maskBits));
  return largestMaskBitsFor(plan.refresh, magnitude, slack);
}

/** Search steps a to c at one mask width. */
function searchAtMask(lower: Lowering, options: CompileOptions): PlanSearch {
  const keys: RotationKeys = options.rotationKeys === 'powers-of-two' ? 'powers-of-two' : 'all';
  const first = firstLowering(lower, keys, options.rotationKeys ?? 'auto');
  const degree = preferShallowerDegree(first, lower);
  const rotation = preferPowerOfTwoKeys(degree.plan, lower, options.rotationKeys ?? 'auto');
  return { plan: rotation.plan, rotationKeys: rotation.choice, ...(degree.note !== undefined ? { shallowerNote: degree.note } : {}) };
}

/** The lowering the search repeats; one approximation per degree cap (lowering again with other rotation keys or another σ reuses it). */
function chainLowering(calibrated: CalibratedSplit, options: CompileOptions, progress: (step: CompileStep) => void): MaskedLowering {
  const approximations = new Map<number | undefined, ApproximatedSplit>();
  // Lowering does not depend on σ: one memo serves every σ the auto search tries.
  const memo = planMemo();
  const layoutRequest = options.layout ?? 'auto';
  const objective = options.objective ?? 'latency';
  const refresh = refreshModeOf(options);
  const network = networkOf(options);
  // Under auto, a layout that no plan fits at one σ fits at no larger σ (a wider mask only takes
  // modulus bits: more primes or a larger ring, never less heap or more depth). The mask search
  // starts at the floor, so each larger σ lowers only the layout that fit there, and says why as
  // the floor's search did: a transformer's batch layout is lowered once per compile, not per σ.
  const onlyLayout = new Map<string, { readonly maskBits: number; readonly layout: Layout; readonly reason: string }>();
  return (maxAutoDegree, rotationKeys, maskBits) => {
    progress('approximate');
    let approximated = approximations.get(maxAutoDegree);
    if (!approximated) {
      approximated = approximateSplit(calibrated, { ...options, ...(maxAutoDegree !== undefined ? { maxAutoDegree } : {}) });
      approximations.set(maxAutoDegree, approximated);
    }
    const { outputBits, target, trial } = approximated;
    // The noise share of the promise becomes the fractional bits the parameters keep after the
    // circuit's growth. Asked for explicitly (--precision-bits, --scale-bits), the user's numbers
    // win and the promise says what they leave.
    const noiseBits = noisePrecisionBits(target.bound, target.approximationError, target.magnitude);
    const parameters: ParameterOptions = { ...parameterOptions(options, outputBits), ...(precisionDerived(options) ? { precisionBits: noiseBits, strictPrecision: true } : {}), rotationKeys, maskBits, memo };
    // The whole plans per layout (one circuit, or segments at client steps), the fastest within the heap (plan/choose-plan).
    const narrowKey = `${maxAutoDegree}|${rotationKeys}`;
    const known = layoutRequest === 'auto' ? onlyLayout.get(narrowKey) : undefined;
    const narrowed = known !== undefined && known.maskBits <= maskBits ? known : undefined;
    const choice = chooseLayout(trial.stages, narrowed?.layout ?? layoutRequest, parameters, { refresh, objective, network, maxAbs: trial.stats.maxAbs, overHeap: options.heap === 'simulation' }, progress);
    const chosen = narrowed ? { ...choice, layoutReason: narrowed.reason } : choice;
    if (!narrowed && layoutRequest === 'auto' && choice.candidates.length === 1) onlyLayout.set(narrowKey, { maskBits, layout: choice.plan.layout, reason: choice.layoutReason });
    const { plan } = chosen;
    const build = plan.build;
    const uncut = precisionPromise(target.relative, target.outputRange, target.approximationError, target.magnitude, build.params.expectedPrecisionBits);
    const precision = plan.refresh ? segmentedPromise(uncut, plan.refresh, target.magnitude) : uncut;
    return { approximated, build, plan, candidates: chosen.candidates.map((p) => p.build), layoutReason: chosen.layoutReason, precision, refresh: plan.refresh, rotationKeys, maxAutoDegree };
  };
}

/** Search step b: auto's degree above FALLBACK_MAX_DEGREE missed the promise; the best shallower degree is kept when its total error is smaller. */
function preferShallowerDegree(plan: ChainPlan, lower: Lowering): { plan: ChainPlan; note?: string } {
  const degree = plan.approximated.degreeChoice?.degree ?? 0;
  if (plan.precision.reached || degree <= FALLBACK_MAX_DEGREE) return { plan };
  const shallower = lower(FALLBACK_MAX_DEGREE, plan.rotationKeys);
  const total = (p: PrecisionPromise) => p.approximationError + p.noiseBound;
  if (total(shallower.precision) >= total(plan.precision)) return { plan };
  const note =
    `degree ${degree} met the approximation target (error ${plan.precision.approximationError.toPrecision(3)}) but its depth ${plan.build.circuit.depth} left CKKS noise up to ` +
    `${plan.precision.noiseBound.toPrecision(3)} at N=${plan.build.params.polyModulusDegree}; the shallower degree below misses by less`;
  return { plan: shallower, note };
}

/** Search step c: under --rotation-keys auto, powers of two replace a key per step past the key budget when their keys are smaller and the promise holds as well. */
function preferPowerOfTwoKeys(plan: ChainPlan, lower: Lowering, request: RotationKeysRequest): { plan: ChainPlan; choice: RotationKeyChoice } {
  const keyBytes = (p: ChainPlan) => keySizes(p.build.params, { seeded: true }).evaluationKeys;
  let kept = plan;
  let allSteps: RotationKeyChoice['allSteps'];
  if (request === 'auto' && keyBytes(plan) > ROTATION_KEY_BUDGET_BYTES) {
    const pow2 = lower(plan.maxAutoDegree, 'powers-of-two');
    if (keyBytes(pow2) < keyBytes(plan) && (pow2.precision.reached || !plan.precision.reached)) {
      allSteps = { keyBytes: keyBytes(plan), steps: plan.build.params.rotationSteps.length };
      kept = pow2;
    }
  }
  return { plan: kept, choice: { mode: kept.rotationKeys, request, keyBytes: keyBytes(kept), ...(allSteps ? { allSteps } : {}) } };
}

/**
 * Search step a: auto's degree with the keys asked for. Under --rotation-keys auto, a key per step
 * can be what keeps a plan out of the heap (the deeper plan that would keep the promise at a larger
 * N, or every plan): then keys for powers of two only are lowered too, and kept when they keep the
 * promise the first did not, or when the first was refused. When both are refused the error names
 * both: what stays over the heap with the smaller key set (plaintexts, key generation) is what the
 * user has to change, and a refusal that named only a key per step would hide it.
 */
export function firstLowering(lower: Lowering, keys: RotationKeys, request: RotationKeysRequest): ChainPlan {
  const retry = request === 'auto' && keys === 'all';
  let first: ChainPlan;
  try {
    first = lower(undefined, keys);
  } catch (e) {
    if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS' || !retry) throw e;
    try {
      return lower(undefined, 'powers-of-two');
    } catch (pow2) {
      if (!(pow2 instanceof DeepPowersError) || pow2.code !== 'PARAMS') throw pow2;
      throw new DeepPowersError('PARAMS', `with a key per rotation step, ${e.message}; with keys for powers of two only (tried by --rotation-keys auto), ${pow2.message}`);
    }
  }
  if (first.precision.reached || !retry) return first;
  try {
    const pow2 = lower(undefined, 'powers-of-two');
    return pow2.precision.reached ? pow2 : first;
  } catch (e) {
    if (e instanceof DeepPowersError && e.code === 'PARAMS') return first;
    throw e;
  }
}

/**
 * Client steps: allowed by default (the planner cuts the body when that is faster or the only way
 * to fit the heap), forbidden by --refresh off. Throughput packing runs one circuit per request,
 * so it does not cut unless asked, and refuses when asked.
 */
export function refreshModeOf(options: CompileOptions): RefreshRequest {
  if (options.refresh === 'auto' && options.objective === 'throughput') fail('BAD_ARGUMENT', '--refresh auto works with --objective latency only (one sample per ciphertext)');
  return options.refresh ?? (options.objective === 'throughput' ? 'off' : 'auto');
}

/** What the planner costs each client step at: --rtt-ms (default DEFAULT_RTT_MS) and DEFAULT_BYTES_PER_SECOND. */
export function networkOf(options: CompileOptions): NetworkAssumptions {
  const rttMs = options.rttMs ?? DEFAULT_RTT_MS;
  if (!(rttMs >= 0) || !Number.isFinite(rttMs)) fail('BAD_ARGUMENT', `--rtt-ms must be a non-negative number of milliseconds, got ${rttMs}`);
  return { rttMs, bytesPerSecond: DEFAULT_BYTES_PER_SECOND };
}

/** The parameter choices a compile starts from, chains and trees alike: the value bits, and what the user fixed (--precision-bits, --scale-bits, --poly-modulus-degree, --mask-bits σ). */
export function parameterOptions(options: CompileOptions, outputBits: number): ParameterOptions {
  return {
    outputBits,
    ...(options.precisionBits !== undefined ? { precisionBits: options.precisionBits } : {}),
    ...(options.scaleBits !== undefined ? { scaleBits: options.scaleBits } : {}),
    ...(options.polyModulusDegree !== undefined ? { preferN: options.polyModulusDegree } : {}),
    ...(typeof options.maskBits === 'number' ? { maskBits: options.maskBits } : {}),
  };
}

/** Whether the precision bits are the plan search's to derive from the promise (neither --precision-bits nor --scale-bits given). */
export function precisionDerived(options: CompileOptions): boolean {
  return options.precisionBits === undefined && options.scaleBits === undefined;
}
