/**
 * Compile step 4 for a chain, the plan search: the calibrated chain → the plan the artifact
 * records (degree, layout, segments, parameters, rotation keys). One lowering (`lowerChain`)
 * approximates the chain at a degree cap, derives the parameters from the precision promise and
 * builds every layout asked for (one circuit, or segments at client steps); the search is that
 * lowering, tried again at most twice, each time for a named reason:
 *   a. first        auto's degree, the rotation keys asked for (a key per step unless powers of two)
 *   b. shallower    auto chose a degree above FALLBACK_MAX_DEGREE and missed the promise: its extra
 *                   level per activation forced a smaller scale, so the best shallower degree is
 *                   lowered too and the smaller total error wins
 *   c. rotation keys  --rotation-keys auto, and a key per step makes the evaluation keys larger
 *                   than the key budget: rotations by powers of two are lowered too, and kept when
 *                   their keys are smaller and the promise holds as well as before
 */
import { FALLBACK_MAX_DEGREE } from '../../approx/degree-choice';
import { noisePrecisionBits, precisionPromise, type PrecisionPromise } from '../../approx/precision-target';
import type { ApproxStage } from '../../chain/stages';
import { ROTATION_KEY_BUDGET_BYTES, type RotationKeys, type RotationKeysRequest } from '../../circuit/rotation-keys';
import { fail } from '../../errors';
import { keySizes } from '../../params/sizes';
import type { LayoutBuild, ParameterOptions } from '../../plan/build-layout';
import { planRefresh, segmentedPromise, type SegmentedBuild } from '../../plan/refresh-plan';
import { approximateSplit, type ApproximatedSplit } from './approximate-split';
import type { CalibratedSplit } from './calibrate-split';
import { chooseLayout } from './choose-layout';
import { choosePooledLayout, hasPools } from './choose-pooled-layout';
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

type Lowering = (maxAutoDegree: number | undefined, rotationKeys: RotationKeys) => ChainPlan;

export function searchChainPlan(calibrated: CalibratedSplit, options: CompileOptions, progress: (step: CompileStep) => void): PlanSearch {
  const lower = chainLowering(calibrated, options, progress);
  const keys: RotationKeys = options.rotationKeys === 'powers-of-two' ? 'powers-of-two' : 'all';
  const first = lower(undefined, keys);
  const degree = preferShallowerDegree(first, lower);
  const rotation = preferPowerOfTwoKeys(degree.plan, lower, options.rotationKeys ?? 'auto');
  return { plan: rotation.plan, rotationKeys: rotation.choice, ...(degree.note !== undefined ? { shallowerNote: degree.note } : {}) };
}

/** The lowering the search repeats; one approximation per degree cap (lowering again with other rotation keys reuses it). */
function chainLowering(calibrated: CalibratedSplit, options: CompileOptions, progress: (step: CompileStep) => void): Lowering {
  const approximations = new Map<number | undefined, ApproximatedSplit>();
  const layoutRequest = options.layout ?? 'auto';
  const objective = options.objective ?? 'latency';
  return (maxAutoDegree, rotationKeys) => {
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
    const parameters: ParameterOptions = { ...parameterOptions(options, outputBits), ...(precisionDerived(options) ? { precisionBits: noiseBits, strictPrecision: true } : {}), rotationKeys };
    let chosen: { build: LayoutBuild; candidates: readonly LayoutBuild[]; layoutReason: string };
    let refresh: SegmentedBuild | null;
    if (hasPools(trial.stages)) {
      // A max pool is a client step: the chain always runs as segments (see refresh-plan).
      const pooled = choosePooledLayout(trial.stages, layoutRequest, parameters, trial.stats.maxAbs, options.refresh ?? 'off', progress, objective);
      chosen = { build: pooled.plan.segments[0]!, candidates: pooled.candidates.map((p) => p.segments[0]!), layoutReason: pooled.layoutReason };
      refresh = pooled.plan;
    } else {
      chosen = chooseLayout(trial.stages, layoutRequest, parameters, progress, objective);
      refresh = refreshOf(options, trial.stages, chosen.build, parameters, trial.stats.maxAbs);
    }
    const build = refresh ? refresh.segments[0]! : chosen.build;
    const uncut = precisionPromise(target.relative, target.outputRange, target.approximationError, target.magnitude, build.params.expectedPrecisionBits);
    const precision = refresh ? segmentedPromise(uncut, refresh, target.magnitude) : uncut;
    return { approximated, build, candidates: chosen.candidates, layoutReason: chosen.layoutReason, precision, refresh, rotationKeys, maxAutoDegree };
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

/** With --refresh auto, the segments when cutting gives a smaller N than the whole chain (see refresh-plan). */
function refreshOf(options: CompileOptions, stages: readonly ApproxStage[], build: LayoutBuild, parameters: ParameterOptions, maxAbs: number): SegmentedBuild | null {
  if ((options.refresh ?? 'off') === 'off') return null;
  if (options.objective === 'throughput') fail('BAD_ARGUMENT', '--refresh auto works with --objective latency only (one sample per ciphertext)');
  const plan = planRefresh(stages, build.layout, parameters, maxAbs);
  return plan && plan.params.polyModulusDegree < build.params.polyModulusDegree ? plan : null;
}

/** The parameter choices a compile starts from, chains and trees alike: the value bits, and what the user fixed (--precision-bits, --scale-bits, --poly-modulus-degree, --mask-bits). */
export function parameterOptions(options: CompileOptions, outputBits: number): ParameterOptions {
  return {
    outputBits,
    ...(options.precisionBits !== undefined ? { precisionBits: options.precisionBits } : {}),
    ...(options.scaleBits !== undefined ? { scaleBits: options.scaleBits } : {}),
    ...(options.polyModulusDegree !== undefined ? { preferN: options.polyModulusDegree } : {}),
    ...(options.maskBits !== undefined ? { maskBits: options.maskBits } : {}),
  };
}

/** Whether the precision bits are the plan search's to derive from the promise (neither --precision-bits nor --scale-bits given). */
export function precisionDerived(options: CompileOptions): boolean {
  return options.precisionBits === undefined && options.scaleBits === undefined;
}
