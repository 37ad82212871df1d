/**
 * The compiler end to end, in memory, as a list of steps, each its own module:
 *   1. import       steps/import-source      ONNX bytes → graph, and the source facts the artifact records
 *   2. passes       exact-chain              graph → split model (client prologue, encrypted chain,
 *                                            client epilogue), the layers' weights quantized first when asked
 *   3. calibrate    steps/calibrate-split    calibration rows through the prologue; activation ranges;
 *                                            each ReLU's units rescaled to a common range
 *   4. approximate  steps/approximate-split  a polynomial per activation (degree auto by default), mean
 *                                            error folded into the next bias, range normalisation into
 *                                            the preceding affine map; the largest value reached
 *   5. lower        steps/choose-layout      per layout, the whole plans (plan/choose-plan): one circuit or
 *                                            segments with client steps, each with parameters, exact
 *                                            scales, counts, end-to-end latency and heap; the fastest
 *                                            that fits the heap; auto keeps the faster layout
 * Quantization runs before calibration so the ranges are those of the quantized model. Tree
 * ensembles leave after the passes for their own lowering (compile-tree).
 */
import type { Calibration } from '../approx/calibrate';
import type { PolyExcursion } from '../approx/chain-stats';
import type { FittedActivation } from '../approx/approximate-chain';
import { FALLBACK_MAX_DEGREE, type DegreeChoice } from '../approx/degree-choice';
import type { InputRange } from '../artifact/types';
import type { ApproxStage, SplitModel } from '../chain/stages';
import type { Layout } from '../circuit/ir';
import { absoluteBound, checkPrecision, DEFAULT_PRECISION, describePromise, noisePrecisionBits, precisionPromise, type PrecisionPromise } from '../approx/precision-target';
import { DeepPowersError, fail } from '../errors';
import type { Graph } from '../graph/graph';
import type { NumericTensor } from '../graph/tensor';
import { hasTreeEnsemble } from '../passes/tree-model';
import type { QuantizationSummary } from '../quantize/summary';
import type { LayoutBuild, ParameterOptions } from '../plan/build-layout';
import { compileTrees, type TreeSummary } from './compile-tree';
import { quantizedSplit } from './exact-chain';
import { approximateSplit } from './steps/approximate-split';
import { calibrateSplit } from './steps/calibrate-split';
import { chooseLayout } from './steps/choose-layout';
import { ROTATION_KEY_BUDGET_BYTES, type RotationKeys, type RotationKeysRequest } from '../circuit/rotation-keys';
import { keySizes } from '../params/sizes';
import { cutPoints, segmentedPromise, type RefreshRequest, type SegmentedBuild } from '../plan/refresh-plan';
import { uncutPlan, type Plan } from '../plan/choose-plan';
import { DEFAULT_BYTES_PER_SECOND, DEFAULT_RTT_MS, type NetworkAssumptions } from '../plan/plan-cost';
import { importSource, type ModelBytes, type ModelSource } from './steps/import-source';
import type { CompileOptions, CompileStep, LayoutRequest } from './steps/options';

export type { CompileOptions, CompileStep, LayoutRequest } from './steps/options';
export type { ModelBytes, ModelSource } from './steps/import-source';

export interface Compilation {
  readonly source: ModelSource;
  /** A tree ensemble's encoding and snap (see compile-tree); absent for chain models. */
  readonly trees?: TreeSummary;
  /** The split model; its body is the exact chain the circuit approximates (quantized, ReLU units rescaled). */
  readonly split: SplitModel;
  /** The encrypted chain after quantization, approximation and normalisation folding. */
  readonly stages: readonly ApproxStage[];
  readonly approximations: readonly FittedActivation[];
  /** How degree 'auto' chose the degree; null for --degree, --max-error, the square method, or a chain without activations. */
  readonly degreeChoice: DegreeChoice | null;
  /** Things the user should know about the result (e.g. the precision promise is not kept). */
  readonly warnings: readonly string[];
  /** The promised bound on the body outputs' encrypted error, and whether the compiler could meet it. */
  readonly precision: PrecisionPromise;
  readonly quantization: QuantizationSummary | null;
  /** Activation inputs on the calibration rows, in the rescaled chain (`split.body`). */
  readonly calibration: Calibration;
  /** Each model-input element's smallest and largest value over the calibration rows. */
  readonly inputRange: InputRange;
  /** The approximated chain on the calibration rows. */
  readonly calibrationStats: {
    /** Largest magnitude of any circuit value (see ChainStats.maxAbs). */
    readonly maxAbs: number;
    /** Bits above the scale that magnitude needs: the first prime's extra size. */
    readonly outputBits: number;
    readonly excursions: readonly PolyExcursion[];
  };
  readonly layoutRequest: LayoutRequest;
  /** The chosen layout, circuit and parameters (with refresh: the first segment). */
  readonly build: LayoutBuild;
  /** The segments when the plan cuts the body (build is segments[0]); null otherwise. */
  readonly refresh: SegmentedBuild | null;
  /** The whole plan chosen: its predicted end-to-end latency and heap estimate. */
  readonly plan: Plan;
  /** The round trip and bandwidth the plan's client steps were costed at. */
  readonly network: NetworkAssumptions;
  /** Every layout's best plan (its first circuit), with its cost, and why the chosen one won. */
  readonly candidates: readonly LayoutBuild[];
  readonly layoutReason: string;
  /** Which rotation steps got keys, and why (auto: the key set every step would have needed). */
  readonly rotationKeys: RotationKeyChoice;
}

export interface RotationKeyChoice {
  readonly mode: RotationKeys;
  readonly request: RotationKeysRequest;
  /** Evaluation-key bytes (seeded, as uploaded) of the chosen circuit's parameters. */
  readonly keyBytes: number;
  /** Auto only, when it chose powers of two: the bytes and steps that every step's own key would have taken. */
  readonly allSteps?: { readonly keyBytes: number; readonly steps: number };
}

export function compileModel(model: ModelBytes, options: CompileOptions, progress: (step: CompileStep) => void = () => {}): Compilation {
  progress('import');
  const { graph, source } = importSource(model);
  progress('passes');
  if (hasTreeEnsemble(graph)) return compileTreeModel(graph, source, options, progress);
  if (options.nBits !== undefined) progress('quantize');
  const { split, quantization } = quantizedSplit(graph, options.nBits);
  progress('calibrate');
  const input = calibrationInput(options, graph);
  const calibrated = calibrateSplit(split, input, options);
  const objective = options.objective ?? 'latency';
  const refreshMode = refreshModeOf(options);
  const network = networkOf(options);
  // One approximation per degree cap: lowering again with other rotation keys reuses it.
  const approximations = new Map<number | undefined, ReturnType<typeof approximateSplit>>();
  const lowered = (maxAutoDegree?: number, rotationKeys: RotationKeys = options.rotationKeys === 'powers-of-two' ? 'powers-of-two' : 'all') => {
    progress('approximate');
    let approximated = approximations.get(maxAutoDegree);
    if (!approximated) {
      approximated = approximateSplit(calibrated, { ...options, ...(maxAutoDegree !== undefined ? { maxAutoDegree } : {}) });
      approximations.set(maxAutoDegree, approximated);
    }
    const { outputBits, target } = approximated;
    // The noise share of the promise becomes the fractional bits the parameters keep after the
    // circuit's growth. Asked for explicitly (--precision-bits, --scale-bits), the user's numbers
    // win and the promise says what they leave.
    const derived = options.precisionBits === undefined && options.scaleBits === undefined;
    const noiseBits = noisePrecisionBits(target.bound, target.approximationError, target.magnitude);
    const parameters = { ...parameterOptions(options, outputBits), ...(derived ? { precisionBits: noiseBits, strictPrecision: true } : {}), rotationKeys };
    const { trial } = approximated;
    const chosen = chooseLayout(trial.stages, layoutRequest, parameters, { refresh: refreshMode, objective, network, maxAbs: trial.stats.maxAbs }, progress);
    const { plan } = chosen;
    const refresh = plan.refresh;
    const build = plan.build;
    const uncut = precisionPromise(target.relative, target.outputRange, target.approximationError, target.magnitude, build.params.expectedPrecisionBits);
    const precision = refresh ? segmentedPromise(uncut, refresh, target.magnitude) : uncut;
    return { approximated, build, plan, candidates: chosen.candidates.map((p) => p.build), layoutReason: chosen.layoutReason, precision, refresh, rotationKeys, maxAutoDegree };
  };
  const layoutRequest = options.layout ?? 'auto';
  // Auto rotation keys: a plan refused (its keys overflow the heap at every N it could take) may
  // fit with keys for powers of two only.
  const firstAttempt = (): ReturnType<typeof lowered> => {
    try {
      return lowered();
    } catch (e) {
      if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS' || (options.rotationKeys ?? 'auto') !== 'auto') throw e;
      try {
        return lowered(undefined, 'powers-of-two');
      } catch {
        throw e;
      }
    }
  };
  let attempt = firstAttempt();
  let deeperNote: string | undefined;
  // Degree 127 can meet the approximation's share and still miss the promise: its extra level per
  // activation forces a smaller scale, whose noise outweighs the better fit. Then the best of the
  // shallower degrees is lowered too, and the smaller total error wins.
  const chosen = attempt.approximated.degreeChoice?.degree ?? 0;
  if (!attempt.precision.reached && chosen > FALLBACK_MAX_DEGREE) {
    const shallower = lowered(FALLBACK_MAX_DEGREE);
    const total = (p: PrecisionPromise) => p.approximationError + p.noiseBound;
    if (total(shallower.precision) < total(attempt.precision)) {
      const deep = attempt;
      attempt = shallower;
      deeperNote =
        `degree ${chosen} met the approximation target (error ${deep.precision.approximationError.toPrecision(3)}) but its depth ${deep.build.circuit.depth} left CKKS noise up to ` +
        `${deep.precision.noiseBound.toPrecision(3)} at N=${deep.build.params.polyModulusDegree}; the shallower degree below misses by less`;
    }
  }
  // Auto: when every step's own key would make the evaluation keys larger than the budget,
  // rotations by powers of two are tried, and kept when their keys are smaller and the promise
  // holds as well as before.
  const keyBytes = (a: typeof attempt) => keySizes(a.build.params, { seeded: true }).evaluationKeys;
  let allSteps: RotationKeyChoice['allSteps'];
  if ((options.rotationKeys ?? 'auto') === 'auto' && keyBytes(attempt) > ROTATION_KEY_BUDGET_BYTES) {
    const pow2 = lowered(attempt.maxAutoDegree, 'powers-of-two');
    if (keyBytes(pow2) < keyBytes(attempt) && (pow2.precision.reached || !attempt.precision.reached)) {
      allSteps = { keyBytes: keyBytes(attempt), steps: attempt.build.params.rotationSteps.length };
      attempt = pow2;
    }
  }
  const rotationKeys: RotationKeyChoice = { mode: attempt.rotationKeys, request: options.rotationKeys ?? 'auto', keyBytes: keyBytes(attempt), ...(allSteps ? { allSteps } : {}) };
  const { approximated, build, candidates, layoutReason, precision, refresh } = attempt;
  const { trial, degreeChoice, outputBits } = approximated;
  const warnings = [
    ...(deeperNote !== undefined ? [deeperNote] : []),
    ...(degreeChoice?.warning !== undefined ? [degreeChoice.warning] : []),
    ...(precision.reached ? [] : [precisionWarning(precision, build, refreshMode === 'off' && cutPoints(trial.stages).length > 0)]),
  ];
  return {
    precision,
    source,
    split: calibrated.split,
    stages: trial.stages,
    approximations: trial.approximations,
    degreeChoice,
    warnings,
    quantization,
    calibration: calibrated.calibration,
    inputRange: inputRangeOf(input),
    calibrationStats: { maxAbs: trial.stats.maxAbs, outputBits, excursions: trial.stats.excursions },
    layoutRequest,
    build,
    refresh,
    candidates,
    layoutReason,
    rotationKeys,
    plan: attempt.plan,
    network,
  };
}

/**
 * Client steps: allowed by default (the planner cuts the body when that is faster or the only way
 * to fit the heap), forbidden by --refresh off. Throughput packing runs one circuit per request,
 * so it does not cut unless asked, and refuses when asked.
 */
function refreshModeOf(options: CompileOptions): RefreshRequest {
  if (options.refresh === 'auto' && options.objective === 'throughput') fail('BAD_ARGUMENT', '--refresh auto works with --objective latency only (one sample per ciphertext)');
  return options.refresh ?? (options.objective === 'throughput' ? 'off' : 'auto');
}

function networkOf(options: CompileOptions): NetworkAssumptions {
  const rttMs = options.rttMs ?? DEFAULT_RTT_MS;
  if (!(rttMs >= 0) || !Number.isFinite(rttMs)) fail('BAD_ARGUMENT', `--rtt-ms must be a non-negative number of milliseconds, got ${rttMs}`);
  return { rttMs, bytesPerSecond: DEFAULT_BYTES_PER_SECOND };
}

function calibrationInput(options: CompileOptions, graph: Graph): NumericTensor {
  return typeof options.calibration === 'function' ? options.calibration(graph) : options.calibration;
}

function parameterOptions(options: CompileOptions, outputBits: number): ParameterOptions {
  return { outputBits, ...requestedParameters(options) };
}

/** The parameter choices the user fixed (--precision-bits, --scale-bits, --poly-modulus-degree); chains and trees both pass them on. */
function requestedParameters(options: CompileOptions): Omit<ParameterOptions, 'outputBits'> {
  return {
    ...(options.precisionBits !== undefined ? { precisionBits: options.precisionBits } : {}),
    ...(options.scaleBits !== undefined ? { scaleBits: options.scaleBits } : {}),
    ...(options.polyModulusDegree !== undefined ? { preferN: options.polyModulusDegree } : {}),
    ...(options.maskBits !== undefined ? { maskBits: options.maskBits } : {}),
  };
}

/** Layouts a model compiles to: trees only batch (see compile-tree), other models both. */
export function supportedLayouts(graph: Graph): Layout[] {
  return hasTreeEnsemble(graph) ? ['batch'] : ['vector', 'batch'];
}

function compileTreeModel(graph: Graph, source: ModelSource, options: CompileOptions, progress: (step: CompileStep) => void): Compilation {
  const layoutRequest = options.layout ?? 'auto';
  if (layoutRequest === 'vector') fail('BAD_ARGUMENT', 'tree ensembles compile to the batch layout only (--layout batch or auto)');
  if (options.degree !== undefined || options.maxError !== undefined || options.method !== undefined) {
    fail('BAD_ARGUMENT', 'a tree ensemble has no activations to approximate: --degree, --max-error and --method do not apply');
  }
  progress('calibrate');
  const input = calibrationInput(options, graph);
  progress('lower batch');
  const parameters = requestedParameters(options);
  const treeOptions = options.nBits !== undefined ? { nBits: options.nBits } : {};
  const relative = checkPrecision(options.precision ?? DEFAULT_PRECISION);
  let t = compileTrees(graph, input, { ...treeOptions, parameters });
  // The scores' range is known once the trees are encoded; the parameters then keep enough bits
  // for the whole bound (unless the user fixed them), on a larger N if one holds them.
  const range = (c: typeof t): [number, number] => [c.calibration.output.min, c.calibration.output.max];
  const magnitude = (c: typeof t): number => Math.max(1, ...range(c).map(Math.abs));
  if (options.precisionBits === undefined && options.scaleBits === undefined) {
    const bits = noisePrecisionBits(absoluteBound(relative, range(t)), 0, magnitude(t));
    if (t.build.params.expectedPrecisionBits < bits) {
      try {
        t = compileTrees(graph, input, { ...treeOptions, parameters: { ...parameters, precisionBits: bits, strictPrecision: true } });
      } catch (e) {
        if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS') throw e;
      }
    }
  }
  const warnings =
    t.summary.calibrationRowsChanged > 0
      ? [`${t.summary.calibrationRowsChanged} of ${t.summary.calibrationRows} calibration rows reach another leaf with thresholds snapped to ${t.summary.nBits} bits`]
      : [];
  // The circuit computes the grid-snapped trees exactly (what snapping changes is counted in
  // calibration rows, above); only CKKS noise stands between its scores and the client's.
  const precision = precisionPromise(relative, range(t), 0, magnitude(t), t.build.params.expectedPrecisionBits);
  if (!precision.reached) warnings.push(precisionWarning(precision, t.build));
  return {
    precision,
    source,
    trees: t.summary,
    split: t.split,
    stages: [],
    approximations: [],
    degreeChoice: null,
    warnings,
    quantization: null,
    calibration: t.calibration,
    inputRange: inputRangeOf(input),
    calibrationStats: { maxAbs: t.maxAbs, outputBits: t.outputBits, excursions: [] },
    layoutRequest,
    build: t.build,
    refresh: null,
    candidates: [t.build],
    layoutReason: layoutRequest === 'auto' ? 'auto: tree ensembles compile to the batch layout only' : `--layout ${layoutRequest}`,
    rotationKeys: { mode: 'all', request: options.rotationKeys ?? 'auto', keyBytes: keySizes(t.build.params, { seeded: true }).evaluationKeys },
    plan: uncutPlan(t.build, networkOf(options)),
    network: networkOf(options),
  };
}

function inputRangeOf(input: NumericTensor): InputRange {
  const size = input.shape.slice(1).reduce((a, b) => a * b, 1);
  const min = new Array<number>(size).fill(Infinity);
  const max = new Array<number>(size).fill(-Infinity);
  for (let i = 0; i < input.data.length; i++) {
    const v = input.data[i]!;
    const j = i % size;
    if (v < min[j]!) min[j] = v;
    if (v > max[j]!) max[j] = v;
  }
  if (input.data.length === 0) fail('BAD_DATA', 'no calibration rows');
  return { min, max };
}

/** `refreshCould`: the body has a cut point and --refresh auto was not asked for, so client steps could give back levels. */
function precisionWarning(p: PrecisionPromise, build: LayoutBuild, refreshCould = false): string {
  const parts = [`approximation ${p.approximationError.toPrecision(3)} on the calibration rows`, `CKKS noise up to ${p.noiseBound.toPrecision(3)} at N=${build.params.polyModulusDegree}`];
  const fixes = refreshCould ? '--refresh auto (client steps between layers), a larger --precision, --degree D, or fewer activation layers' : 'a larger --precision, --degree D, or fewer activation layers';
  return `the precision target ${describePromise(p)} is not met: ${parts.join(' + ')}; give ${fixes}`;
}
