/**
 * The compiler end to end, in memory, as the list of steps docs/architecture.md shows, each its
 * own module:
 *   1. import       steps/import-source   ONNX bytes → graph, and the source facts the artifact records
 *   2. passes       exact-chain           graph → the body IR, by kind (passBody, splitBody's kinds):
 *                                         a chain of stages (client prologue, encrypted chain or DAG,
 *                                         client epilogue; weights quantized first when asked), or a
 *                                         tree ensemble with the client's nodes around it
 *   3. body         chain: steps/calibrate-split (activation ranges; each ReLU's units rescaled);
 *                   trees: steps/encode-trees (threshold grid and bit encoding on the calibration rows)
 *   4. plan search  chain: steps/plan-search (degrees, layouts, segments, parameters, rotation keys);
 *                   trees: steps/tree-plan (parameters for the batch layout)
 *   5. artifact     compiled-model (toCompiledModel) → artifact/codec, from the Compilation returned here
 * Quantization runs before calibration so the ranges are those of the quantized model.
 */
import type { Calibration } from '../approx/calibrate';
import type { PolyExcursion } from '../approx/chain-stats';
import type { FittedActivation } from '../approx/approximate-chain';
import type { DegreeChoice } from '../approx/degree-choice';
import type { InputRange } from '../artifact/types';
import type { ApproxStage, SplitModel } from '../chain/stages';
import type { Layout } from '../circuit/ir';
import { checkPrecision, DEFAULT_PRECISION, describePromise, type PrecisionPromise } from '../approx/precision-target';
import { fail } from '../errors';
import { STEP_STAGE_KINDS } from '../chain/step-stages';
import type { Graph } from '../graph/graph';
import type { NumericTensor } from '../graph/tensor';
import type { TreeBodySplit } from '../passes/split-graph';
import { hasTreeEnsemble } from '../passes/tree-model';
import { planMemory } from '../plan/plan-memory';
import { describeRunMemory } from '../params/sizes';
import type { QuantizationSummary } from '../quantize/summary';
import type { LayoutBuild } from '../plan/build-layout';
import { cutPoints, type SegmentedBuild } from '../plan/refresh-plan';
import { keySizes } from '../params/sizes';
import { passBody, type ChainBodySplit } from './exact-chain';
import { calibrateSplit } from './steps/calibrate-split';
import { encodeTreeBody, type TreeSummary } from './steps/encode-trees';
import { importSource, type ModelBytes, type ModelSource } from './steps/import-source';
import type { CompileOptions, CompileStep, LayoutRequest } from './steps/options';
import { networkOf, refreshModeOf, searchChainPlan, type RotationKeyChoice } from './steps/plan-search';
import type { MaskChoice } from './steps/mask-search';
import { uncutPlan, type Plan } from '../plan/choose-plan';
import type { NetworkAssumptions } from '../plan/plan-cost';
import { searchTreePlan } from './steps/tree-plan';

export type { CompileOptions, CompileStep, LayoutRequest } from './steps/options';
export type { ModelBytes, ModelSource } from './steps/import-source';
export type { RotationKeyChoice } from './steps/plan-search';

export interface Compilation {
  readonly source: ModelSource;
  /** A tree ensemble's encoding and snap (see steps/encode-trees); absent for chain models. */
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
  /** σ of the client steps' masks and how it was chosen; null without client steps. */
  readonly mask: MaskChoice | null;
}

type Progress = (step: CompileStep) => void;

export function compileModel(model: ModelBytes, options: CompileOptions, progress: Progress = () => {}): Compilation {
  progress('import');
  const { graph, source } = importSource(model);
  progress('passes');
  const body = passBody(graph, options.nBits, progress, options.onClient ?? []);
  switch (body.kind) {
    case 'chain':
      return compileChain(body, graph, source, options, progress);
    case 'trees':
      return compileTreeEnsemble(body, source, options, progress);
  }
}

/** Steps 3 and 4 for a chain: calibrate, then the plan search (which approximates at each degree it tries). */
function compileChain(body: ChainBodySplit, graph: Graph, source: ModelSource, options: CompileOptions, progress: Progress): Compilation {
  const { split, quantization } = body;
  progress('calibrate');
  const input = calibrationInput(options, graph);
  const calibrated = calibrateSplit(split, input, options);
  const { plan, rotationKeys, shallowerNote, mask } = searchChainPlan(calibrated, options, progress);
  const { approximated, build, candidates, layoutReason, precision, refresh } = plan;
  const network = networkOf(options);
  const { trial, degreeChoice, outputBits } = approximated;
  const memory = planMemory(build.params, refresh ? refresh.segments.map((s) => s.circuit) : [build.circuit]);
  const warnings = [
    ...(memory.fits ? [] : [`compiled with --heap simulation: the plan runs in simulation; a SEAL run needs ${describeRunMemory(build.params, memory)}`]),
    ...(shallowerNote !== undefined ? [shallowerNote] : []),
    ...(options.onClient ?? []).filter((k) => !split.body.some((s) => s.kind === k)).map((k) => `--on-client ${k}: the encrypted part has no ${STEP_STAGE_KINDS[k].operator} (one after it runs on the client after decryption anyway); nothing changed`),
    ...(degreeChoice?.warning !== undefined ? [degreeChoice.warning] : []),
    ...(precision.reached ? [] : [precisionWarning(precision, build, refreshModeOf(options) === 'off' && cutPoints(trial.stages).length > 0)]),
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
    layoutRequest: options.layout ?? 'auto',
    build,
    refresh,
    candidates,
    layoutReason,
    rotationKeys,
    mask,
    plan: plan.plan,
    network,
  };
}

/** Steps 3 and 4 for a tree ensemble: encode the trees on the calibration rows, then the plan search over parameters. */
function compileTreeEnsemble(body: TreeBodySplit, source: ModelSource, options: CompileOptions, progress: Progress): Compilation {
  const layoutRequest = options.layout ?? 'auto';
  if (layoutRequest === 'vector') fail('BAD_ARGUMENT', 'tree ensembles compile to the batch layout only (--layout batch or auto)');
  if (options.degree !== undefined || options.maxError !== undefined || options.method !== undefined) {
    fail('BAD_ARGUMENT', 'a tree ensemble has no activations to approximate: --degree, --max-error and --method do not apply');
  }
  progress('calibrate');
  const input = calibrationInput(options, body.graph);
  progress('lower batch');
  const relative = checkPrecision(options.precision ?? DEFAULT_PRECISION);
  const trees = encodeTreeBody(body, input, options.nBits);
  const { build, precision } = searchTreePlan(trees, options, relative);
  const { summary } = trees;
  const warnings = [
    ...(summary.calibrationRowsChanged > 0 ? [`${summary.calibrationRowsChanged} of ${summary.calibrationRows} calibration rows reach another leaf with thresholds snapped to ${summary.nBits} bits`] : []),
    ...(precision.reached ? [] : [precisionWarning(precision, build)]),
  ];
  return {
    precision,
    source,
    trees: summary,
    split: trees.split,
    stages: [],
    approximations: [],
    degreeChoice: null,
    warnings,
    quantization: null,
    calibration: trees.calibration,
    inputRange: inputRangeOf(input),
    calibrationStats: { maxAbs: trees.maxAbs, outputBits: trees.outputBits, excursions: [] },
    layoutRequest,
    build,
    refresh: null,
    candidates: [build],
    layoutReason: layoutRequest === 'auto' ? 'auto: tree ensembles compile to the batch layout only' : `--layout ${layoutRequest}`,
    rotationKeys: { mode: 'all', request: options.rotationKeys ?? 'auto', keyBytes: keySizes(build.params, { seeded: true }).evaluationKeys },
    mask: null,
    plan: uncutPlan(build, networkOf(options)),
    network: networkOf(options),
  };
}

function calibrationInput(options: CompileOptions, graph: Graph): NumericTensor {
  return typeof options.calibration === 'function' ? options.calibration(graph) : options.calibration;
}

/** Layouts a model compiles to: trees only batch (see steps/encode-trees), other models both. */
export function supportedLayouts(graph: Graph): Layout[] {
  // Transformers are offered both: the vector layout packs each sample's tokens × features in one
  // ciphertext (products of picked factors, Softmax and LayerNorm rows summed by rotations).
  return hasTreeEnsemble(graph) ? ['batch'] : ['vector', 'batch'];
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
