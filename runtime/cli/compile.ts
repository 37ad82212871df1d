import { copyFileSync } from 'node:fs';
import { activationLabel } from '../../compiler/activations/registry';
import { approximationSummary, type ApproximationSummary } from '../report/approximation-summary';
import { basename, join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { CompiledModel } from '../../compiler/artifact/types';
import { writeCompiledModel } from '../../compiler/artifact/files';
import { fail } from '../../compiler/errors';
import type { Graph } from '../../compiler/graph/graph';
import type { OpCounts } from '../../compiler/circuit/count';
import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import { startSteps } from './progress';
import { describeClientSteps } from '../../compiler/client-steps/table';
import { describeDishonestClient } from '../../compiler/client-steps/dishonest-client';
import { MASK_BITS } from '../../compiler/pipeline/refresh-plan';
import { compileModel, type Compilation, type CompileOptions, type CompileStep } from '../../compiler/pipeline/compile';
import type { TreeSummary } from '../../compiler/pipeline/compile-tree';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { batchTensor, describeBatch, loadRows, type RowBatch } from '../data/load-rows';
import { SOURCE_MODEL_FILE } from '../report/build-report';
import { rowSpecOf } from '../data/row-spec';
import { formatNumber } from '../format/values';
import { printJson } from './output';
import { readModelBytes } from './read-model';
import { textTable } from '../format/text-table';
import { describePromise, type PrecisionPromise } from '../../compiler/approx/precision-target';
import type { RotationKeys, RotationKeysRequest } from '../../compiler/circuit/rotation-keys';
import { REGRESSION_TOLERANCE } from '../../compiler/approx/degree-choice';
import { EXIT_CHECK_FAILED, ReportedFailure } from './report-error';
import { modelNameOf } from '../mcp/served-model';

// The compiled directory also keeps the ONNX file it came from (checked against the manifest's
// SHA-256 when read), so `report` can run the float64 reference next to the simulation.
export { SOURCE_MODEL_FILE };

export interface CompileCliOptions {
  readonly calibration: string;
  readonly output?: string;
  readonly layout: 'auto' | 'vector' | 'batch';
  readonly objective?: 'latency' | 'throughput';
  readonly refresh?: 'auto' | 'off';
  readonly maskBits?: number;
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
    readonly maskBits: number;
    readonly maskBound: number;
    /**
     * The max pools among the client steps (present only when there is one): each forces its
     * step whatever --refresh says; `clientSees` says how the max is computed and what the
     * client learns.
     */
    readonly maxPools?: readonly { readonly geometry: string; readonly sources: readonly string[] }[];
    readonly clientSees?: string;
    /** What a client that returns values of its own at the steps can learn (compiler/client-steps/dishonest-client.ts). */
    readonly dishonestClient: string;
  };
  readonly latencyMs: { readonly server: number; readonly client: number; readonly total: number };
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

function servedName(value: string): string {
  if (modelNameOf(value) !== value) throw new InvalidArgumentError(`"${value}" cannot name an MCP tool: use letters, digits, ".", "_" or "-" (e.g. "${modelNameOf(value)}")`);
  return value;
}

function featureNamesArgument(value: string): readonly string[] {
  return value.split(',').map((n) => n.trim());
}

export function defaultOutputDir(modelFile: string): string {
  return `${basename(modelFile).replace(/\.onnx$/i, '')}.compiled`;
}

/** Tool version recorded in manifests (package.json's). */
export type ToolVersion = string;

export function compileFile(modelFile: string, opts: CompileCliOptions, toolVersion: ToolVersion, progress?: (step: CompileStep) => void): { compilation: Compilation; model: CompiledModel; summary: CompileSummary } {
  if (opts.degree !== undefined && opts.maxError !== undefined) fail('BAD_ARGUMENT', 'give --degree or --max-error, not both');
  if (opts.minAgreement !== undefined && (opts.maxError !== undefined || typeof opts.degree === 'number')) {
    fail('BAD_ARGUMENT', '--min-agreement sets the target of --degree auto; it has no effect with --degree D or --max-error');
  }
  const bytes = readModelBytes(modelFile);
  let used: RowBatch | undefined;
  const calibration = (graph: Graph) => {
    const spec = rowSpecOf(graph);
    const batch = loadRows(opts.calibration, spec, 'calibration');
    if (batch.rows === 0) fail('BAD_DATA', `${opts.calibration}: the calibration data has no rows`);
    used = batch;
    return batchTensor(batch, { ...spec, fixedBatch: null });
  };
  const options: CompileOptions = {
    calibration,
    layout: opts.layout,
    ...(opts.objective !== undefined ? { objective: opts.objective } : {}),
    ...(opts.refresh !== undefined ? { refresh: opts.refresh } : {}),
    ...(opts.maskBits !== undefined ? { maskBits: opts.maskBits } : {}),
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
  const compilation = compileModel({ bytes, file: modelFile }, options, progress);
  const model = toCompiledModel(compilation, options, toolVersion);
  const outputDir = opts.output ?? defaultOutputDir(modelFile);
  writeCompiledModel(outputDir, model);
  try {
    copyFileSync(modelFile, join(outputDir, SOURCE_MODEL_FILE));
  } catch (e) {
    fail('IO', `cannot copy ${modelFile} into ${outputDir}: ${(e as Error).message}`);
  }
  if (used === undefined) throw new Error('compileModel returned without reading the calibration rows');
  return { compilation, model, summary: summarize(outputDir, compilation, model, used) };
}

function summarize(outputDir: string, c: Compilation, m: CompiledModel, calibration: RowBatch): CompileSummary {
  const p = m.parameters;
  // A cut body (--refresh auto, a max pool) runs every segment per evaluation: the summary adds
  // them up, as the report does, so its depth, ops and latency describe what a run costs.
  const segments = [{ circuit: m.circuit, cost: m.cost }, ...(m.refresh?.segments ?? [])];
  const { byLevel: _byLevel, rotationSteps: _steps, ...first } = m.cost.counts;
  const counts = { ...first };
  for (const s of segments.slice(1)) for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] += s.cost.counts[k];
  const sum = (f: (l: CompiledModel['cost']['latency']) => number): number => segments.reduce((t, s) => t + f(s.cost.latency), 0);
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
            maskBits: c.refresh.maskBits,
            maskBound: c.refresh.maskBound,
            dishonestClient: describeDishonestClient(m.refresh!),
            ...(c.refresh.steps.some((s) => s.kind === 'maxpool')
              ? {
                  maxPools: c.refresh.steps.flatMap((s) => (s.kind === 'maxpool' ? [{ geometry: s.pool.geometry, sources: s.pool.sources }] : [])),
                  clientSees: describeClientSteps(m.refresh!),
                }
              : {}),
          },
        }
      : {}),
    latencyMs: { server: sum((l) => l.serverMs), client: sum((l) => l.clientMs), total: sum((l) => l.totalMs) },
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

const range = (r: readonly [number, number]): string => `[${formatNumber(r[0], 4)}, ${formatNumber(r[1], 4)}]`;

export function formatCompile(s: CompileSummary): string {
  const p = s.parameters;
  const c = s.counts;
  let out = `compiled ${s.model} → ${s.outputDir} (model hash ${s.modelHash.slice(0, 16)})\n`;
  out += textTable(null, [
    ['calibration', describeBatch(s.calibration)],
    ['layout', `${s.layout} (${layoutReasonOf(s)}), ${s.samplesPerEvaluation} sample${s.samplesPerEvaluation === 1 ? '' : 's'} per evaluation`],
    ['CKKS', `N=${p.polyModulusDegree} (${p.slots} slots), depth ${s.depth}${s.refresh ? ` in ${s.refresh.segments.length} segments (${s.refresh.segments.map((x) => x.depth).join(' + ')})` : ''}, scale 2^${p.scaleBits}, modulus ${p.coeffModulusBits.join('+')} = ${p.totalBits} of ${p.maxBitCount} bits, ${p.securityBits}-bit security`],
    ['ops', `${c.rotations} rotations, ${c.ctCtMul} ct×ct, ${c.ctPtMul} ct×pt, ${c.rescales} rescales, ${c.relins} relins, ${c.modswitches} modswitches`],
    ['rotation steps', s.rotationSteps.length > 0 ? s.rotationSteps.join(', ') : 'none'],
    ['rotation keys', rotationKeysLine(s.rotationKeys)],
    ...(s.refresh ? [['refresh', refreshLine(s.refresh)]] : []),
    ...(s.refresh?.maxPools ? [['max pool', maxPoolLine(s.refresh)]] : []),
    ...(s.refresh ? [['client steps', s.refresh.dishonestClient]] : []),
    ['precision', precisionLine(s.precision)],
    ['estimated latency', `${formatNumber(s.latencyMs.total, 3)} ms per run${s.refresh ? `, all ${s.refresh.segments.length} segments` : ''} (server ${formatNumber(s.latencyMs.server, 3)} ms, client ${formatNumber(s.latencyMs.client, 3)} ms)`],
    ...(s.degreeChoice ? [['degree', degreeLine(s.degreeChoice)]] : []),
    ...(s.trees ? treeLines(s.trees) : []),
  ], '  ');
  for (const w of s.warnings) out += `warning: ${w}\n`;
  if (s.approximations.length > 0) {
    out += '\nactivations\n';
    out += textTable(
      ['function', 'calibrated', 'fitted on', 'degree', 'method', 'max error'],
      s.approximations.map((a) => [activationLabel(a), range(a.observedRange), range(a.range), String(a.degree), a.method, formatNumber(a.maxError, 3)]),
      '  ',
    );
  }
  return out;
}

/**
 * The layout is chosen on the uncut body; when the body was then cut, its figures are at the
 * uncut body's N, which the reason says, next to the N the segments run at.
 */
function layoutReasonOf(s: CompileSummary): string {
  if (!s.refresh) return s.layoutReason;
  return `${s.layoutReason}, compared on the uncut body; cut into ${s.refresh.segments.length} segments it runs at N=${s.parameters.polyModulusDegree}`;
}

function refreshLine(r: NonNullable<CompileSummary['refresh']>): string {
  const depths = r.segments.map((x) => x.depth).join(', ');
  const ms = r.segments.map((x) => formatNumber(x.latencyMs, 3)).join(' + ');
  const pools = r.maxPools?.length ?? 0;
  const refreshes = r.segments.length - 1 - pools;
  const masked = `the client decrypts values masked by ±2^${r.maskBits}·${formatNumber(r.maskBound, 3)} and encrypts them again`;
  if (pools === 0) return `${r.segments.length} segments (depths ${depths}; estimated ${ms} ms), a client round trip between each: ${masked}`;
  const steps = [`${pools} max pool${pools === 1 ? '' : 's'} (below)`, ...(refreshes > 0 ? [`${refreshes} refresh${refreshes === 1 ? '' : 'es'}, where ${masked}`] : [])];
  return `${r.segments.length} segments (depths ${depths}; estimated ${ms} ms), a client round trip between each: ${steps.join('; ')}`;
}

function maxPoolLine(r: NonNullable<CompileSummary['refresh']>): string {
  const pools = r.maxPools ?? [];
  const which = pools.map((p) => `${p.sources.join(', ')}: ${p.geometry}`).join('; ');
  return `${pools.length === 1 ? 'a MaxPool forces its' : `${pools.length} MaxPools force their`} client step (with --refresh off too) [${which}]. ${r.clientSees ?? ''}`;
}

function treeLines(t: TreeSummary): string[][] {
  const grid = `${t.nBits}-bit grid per feature${t.nBitsChosen ? ' (default: the fewest bits keeping every calibration row\'s leaves)' : ' (--n-bits)'}`;
  return [
    ['trees', `${t.trees} tree${t.trees === 1 ? '' : 's'}, depth ${t.depth}, ${t.branches} branches, ${t.leaves} leaves; ${t.columns} encrypted sum${t.columns === 1 ? '' : 's'} per sample`],
    ['encoding', `${t.bits} encrypted threshold bits per sample; thresholds on a ${grid}`],
    ['snap', `${t.movedThresholds} of ${t.branches} thresholds moved; ${t.calibrationRowsChanged} of ${t.calibrationRows} calibration rows reach another leaf`],
  ];
}

function rotationKeysLine(k: CompileSummary['rotationKeys']): string {
  const mb = (b: number) => `${formatNumber(b / 1e6, 3)} MB`;
  if (k.steps === 0) return `none (no rotations); about ${mb(k.keyBytes)} of evaluation keys`;
  const size = `${k.steps} step${k.steps === 1 ? '' : 's'}, about ${mb(k.keyBytes)} of evaluation keys`;
  if (k.mode === 'all') return `${size} (a key for every step)`;
  const why = k.allSteps ? `auto: a key for each of ${k.allSteps.steps} steps would take ${mb(k.allSteps.keyBytes)}` : '--rotation-keys powers-of-two';
  return `${size}: rotations by powers of two (${why})`;
}

function degreeLine(d: NonNullable<CompileSummary['degreeChoice']>): string {
  const tried = d.tried.map((t) => `${t.degree} → error ${formatNumber(t.maxError, 3)}, ${(t.agreement * 100).toFixed(1)}%`).join('; ');
  const agreement = d.comparison === 'relative-error' ? `rows within ${REGRESSION_TOLERANCE * 100}% of max(1, |y|)` : `${d.comparison} agreement`;
  const target = `error ≤ ${formatNumber(d.target.maxError, 3)} and ${agreement} ≥ ${d.target.minAgreement * 100}%`;
  return `auto: ${d.degree}, ${d.reached ? 'the smallest 2^k−1 with' : 'the best; none reached'} ${target} on ${d.rows} calibration rows (${tried})`;
}

/** The promise and its two parts, e.g. "≤ 1% of the output range [...] (0.38): approximation 0.21 + CKKS noise ≤ 0.01". */
export function precisionLine(p: PrecisionPromise): string {
  const parts = `approximation ${formatNumber(p.approximationError, 3)} + CKKS noise ≤ ${formatNumber(p.noiseBound, 3)}`;
  return `${describePromise(p)}: ${parts}${p.reached ? '' : ' — NOT MET'}`;
}

function positive(name: string, integer: boolean): (v: string) => number {
  return (v) => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || x <= 0 || (integer && !Number.isInteger(x))) {
      throw new InvalidArgumentError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got "${v}"`);
    }
    return x;
  };
}

function degreeArgument(v: string): number | 'auto' {
  if (v === 'auto') return 'auto';
  const x = Number(v);
  if (v.trim() === '' || !Number.isInteger(x) || x <= 0) throw new InvalidArgumentError(`--degree must be auto or a positive integer, got "${v}"`);
  return x;
}

function precisionArgument(v: string): number {
  const percent = v.trim().endsWith('%');
  const x = Number(percent ? v.trim().slice(0, -1) : v);
  const p = percent ? x / 100 : x;
  if (v.trim() === '' || !(p > 0 && p < 1)) throw new InvalidArgumentError(`--precision must be a share of the output range in (0, 1) such as 0.01 or 1%, got "${v}"`);
  return p;
}

function share(name: string): (v: string) => number {
  return (v) => {
    const x = Number(v);
    if (v.trim() === '' || !(x > 0 && x <= 1)) throw new InvalidArgumentError(`${name} must be a number in (0, 1], got "${v}"`);
    return x;
  };
}

export function registerCompile(program: Command, toolVersion: ToolVersion): void {
  program
    .command('compile')
    .description('compile an ONNX model to a CKKS circuit (a directory with manifest.json, constants.bin and the source model)')
    .argument('<model.onnx>', 'ONNX model file')
    .requiredOption('--calibration <file>', 'calibration rows (JSON or CSV) that set the activation ranges')
    .option('-o, --output <dir>', 'output directory (default: <model>.compiled in the current directory)')
    .addOption(new Option('--layout <layout>', 'slot layout: auto picks the better estimate for --objective').choices(['auto', 'vector', 'batch']).default('auto'))
    .addOption(
      new Option('--objective <objective>', 'latency (default): one row per vector-layout ciphertext, auto picks the faster prediction; throughput: as many rows per ciphertext as the slots hold, auto picks more rows per second').choices(['latency', 'throughput']),
    )
    .addOption(
      new Option('--rotation-keys <mode>', 'auto (default): powers of two when a Galois key for every rotation step would make the evaluation keys larger than 192 MiB; all: a key per step (fewest rotations); powers-of-two: keys for powers of two only (a rotation by k takes one per set bit)').choices(['auto', 'all', 'powers-of-two']),
    )
    .addOption(
      new Option('--refresh <mode>', 'off (default): one circuit; auto: cut the body where a client round trip (masked decrypt, re-encrypt at the top level) gives a smaller N').choices(['auto', 'off']),
    )
    .option(
      '--mask-bits <sigma>',
      `client steps (--refresh auto, max pools): the masks hide each value within 2^-sigma statistical distance, at a cost of sigma bits of float64 precision per step (default ${MASK_BITS}; the precision row says whether the promise still holds, as simulation rounds; SEAL rounds more: check with predict --mode fhe)`,
      positive('--mask-bits', true),
    )
    .option('--degree <d>', 'polynomial degree for every activation, or auto (default): the smallest 2^k−1 meeting --precision and keeping the calibration rows\' predictions', degreeArgument)
    .option('--max-error <e>', 'instead of --degree: smallest 2^k−1 degree with at most this error on the range', positive('--max-error', false))
    .option('--precision <p>', 'promised bound on the encrypted error of the body outputs, as a share of their calibrated range (default 0.01 = 1%)', precisionArgument)
    .option('--min-agreement <a>', 'for --degree auto: share of calibration rows whose class the approximated chain must keep (a regression: rows within 1% of max(1, |y|)) (default 0.999)', share('--min-agreement'))
    .addOption(new Option('--method <method>', 'approximation method (default: remez, a minimax fit, with --degree auto; chebyshev interpolation with --degree D or --max-error)').choices(['chebyshev', 'remez', 'square']))
    .option('--margin <m>', 'widen calibrated ranges to centre ± m·half-width (default 1.5; at least 1)', positive('--margin', false))
    .option('--n-bits <n>', 'quantize weights to n bits (symmetric, per output channel); for a tree ensemble, the bits of the threshold grid (default: the fewest keeping every calibration row\'s leaves)', positive('--n-bits', true))
    .option('--scale-bits <b>', 'force the CKKS scale to 2^b', positive('--scale-bits', true))
    .option('--name <name>', 'the name it is served under (tool predict_<name>; letters, digits, . _ -); default: the output directory\'s name without .compiled', servedName)
    .option('--description <text>', 'what the model does, in words: shown to MCP hosts in the tool description, list_models and the model card')
    .option('--feature-names <a,b,…>', 'one name per input feature, in order, comma-separated (rows may then be given as {name: value}); listed to MCP hosts', featureNamesArgument)
    .option('--json', 'print a JSON summary')
    .action((file: string, opts: CompileCliOptions) => {
      const reporter = startSteps('compiling');
      let summary: CompileSummary;
      try {
        summary = compileFile(file, opts, toolVersion, reporter.step).summary;
      } finally {
        reporter.done();
      }
      if (opts.json) {
        // The JSON carries the warnings; stderr says them to a person, stdout stays one object.
        for (const w of summary.warnings) process.stderr.write(`warning: ${w}\n`);
        printJson(summary);
      } else {
        process.stdout.write(formatCompile(summary));
      }
      // Written, but not what was asked for: the exit status says so to scripts.
      if (!summary.precision.reached) throw new ReportedFailure(EXIT_CHECK_FAILED);
    });
}
