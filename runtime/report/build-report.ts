/**
 * `deeppowers report`: everything known about a compiled model, measured on a data file. The
 * circuit facts are read off the compiled circuit; accuracy compares the float64 reference of the
 * source ONNX model (kept in the compiled directory) with the simulated circuit on the same rows.
 */
import { existsSync, readFileSync } from 'node:fs';
import { activationLabel } from '../../compiler/activations/registry';
import { approximationSummary, type ApproximationSummary } from './approximation-summary';
import { join } from 'node:path';
import { rangeCoverage } from '../../compiler/approx/calibrate';
import { readCompiledModel } from '../../compiler/artifact/files';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { SOURCE_MODEL_FILE, type CompiledModel } from '../../compiler/artifact/types';
import { fail } from '../../compiler/errors';
import type { Graph } from '../../compiler/graph/graph';
import { importModel } from '../../compiler/onnx/import';
import type { Stage } from '../../compiler/chain/stages';
import { rowFunctionLabel, type RowFunctionKind } from '../../compiler/chain/rowwise';
import { parseClientRowFunctions } from '../../compiler/passes/rows-to-client';
import { runBody, runPrologue } from '../../compiler/chain/run';
import { isStepStage, stepStageKind } from '../../compiler/chain/step-stages';
import { exactBody } from '../../compiler/pipeline/exact-chain';
import { batchTensor, loadRows } from '../data/load-rows';
import { rowSpecOf } from '../data/row-spec';
import { predictReference } from '../run/predict-reference';
import { compiledRowSpec, predictCompiled, simulateBackend } from '../run/run-compiled';
import { compareRuns, type Accuracy } from './accuracy';
import { circuitFacts, type CircuitFacts } from './circuit-facts';
import { fheSection, type FheReport } from './fhe-section';
import type { FheBackend } from '../backends/backend';
import type { CountedProgress } from '../run/counted-progress';
import { loadLabels } from './labels';
import { analyseTrees, treeDepth, type TreeReport } from './tree-section';

export interface ReportRequest {
  readonly compiledDir: string;
  readonly dataFile: string;
  readonly labelsFile?: string;
  /** The ONNX model the directory was compiled from, when it is not in the directory. */
  readonly sourceModel?: string;
  /** Also run the rows encrypted (node-seal CKKS) and report its costs and error. */
  readonly fhe?: boolean;
  /** With `fhe`: progress of the encrypted evaluations. */
  readonly fheProgress?: CountedProgress;
  /** Key generation before the encrypted run (one step: SEAL makes the keys in one blocking call). */
  readonly fheKeygenProgress?: CountedProgress;
  /** With `fhe`: the backend that evaluates (default: SEAL on this thread). */
  readonly fheBackend?: FheBackend;
}

export interface ChainStageReport {
  readonly stage: number;
  readonly kind: Stage['kind'];
  readonly label: string;
  readonly sources: readonly string[];
}

export interface ApproximationReport extends ApproximationSummary {
  readonly stage: number;
  readonly chebyshev: readonly number[];
  /** Share of activation inputs outside the fitted range, on the calibration rows and on the data. */
  readonly outside: {
    /** The fitted range contains the observed calibration range (margin ≥ 1), so this is 0 whenever `contained`. */
    readonly calibration: { readonly share: number; readonly contained: boolean };
    readonly data: { readonly share: number; readonly values: number; readonly rowShare: number; readonly worstExcess: number };
  };
}

export interface Report {
  readonly model: {
    readonly name: string;
    readonly sourceFile: string;
    readonly sha256: string;
    readonly modelHash: string;
    readonly toolVersion: string;
    readonly options: CompiledModel['options'];
  };
  readonly compiledDir: string;
  readonly dataFile: string;
  readonly rows: number;
  readonly chain: readonly ChainStageReport[];
  readonly prologue: readonly string[];
  readonly epilogue: readonly string[];
  readonly approximations: readonly ApproximationReport[];
  readonly quantization: CompiledModel['quantization'];
  readonly parameters: CompiledModel['parameters'] & { readonly parameterId: string };
  readonly circuit: CircuitFacts;
  readonly accuracy: Accuracy;
  /** A tree ensemble's grid, snap (calibration and data rows whose leaves it changes) and encoding. */
  readonly trees?: TreeReport;
  /** With `fhe`: the encrypted run's timings, sizes, and agreement with simulation and reference. */
  readonly fhe?: FheReport;
}

function sourceGraph(model: CompiledModel, request: ReportRequest): Graph {
  const path = request.sourceModel ?? join(request.compiledDir, SOURCE_MODEL_FILE);
  if (!existsSync(path)) {
    fail('BAD_ARTIFACT', `${request.compiledDir} has no ${SOURCE_MODEL_FILE}; the report runs the source model as its reference: pass it with --model <${model.source.sourceFile}>`);
  }
  const bytes = readFileSync(path);
  const sha = sha256Hex(bytes);
  if (sha !== model.source.sha256) {
    fail('BAD_ARTIFACT', `${path} is not the model ${request.compiledDir} was compiled from (SHA-256 ${sha.slice(0, 16)}, the manifest records ${model.source.sha256.slice(0, 16)})`);
  }
  return importModel(bytes, path);
}

/** The split whose body is the exact chain the circuit approximates (quantized and ReLU units rescaled as compiled). */
function exactBodyOf(graph: Graph, model: CompiledModel): ReturnType<typeof exactBody> {
  return exactBody(graph, {
    ...(model.quantization ? { nBits: model.quantization.bits } : {}),
    unitBounds: model.approximations.map((a) => a.unitBounds),
    onClient: onClientOf(model),
  });
}

/** The row-wise functions the model was compiled to compute on the client (its recorded --on-client). */
function onClientOf(model: CompiledModel): RowFunctionKind[] {
  const recorded = model.options['onClient'];
  if (recorded === undefined) return [];
  if (typeof recorded !== 'string') fail('BAD_ARTIFACT', `the manifest's options.onClient is ${JSON.stringify(recorded)}, not a list of functions`);
  return parseClientRowFunctions(recorded);
}

function stageLabel(s: Stage): string {
  if (isStepStage(s)) return `${stepStageKind(s).label(s)} (client step)`;
  switch (s.kind) {
    case 'affine':
      return `affine ${s.inSize}→${s.outSize}`;
    case 'activation':
      return `${activationLabel(s)} ×${s.size}`;
    case 'product':
      return `product ×${s.size}`;
    case 'rowwise':
      return `${rowFunctionLabel(s.fn)} ×${s.size} in rows of ${s.rowLength}`;
  }
}

export async function buildReport(request: ReportRequest): Promise<Report> {
  const model = readCompiledModel(request.compiledDir);
  const graph = sourceGraph(model, request);
  // The compile's body kind: a tree ensemble has no chain, its reference is the ensemble with exact thresholds.
  const exact = exactBodyOf(graph, model);
  const split = exact.kind === 'chain' ? exact.split : null;
  const body = split?.body ?? [];
  const activations = body.flatMap((s, i) => (s.kind === 'activation' ? [i] : []));
  if (activations.length !== model.approximations.length) {
    fail('BAD_ARTIFACT', `the source model has ${activations.length} activations, the compiled model ${model.approximations.length}: compiled by another version?`);
  }

  const batch = loadRows(request.dataFile, compiledRowSpec(model));
  if (batch.rows === 0) fail('BAD_DATA', `${request.dataFile} has no rows`);
  const spec = rowSpecOf(graph);
  const reference = predictReference(graph, spec, batch);
  const input = batchTensor(batch, { ...spec, fixedBatch: null });
  const trees = exact.kind === 'trees' ? analyseTrees(exact, model, input) : null;
  const bodyRows = split === null ? [] : runPrologue(split, input);
  const referenceBody = split === null ? trees!.referenceBody : runBody({ ...split, body }, bodyRows);
  const simulated = await predictCompiled(model, batch, simulateBackend(model));
  const labels = request.labelsFile ? loadLabels(request.labelsFile) : null;

  const fitted = new Map(activations.map((stage, k) => [stage, model.approximations[k]!.range] as const));
  const coverage = rangeCoverage(body, bodyRows, fitted);
  const approximations = model.approximations.map((a, k): ApproximationReport => {
    const calibrated = model.calibration.ranges.find((r) => r.stage === a.stage);
    const observed = calibrated?.observed ?? a.range;
    const contained = observed[0] >= a.range[0] && observed[1] <= a.range[1];
    const c = coverage[k]!;
    return {
      stage: activations[k]!,
      ...approximationSummary(a, observed),
      chebyshev: [...a.chebyshev],
      outside: {
        calibration: { share: contained ? 0 : NaN, contained },
        data: { share: c.valueShare, values: c.valuesOutside, rowShare: c.rowShare, worstExcess: c.worstExcess },
      },
    };
  });

  const chainFacts = circuitFacts(model, body);
  const facts = trees ? { ...chainFacts, depth: treeDepth(model, trees.report, trees.source) } : chainFacts;
  const fhe = request.fhe
    ? await fheSection(model, batch, { reference, referenceBody, simulated: simulated.outputs, simulatedBody: simulated.run.bodyOutputs, labels }, request.fheProgress, request.fheBackend, request.fheKeygenProgress)
    : undefined;
  return {
    model: {
      name: model.source.name,
      sourceFile: model.source.sourceFile,
      sha256: model.source.sha256,
      modelHash: model.modelHash,
      toolVersion: model.toolVersion,
      options: model.options,
    },
    compiledDir: request.compiledDir,
    dataFile: request.dataFile,
    rows: batch.rows,
    chain: body.map((s, stage) => ({ stage, kind: s.kind, label: stageLabel(s), sources: s.sources })),
    prologue: model.client.prologue.map((n) => n.opType),
    epilogue: model.client.epilogue.map((n) => n.opType),
    approximations,
    quantization: model.quantization,
    parameters: { ...model.parameters, parameterId: facts.parameterId },
    circuit: facts,
    accuracy: compareRuns(reference, simulated.outputs, referenceBody, simulated.run.bodyOutputs, labels),
    ...(trees ? { trees: trees.report } : {}),
    ...(fhe ? { fhe } : {}),
  };
}
