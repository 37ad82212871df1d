/**
 * `deeppowers compile` as a library call: an ONNX file and a calibration data file to a compiled
 * model directory (with the source ONNX beside it), and the summary the command prints.
 * runtime/cli/compile.ts parses the command line into compileFile and prints what it returns;
 * the package's compile() (app/node.ts) runs the same compileOnnxFile and writeCompiledDirectory.
 */
import { copyFileSync } from 'node:fs';
import { approximationSummary, type ApproximationSummary } from '../report/approximation-summary';
import { basename, join } from 'node:path';
import { SOURCE_MODEL_FILE, type CompiledModel } from '../../compiler/artifact/types';
import { writeCompiledModel } from '../../compiler/artifact/files';
import { fail } from '../../compiler/errors';
import type { Graph } from '../../compiler/graph/graph';
import type { NumericTensor } from '../../compiler/graph/tensor';
import type { OpCounts } from '../../compiler/circuit/count';
import { WASM_HEAP_BYTES } from '../../compiler/params/sizes';
import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import { describeClientSteps, isRefresh, stepKind } from '../../compiler/client-steps/table';
import type { ClientStep, ClientStepKind, MaskDomain } from '../../compiler/client-steps/kind';
import { describeDishonestClient } from '../../compiler/client-steps/dishonest-client';
import { compileModel, type Compilation, type CompileOptions, type CompileStep } from '../../compiler/pipeline/compile';
import type { TreeSummary } from '../../compiler/pipeline/steps/encode-trees';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { batchTensor, loadRows, type RowBatch } from '../data/load-rows';
import { rowSpecOf } from '../data/row-spec';
import { readModelBytes } from './read-model';
import type { PrecisionPromise } from '../../compiler/approx/precision-target';
import type { MaskChoice, MaskTrial } from '../../compiler/pipeline/steps/mask-search';
import type { RotationKeys, RotationKeysRequest } from '../../compiler/circuit/rotation-keys';
import type { RowFunctionKind } from '../../compiler/chain/rowwise';

export interface CompileFileOptions {
  readonly calibration: string;
  readonly output?: string;
  readonly layout: 'auto' | 'vector' | 'batch';
  readonly objective?: 'latency' | 'throughput';
  readonly refresh?: 'auto' | 'off';
  readonly rttMs?: number;
  readonly heap?: 'node-seal' | 'simulation';
  readonly maskBits?: number | 'auto';
  /** --on-client: row-wise functions the client computes exactly (passes/rows-to-client.ts). */
  readonly onClient?: readonly RowFunctionKind[];
  readonly rotationKeys?: RotationKeysRequest;
  readonly degree?: number | 'auto';
  readonly maxError?: number;
  readonly minAgreement?: number;
  readonly precision?: number;
  readonly method?: 'chebyshev' | 'remez' | 'square';
  readonly margin?: number;
  readonly nBits?: number;
  readonly scaleBits?: number;
  readonly name?: string;
  readonly description?: string;
  readonly featureNames?: readonly string[];
  readonly json?: boolean;
}

export interface CompileSummary {
  readonly outputDir: string;
  readonly model: string;
  /** The rows the activation ranges and the degree were fitted on. */
  readonly calibration: { readonly file: string; readonly member: string | null; readonly rows: number };
  readonly modelHash: string;
  readonly layout: string;
  readonly layoutReason: string;
  /** Samples one evaluation carries: k interleaved per ciphertext for vector, up to N/2 for batch. */
  readonly samplesPerEvaluation: number;
  readonly polyModulusDegree: number;
  /** Every segment's depth added up (the report's total); one circuit's depth when the body is not cut. */
  readonly depth: number;
  /** Counts, rotation steps and latency below are every segment's together, as the report gives them. */
  readonly rotations: number;
  readonly rotationSteps: readonly number[];
  /** Galois keys: which steps get one (all, or powers of two), how many (every segment's), and the evaluation keys' size. */
  readonly rotationKeys: {
    readonly mode: RotationKeys;
    readonly request: RotationKeysRequest;
    readonly steps: number;
    readonly keyBytes: number;
    readonly allSteps?: { readonly keyBytes: number; readonly steps: number };
  };
  readonly parameters: {
    readonly polyModulusDegree: number;
    readonly slots: number;
    readonly scaleBits: number;
    readonly coeffModulusBits: readonly number[];
    readonly totalBits: number;
    readonly maxBitCount: number;
    readonly securityBits: number;
    readonly levels: number;
  };
  readonly counts: Omit<OpCounts, 'byLevel' | 'rotationSteps'>;
  /** With --refresh auto and a cut body: each segment's depth and estimated latency, and the mask. */
  readonly refresh?: {
    readonly segments: readonly { readonly depth: number; readonly latencyMs: number }[];
    /** Why the planner cut the body at refresh points (absent when only max pools cut it). */
    readonly whyCut?: string;
    readonly maskBits: number;
    readonly maskBound: number;
    /**
     * How σ was chosen (--mask-bits auto or σ) and what it hides: 2^−σ statistical distance per
     * slot, 2^(log2 slots − σ) over one ciphertext's slots; auto below 40 says why (each σ it tried).
     */
    readonly mask: {
      readonly mode: 'auto' | 'explicit';
      readonly bits: number;
      readonly slots: number;
      /** 2^−σ per masked value: a slot, or a coefficient of the plaintext polynomial. */
      readonly perSlotLog2Distance: number;
      /** Over one ciphertext: its slots (slot masks) or its N = 2·slots coefficients (coefficient masks), the larger when both kinds occur. */
      readonly perCiphertextLog2Distance: number;
      /** Per client step, in order: its kind and where its mask sits (the plaintext polynomial's coefficients, σ costing no precision, or the slots). */
      readonly steps: readonly { readonly kind: ClientStepKind; readonly masking: MaskDomain }[];
      readonly whyNotMax?: string;
      readonly tried: readonly MaskTrial[];
    };
    /**
     * The max pools among the client steps (present only when there is one): each forces its
     * step whatever --refresh says; `clientSees` says how the max is computed and what the
     * client learns.
     */
    readonly maxPools?: readonly { readonly geometry: string; readonly sources: readonly string[] }[];
    /** The softmax and LayerNorm client steps (present only when there is one): exact, masked per row or token; `clientSees` says what the client learns. */
    readonly normalizations?: readonly { readonly kind: 'softmax' | 'layernorm'; readonly sources: readonly string[] }[];
    /** What the client learns at the steps that are not refreshes, in words (present when there is one). */
    readonly clientSees?: string;
    /** What a client that returns values of its own at the steps can learn (compiler/client-steps/dishonest-client.ts). */
    readonly dishonestClient: string;
  };
  /**
   * The whole plan's predicted latency of one prediction: every segment's server and client time,
   * and the client steps' round trips and bytes at `network`.
   */
  readonly latencyMs: { readonly server: number; readonly client: number; readonly network: number; readonly total: number };
  /** What the client steps were costed at: one round trip (compile --rtt-ms) and the bandwidth. */
  readonly network: { readonly rttMs: number; readonly bytesPerSecond: number; readonly clientSteps: number; readonly stepBytes: number };
  /** The heap estimate of one process making the keys and evaluating, against the budget (compiler/params/sizes.ts). */
  readonly memory: { readonly totalBytes: number; readonly budgetBytes: number; readonly heapBytes: number };
  readonly approximations: readonly (ApproximationSummary & { readonly note?: string })[];
  /** The promised bound on the body outputs' encrypted error (see precision-target). */
  readonly precision: PrecisionPromise;
  /** How --degree auto chose (absent for --degree D, --max-error, or a chain without activations). */
  readonly degreeChoice?: {
    readonly comparison: string;
    readonly target: { readonly maxError: number; readonly minAgreement: number };
    readonly rows: number;
    readonly tried: readonly { readonly degree: number; readonly agreement: number; readonly maxError: number }[];
    readonly degree: number;
    readonly reached: boolean;
  };
  /** A tree ensemble's grid, encoding and snap (absent for other models). */
  readonly trees?: TreeSummary;
  readonly warnings: readonly string[];
  readonly candidates: readonly { readonly layout: string; readonly polyModulusDegree: number; readonly depth: number; readonly rotations: number; readonly latencyMs: number }[];
}

export function defaultOutputDir(modelFile: string): string {
  return `${basename(modelFile).replace(/\.onnx$/i, '')}.compiled`;
}

/** Tool version recorded in manifests (package.json's). */
export type ToolVersion = string;

/**
 * Compile's calibration rows from a data file (JSON, with its `calibration` member, or CSV), read
 * by the model's row spec once the graph is imported; `onRead` sees the rows used.
 */
export function calibrationFromFile(file: string, onRead: (batch: RowBatch) => void = () => {}): (graph: Graph) => NumericTensor {
  return (graph) => {
    const spec = rowSpecOf(graph);
    const batch = loadRows(file, spec, 'calibration');
    if (batch.rows === 0) fail('BAD_DATA', `${file}: the calibration data has no rows`);
    onRead(batch);
    return batchTensor(batch, { ...spec, fixedBatch: null });
  };
}

/** Compile's options with the calibration rows as a data file (JSON or CSV), as the command and the package take them. */
export type OnnxFileCompileOptions = Omit<CompileOptions, 'calibration'> & { readonly calibration: string };

export interface CompiledFile {
  readonly compilation: Compilation;
  readonly model: CompiledModel;
  /** The calibration rows compile read. */
  readonly calibration: RowBatch;
}

/** An ONNX file and a calibration data file → the compiled model, in memory (nothing is written). */
export function compileOnnxFile(modelFile: string, options: OnnxFileCompileOptions, toolVersion: ToolVersion, progress?: (step: CompileStep) => void): CompiledFile {
  if (options.degree !== undefined && options.maxError !== undefined) fail('BAD_ARGUMENT', 'give --degree or --max-error, not both');
  if (options.minAgreement !== undefined && (options.maxError !== undefined || typeof options.degree === 'number')) {
    fail('BAD_ARGUMENT', '--min-agreement sets the target of --degree auto; it has no effect with --degree D or --max-error');
  }
  const bytes = readModelBytes(modelFile);
  let used: RowBatch | undefined;
  const compileOptions: CompileOptions = { ...options, calibration: calibrationFromFile(options.calibration, (batch) => (used = batch)) };
  const compilation = compileModel({ bytes, file: modelFile }, compileOptions, progress);
  const model = toCompiledModel(compilation, compileOptions, toolVersion);
  if (used === undefined) throw new Error('compileModel returned without reading the calibration rows');
  return { compilation, model, calibration: used };
}

/**
 * A compiled model directory: manifest.json and constants.bin, and the ONNX file it came from as
 * SOURCE_MODEL_FILE (checked against the manifest's SHA-256 when read), so `report` can run the
 * float64 reference next to the simulation.
 */
export function writeCompiledDirectory(outputDir: string, model: CompiledModel, modelFile: string): void {
  writeCompiledModel(outputDir, model);
  try {
    copyFileSync(modelFile, join(outputDir, SOURCE_MODEL_FILE));
  } catch (e) {
    fail('IO', `cannot copy ${modelFile} into ${outputDir}: ${(e as Error).message}`);
  }
}

/** `deeppowers compile`: the options the command parsed, compiled, written to `output` (default <model>.compiled), and summarized. */
export function compileFile(modelFile: string, opts: CompileFileOptions, toolVersion: ToolVersion, progress?: (step: CompileStep) => void): { compilation: Compilation; model: CompiledModel; summary: CompileSummary } {
  // Only the compile options, whatever else the command line carried.
  const options: OnnxFileCompileOptions = {
    calibration: opts.calibration,
    layout: opts.layout,
    ...(opts.objective !== undefined ? { objective: opts.objective } : {}),
    ...(opts.refresh !== undefined ? { refresh: opts.refresh } : {}),
    ...(opts.rttMs !== undefined ? { rttMs: opts.rttMs } : {}),
    ...(opts.heap !== undefined ? { heap: opts.heap } : {}),
    ...(opts.maskBits !== undefined ? { maskBits: opts.maskBits } : {}),
    ...(opts.onClient !== undefined ? { onClient: opts.onClient } : {}),
    ...(opts.rotationKeys !== undefined ? { rotationKeys: opts.rotationKeys } : {}),
    ...(opts.degree !== undefined ? { degree: opts.degree } : {}),
    ...(opts.maxError !== undefined ? { maxError: opts.maxError } : {}),
    ...(opts.minAgreement !== undefined ? { minAgreement: opts.minAgreement } : {}),
    ...(opts.precision !== undefined ? { precision: opts.precision } : {}),
    ...(opts.method !== undefined ? { method: opts.method } : {}),
    ...(opts.margin !== undefined ? { margin: opts.margin } : {}),
    ...(opts.nBits !== undefined ? { nBits: opts.nBits } : {}),
    ...(opts.scaleBits !== undefined ? { scaleBits: opts.scaleBits } : {}),
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.description !== undefined ? { description: opts.description } : {}),
    ...(opts.featureNames !== undefined ? { featureNames: opts.featureNames } : {}),
  };
  const { compilation, model, calibration } = compileOnnxFile(modelFile, options, toolVersion, progress);
  const outputDir = opts.output ?? defaultOutputDir(modelFile);
  writeCompiledDirectory(outputDir, model, modelFile);
  return { compilation, model, summary: summarize(outputDir, compilation, model, calibration) };
}

function maskSummary(m: MaskChoice, steps: readonly ClientStep[]): NonNullable<CompileSummary['refresh']>['mask'] {
  const masking = steps.map((s) => ({ kind: s.kind, masking: stepKind(s.kind).domain }));
  const values = Math.max(...masking.map((s) => (s.masking === 'coefficients' ? 2 * m.slots : m.slots)));
  return {
    mode: m.mode,
    bits: m.bits,
    slots: m.slots,
    perSlotLog2Distance: -m.bits,
    perCiphertextLog2Distance: Math.log2(values) - m.bits,
    steps: masking,
    ...(m.whyNotMax !== undefined ? { whyNotMax: m.whyNotMax } : {}),
    tried: m.tried,
  };
}

function summarize(outputDir: string, c: Compilation, m: CompiledModel, calibration: RowBatch): CompileSummary {
  const p = m.parameters;
  // A cut body (--refresh auto, a max pool) runs every segment per evaluation: the summary adds
  // them up, as the report does, so its depth, ops and latency describe what a run costs.
  const segments = [{ circuit: m.circuit, cost: m.cost }, ...(m.refresh?.segments ?? [])];
  const { byLevel: _byLevel, rotationSteps: _steps, ...first } = m.cost.counts;
  const counts = { ...first };
  for (const s of segments.slice(1)) for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] += s.cost.counts[k];
  const plan = c.plan.latency;
  return {
    outputDir,
    model: c.source.name,
    calibration: { file: calibration.file, member: calibration.member ?? null, rows: calibration.rows },
    modelHash: m.modelHash,
    layout: m.circuit.layout,
    layoutReason: c.layoutReason,
    samplesPerEvaluation: samplesPerEvaluation(m.circuit),
    polyModulusDegree: p.polyModulusDegree,
    depth: segments.reduce((d, s) => d + s.circuit.depth, 0),
    rotations: counts.rotations,
    rotationSteps: [...new Set(segments.flatMap((s) => s.circuit.rotationSteps))].sort((a, b) => a - b),
    rotationKeys: { ...c.rotationKeys, steps: c.build.params.rotationSteps.length },
    parameters: {
      polyModulusDegree: p.polyModulusDegree,
      slots: p.slots,
      scaleBits: p.scaleBits,
      coeffModulusBits: p.coeffModulusBits,
      totalBits: p.totalBits,
      maxBitCount: p.maxBitCount,
      securityBits: p.securityBits,
      levels: p.levels,
    },
    counts,
    ...(c.refresh
      ? {
          refresh: {
            segments: c.refresh.segments.map((b) => ({ depth: b.circuit.depth, latencyMs: b.latency.totalMs })),
            ...(c.plan.whyCut !== undefined ? { whyCut: c.plan.whyCut } : {}),
            maskBits: c.refresh.maskBits,
            maskBound: c.refresh.maskBound,
            mask: maskSummary(c.mask!, c.refresh.steps),
            dishonestClient: describeDishonestClient(m.refresh!),
            ...(c.refresh.steps.some((s) => s.kind === 'maxpool')
              ? { maxPools: c.refresh.steps.flatMap((s) => (s.kind === 'maxpool' ? [{ geometry: s.pool.geometry, sources: s.pool.sources }] : [])) }
              : {}),
            ...(c.refresh.steps.some((s) => s.kind === 'softmax' || s.kind === 'layernorm')
              ? {
                  normalizations: c.refresh.steps.flatMap((s): { kind: 'softmax' | 'layernorm'; sources: readonly string[] }[] =>
                    s.kind === 'softmax' ? [{ kind: s.kind, sources: s.softmax.sources }] : s.kind === 'layernorm' ? [{ kind: s.kind, sources: s.layernorm.sources }] : [],
                  ),
                }
              : {}),
            ...(c.refresh.steps.some((s) => !isRefresh(s)) ? { clientSees: describeClientSteps(m.refresh!) } : {}),
          },
        }
      : {}),
    latencyMs: { server: plan.serverMs, client: plan.clientMs, network: plan.networkMs, total: plan.totalMs },
    network: { rttMs: c.network.rttMs, bytesPerSecond: c.network.bytesPerSecond, clientSteps: plan.steps, stepBytes: plan.stepBytes },
    memory: { totalBytes: c.plan.memory.total, budgetBytes: c.plan.memory.limit, heapBytes: WASM_HEAP_BYTES },
    approximations: c.approximations.map((a) => ({
      ...approximationSummary(a, a.calibratedRange),
      ...(a.note !== undefined ? { note: a.note } : {}),
    })),
    precision: c.precision,
    ...(c.degreeChoice
      ? {
          degreeChoice: {
            comparison: c.degreeChoice.comparison,
            target: c.degreeChoice.target,
            rows: c.degreeChoice.rows,
            tried: c.degreeChoice.tried.map((t) => ({ degree: t.degree, agreement: t.agreement, maxError: t.maxError })),
            degree: c.degreeChoice.degree,
            reached: c.degreeChoice.reached,
          },
        }
      : {}),
    ...(c.trees ? { trees: c.trees } : {}),
    warnings: c.warnings,
    candidates: c.candidates.map((b) => ({
      layout: b.layout,
      polyModulusDegree: b.params.polyModulusDegree,
      depth: b.circuit.depth,
      rotations: b.counts.rotations,
      latencyMs: b.latency.totalMs,
    })),
  };
}
