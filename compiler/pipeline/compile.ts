/**
 * The compiler end to end, in memory:
 *   import → passes (prologue / chain / epilogue), with the layers' weights optionally quantized
 *   before the trace merges them with preprocessing → calibrate activation ranges on the
 *   calibration rows (prologue applied) → rescale each ReLU's units to a common range (per-unit
 *   bounds folded into the neighbouring affine maps) → widen the other ranges by the margin → fit
 *   each activation (degree auto by default: the smallest 2^k − 1 that keeps the calibration rows'
 *   predictions, see degree-choice) → correct the polynomials' mean error into the next bias → fold the range normalisation into the preceding affine map → lower per layout →
 *   parameters from the circuit (depth, slots, rotations; first prime sized by the largest value
 *   seen anywhere in the approximated chain on the calibration rows) → exact scales → counts and
 *   cost.
 *
 * Quantization runs before calibration so the ranges are those of the quantized model.
 *
 * Layout `auto` lowers both layouts (each with its own parameters) and keeps the one with the
 * lower estimated latency of one prediction: one circuit run, client encryption and decryption
 * included. On every fixture that is the vector layout: batch encrypts one ciphertext per
 * feature and spends a scalar product per weight, which costs more than the vector layout's
 * rotations even for the 4-feature iris model (4 ms against 9 ms at N = 4096). Batch is the
 * throughput layout (one run serves up to N/2 samples); ask for it with --layout batch.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Layout } from '../circuit/ir';
import { calibrateStages, type Calibration } from '../approx/calibrate';
import { sha256Hex } from '../artifact/model-hash';
import type { InputRange } from '../artifact/types';
import { DeepPowersError, fail } from '../errors';
import type { Graph } from '../graph/graph';
import type { NumericTensor } from '../graph/tensor';
import { importModel } from '../onnx/import';
import type { ApproxStage, SplitModel } from '../chain/stages';
import { runPrologue } from '../chain/run';
import { outputBitsForMagnitude } from '../params/select';
import type { QuantizationSummary } from '../quantize/summary';
import { DEFAULT_MARGIN } from '../approx/fit';
import type { PolyExcursion } from '../approx/chain-stats';
import type { ApproximationOptions, FittedActivation } from '../approx/approximate-chain';
import { buildLayout, type LayoutBuild } from './build-layout';
import { approximateBody, chooseDegree, outputComparison, type ApproximationTrial, type BodyApproximationOptions, type DegreeChoice } from '../approx/degree-choice';
import { quantizedSplit } from './exact-chain';
import { reluUnitBounds, scaleUnits } from '../approx/unit-scaling';
import { hasTreeEnsemble } from '../passes/tree-model';
import { compileTrees, type TreeSummary } from './compile-tree';

export type LayoutRequest = Layout | 'auto';

export interface CompileOptions extends Omit<ApproximationOptions, 'degree'> {
  /**
   * One degree for every activation, or 'auto' (the default when maxError is not given either):
   * the smallest 2^k − 1 degree whose approximated chain keeps the calibration rows' predictions
   * (see degree-choice).
   */
  readonly degree?: number | 'auto';
  /** For degree 'auto': share of calibration rows whose class must survive (default DEFAULT_MIN_AGREEMENT). */
  readonly minAgreement?: number;
  /**
   * The graph input for the calibration rows: [rows, ...input shape], or a function that builds it
   * from the imported graph (a data file needs the input's declared shape and type to be read).
   */
  readonly calibration: NumericTensor | ((graph: Graph) => NumericTensor);
  readonly layout?: LayoutRequest;
  /** Symmetric per-channel quantization of the layers' weights to this many bits. */
  readonly nBits?: number;
  /**
   * Rescale each ReLU unit to its own calibrated range (default true; see unit-scaling). False
   * fits every activation on one range per layer.
   */
  readonly perUnitRanges?: boolean;
  /** Fold each activation's mean polynomial error on the calibration rows out of the next bias (default true; see bias-correction). */
  readonly biasCorrection?: boolean;
  /** Force the CKKS scale (bits); otherwise the parameter policy picks it. */
  readonly scaleBits?: number;
  /** Fractional bits the outputs must keep above CKKS noise (parameter policy default otherwise). */
  readonly precisionBits?: number;
  /** Force the ring degree N. */
  readonly polyModulusDegree?: number;
}

export type CompileStep = 'import' | 'passes' | 'quantize' | 'calibrate' | 'approximate' | 'lower vector' | 'lower batch';

export interface ModelSource {
  /** Model name: the graph name, else the file's base name. */
  readonly name: string;
  /** Base name of the ONNX file. */
  readonly file: string;
  /** SHA-256 (hex) of the ONNX bytes. */
  readonly sha256: string;
  readonly producer: string;
  readonly irVersion: number;
  readonly opsets: ReadonlyMap<string, number>;
}

/** An ONNX model: a file path, or bytes already read (with the file name they came from). */
export type ModelBytes = string | { readonly bytes: Uint8Array; readonly file: string };

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
  /** Things the user should know about the result (e.g. no degree reached the agreement target). */
  readonly warnings: readonly string[];
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
  /** The chosen layout, circuit and parameters. */
  readonly build: LayoutBuild;
  /** Every layout that was lowered (both for auto), with its cost, and why the chosen one won. */
  readonly candidates: readonly LayoutBuild[];
  readonly layoutReason: string;
}

export function compileModel(model: ModelBytes, options: CompileOptions, progress: (step: CompileStep) => void = () => {}): Compilation {
  progress('import');
  const { graph, source } = importSource(model);
  progress('passes');
  if (hasTreeEnsemble(graph)) return compileTreeModel(graph, source, options, progress);
  if (options.nBits !== undefined) progress('quantize');
  const lowered = quantizedSplit(graph, options.nBits);
  const quantization = lowered.quantization;

  progress('calibrate');
  const calibrationInput = typeof options.calibration === 'function' ? options.calibration(graph) : options.calibration;
  const rows = runPrologue(lowered.split, calibrationInput);
  const unscaled = calibrateStages(lowered.split.body, rows);
  const unitBounds = options.perUnitRanges === false ? new Map<number, Float64Array>() : reluUnitBounds(lowered.split.body, unscaled, options.margin ?? DEFAULT_MARGIN);
  const body = scaleUnits(lowered.split.body, unitBounds);
  // The rescaled chain computes the same function; its activations see the rescaled inputs.
  const calibrated = unitBounds.size > 0 ? calibrateStages(body, rows) : unscaled;
  const exactSplit: SplitModel = { ...lowered.split, body };
  progress('approximate');
  const { degree, minAgreement } = options;
  if (degree !== undefined && options.maxError !== undefined) fail('BAD_ARGUMENT', 'give --degree or --max-error, not both');
  if (minAgreement !== undefined && !(minAgreement > 0 && minAgreement <= 1)) fail('BAD_ARGUMENT', `--min-agreement ${minAgreement} must be in (0, 1]`);
  const approxOptions: BodyApproximationOptions = {
    unitBounds,
    ...(options.maxError !== undefined ? { maxError: options.maxError } : {}),
    ...(options.method !== undefined ? { method: options.method } : {}),
    ...(options.margin !== undefined ? { margin: options.margin } : {}),
    ...(options.biasCorrection !== undefined ? { biasCorrection: options.biasCorrection } : {}),
  };
  const auto =
    (degree ?? (options.maxError === undefined ? 'auto' : undefined)) === 'auto' && options.method !== 'square' && body.some((s) => s.kind === 'activation');
  let degreeChoice: DegreeChoice | null = null;
  let trial: ApproximationTrial;
  if (auto) {
    const comparison = outputComparison(lowered.split);
    ({ choice: degreeChoice, trial } = chooseDegree({ body, calibration: calibrated, rows, comparison, ...(minAgreement !== undefined ? { minAgreement } : {}), options: approxOptions }));
  } else {
    trial = approximateBody(body, calibrated, rows, { ...approxOptions, ...(typeof degree === 'number' ? { degree } : {}) });
  }
  const { stages, approximations, stats } = trial;
  if (!Number.isFinite(stats.maxAbs)) fail('BAD_DATA', 'the calibration rows drive the approximated chain to a non-finite value');
  const outputBits = outputBitsForMagnitude(stats.maxAbs);

  const layoutRequest = options.layout ?? 'auto';
  const layouts: Layout[] = layoutRequest === 'auto' ? ['vector', 'batch'] : [layoutRequest];
  const paramOptions = {
    outputBits,
    ...(options.precisionBits !== undefined ? { precisionBits: options.precisionBits } : {}),
    ...(options.scaleBits !== undefined ? { scaleBits: options.scaleBits } : {}),
    ...(options.polyModulusDegree !== undefined ? { preferN: options.polyModulusDegree } : {}),
  };
  const candidates: LayoutBuild[] = [];
  const refusals: string[] = [];
  for (const layout of layouts) {
    progress(layout === 'vector' ? 'lower vector' : 'lower batch');
    try {
      candidates.push(buildLayout(stages, layout, paramOptions));
    } catch (e) {
      // With auto, a layout that cannot fit (a vector layer wider than N/2) leaves the other.
      if (layoutRequest !== 'auto' || !(e instanceof DeepPowersError) || e.code !== 'PARAMS') throw e;
      refusals.push(`${layout}: ${e.message}`);
    }
  }
  if (candidates.length === 0) fail('PARAMS', `no layout fits: ${refusals.join('; ')}`);
  const build = candidates.reduce((a, b) => (b.latency.totalMs < a.latency.totalMs ? b : a));
  return {
    source,
    split: exactSplit,
    stages,
    approximations,
    degreeChoice,
    warnings: degreeChoice?.warning !== undefined ? [degreeChoice.warning] : [],
    quantization,
    calibration: calibrated,
    inputRange: inputRangeOf(calibrationInput),
    calibrationStats: { maxAbs: stats.maxAbs, outputBits, excursions: stats.excursions },
    layoutRequest,
    build,
    candidates,
    layoutReason: layoutReason(layoutRequest, build, candidates, refusals),
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
  const calibrationInput = typeof options.calibration === 'function' ? options.calibration(graph) : options.calibration;
  progress('lower batch');
  const t = compileTrees(graph, calibrationInput, {
    ...(options.nBits !== undefined ? { nBits: options.nBits } : {}),
    parameters: {
      ...(options.precisionBits !== undefined ? { precisionBits: options.precisionBits } : {}),
      ...(options.scaleBits !== undefined ? { scaleBits: options.scaleBits } : {}),
      ...(options.polyModulusDegree !== undefined ? { preferN: options.polyModulusDegree } : {}),
    },
  });
  const warnings =
    t.summary.calibrationRowsChanged > 0
      ? [`${t.summary.calibrationRowsChanged} of ${t.summary.calibrationRows} calibration rows reach another leaf with thresholds snapped to ${t.summary.nBits} bits`]
      : [];
  return {
    source,
    trees: t.summary,
    split: t.split,
    stages: [],
    approximations: [],
    degreeChoice: null,
    warnings,
    quantization: null,
    calibration: t.calibration,
    inputRange: inputRangeOf(calibrationInput),
    calibrationStats: { maxAbs: t.maxAbs, outputBits: t.outputBits, excursions: [] },
    layoutRequest,
    build: t.build,
    candidates: [t.build],
    layoutReason: layoutRequest === 'auto' ? 'auto: tree ensembles compile to the batch layout only' : `--layout ${layoutRequest}`,
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

function layoutReason(request: LayoutRequest, chosen: LayoutBuild, candidates: readonly LayoutBuild[], refusals: readonly string[]): string {
  if (request !== 'auto') return `--layout ${request}`;
  const ms = (b: LayoutBuild): string => `${b.layout} ${b.latency.totalMs.toFixed(0)} ms at N=${b.params.polyModulusDegree}`;
  if (candidates.length === 1) return `auto: only ${chosen.layout} fits (${refusals.join('; ')})`;
  return `auto: lower estimated latency of one prediction (${candidates.map(ms).join(' vs ')})`;
}

function importSource(model: ModelBytes): { graph: Graph; source: ModelSource } {
  const path = typeof model === 'string' ? model : model.file;
  const bytes = typeof model === 'string' ? readModel(model) : model.bytes;
  const graph = importModel(bytes, path);
  const file = basename(path);
  return {
    graph,
    source: {
      name: graph.name || file.replace(/\.onnx$/i, ''),
      file,
      sha256: sha256Hex(bytes),
      producer: graph.producer,
      irVersion: graph.irVersion,
      opsets: graph.opsets,
    },
  };
}

function readModel(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    fail('IO', `cannot read model ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : (err.code ?? err.message)}`);
  }
}
