import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import type { CompiledModel } from '../../compiler/artifact/types';
import type { Circuit } from '../../compiler/circuit/ir';
import type { CkksParameters } from '../../compiler/params/types';
import { fail } from '../../compiler/errors';
import { applyStages } from '../../compiler/chain/run';
import { describeMeasured, measuredRelativeError, type PrecisionPromise } from '../../compiler/approx/precision-target';
import { importModel } from '../../compiler/onnx/import';
import { compileModel, type Compilation } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { simulateSamples } from '../backends/simulate';
import { batchTensor, loadRows, type RowBatch } from '../data/load-rows';
import { rowSpecOf } from '../data/row-spec';
import type { OutputEntry, RowOutputs } from '../run/outputs';
import { predictReference } from '../run/predict-reference';
import type { FheBackend } from '../backends/backend';
import { predictEncrypted } from '../run/predict-encrypted';
import { sealOnThreads } from '../backends/workers/seal-on-threads';
import { parseThreads, THREADS_HELP } from './threads';
import type { EncryptedRun } from '../run/run-encrypted';
import { formatEntry } from '../format/values';
import { printJson } from './output';
import { readModelBytes } from '../app/read-model';
import { startProgress } from './progress';
import { textTable } from '../format/text-table';

/**
 * `npm start`: the bundled example models (models/<name>/{model.onnx, calibration.json,
 * sample.json}) compiled to CKKS circuits and run encrypted — keys made by the client, rows
 * encrypted, evaluated by the server on ciphertexts only, decrypted — next to the plaintext
 * model (the float64 reference interpreter on the ONNX file) and the true labels.
 */
export const MODELS_DIR = fileURLToPath(new URL('../../models/', import.meta.url));
const TOOL_VERSION = 'demo';

interface Sample {
  readonly description: string;
  readonly labelOutput: string;
  readonly labels: readonly (number | string)[];
}

/** The compiled model as the demo describes it: fields of its parameters and circuit, and the compiler's choices. */
export interface DemoSummary extends Pick<CkksParameters, 'coeffModulusBits' | 'securityBits'>, Pick<Circuit, 'depth' | 'rotationSteps'> {
  readonly layout: string;
  readonly layoutReason: string;
  /** N: CkksParameters.polyModulusDegree. */
  readonly n: number;
  /** Rotations in one evaluation (the op counts of compiler/circuit/count.ts). */
  readonly rotations: number;
  readonly activations: readonly string[];
  readonly predictedServerMs: number;
}

export interface DemoModelResult {
  readonly name: string;
  readonly description: string;
  readonly rows: number;
  readonly labelOutput: string;
  readonly labels: readonly (number | string)[];
  /** Decrypted and post-processed on the client: the encrypted prediction. */
  readonly outputs: RowOutputs;
  /** The plaintext model (float64 reference interpreter on the ONNX file). */
  readonly referenceOutputs: RowOutputs;
  /** Encrypted predictions equal to the true labels. */
  readonly correct: number;
  /** Encrypted predictions equal to the plaintext model's. */
  readonly agreement: number;
  /** Largest |decrypted − simulated| body output (logits): the CKKS noise. */
  readonly maxErrorVsSimulate: number;
  /** What the compiled model promises on its body outputs' error. */
  readonly precision: PrecisionPromise;
  /** Largest |decrypted − exact float64 body| output, as a share of the calibrated output range. */
  readonly measuredRelativeError: number;
  readonly summary: DemoSummary;
  readonly run: EncryptedRun;
}

function readSample(file: string): Sample {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { description?: unknown; label_output?: unknown; labels?: unknown };
  if (typeof doc.label_output !== 'string' || !Array.isArray(doc.labels)) {
    fail('BAD_DATA', `${file}: a demo sample needs "label_output" (an output name) and "labels" (one per row)`);
  }
  return { description: typeof doc.description === 'string' ? doc.description : '', labelOutput: doc.label_output, labels: doc.labels as (number | string)[] };
}

const DEMO_FILES = ['model.onnx', 'sample.json', 'calibration.json'];

export function bundledModels(dir = MODELS_DIR): string[] {
  if (!existsSync(dir)) fail('IO', `the bundled models folder ${dir} is missing`);
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && DEMO_FILES.every((f) => existsSync(join(dir, e.name, f))))
    .map((e) => e.name)
    .sort();
}

function firstRows(batch: RowBatch, rows: number): RowBatch {
  const n = Math.min(rows, batch.rows);
  const size = batch.values.length / batch.rows;
  return { ...batch, rows: n, values: batch.values.slice(0, n * size) };
}

function summaryOf(compilation: Compilation, model: CompiledModel): DemoSummary {
  const { build } = compilation;
  return {
    layout: build.layout,
    layoutReason: compilation.layoutReason,
    n: model.parameters.polyModulusDegree,
    coeffModulusBits: model.parameters.coeffModulusBits,
    securityBits: model.parameters.securityBits,
    depth: model.circuit.depth,
    rotations: build.counts.rotations,
    rotationSteps: model.circuit.rotationSteps,
    activations: compilation.approximations.map((a) => `${a.fn} ≈ degree-${a.degree} ${a.method} on [${a.range.map((x) => x.toFixed(1)).join(', ')}]`),
    predictedServerMs: build.latency.serverMs,
  };
}

export async function runDemoModel(name: string, rows: number, log: (line: string) => void, dir = MODELS_DIR, backend?: FheBackend): Promise<DemoModelResult> {
  const modelFile = join(dir, name, 'model.onnx');
  const sampleFile = join(dir, name, 'sample.json');
  const sample = readSample(sampleFile);
  const graph = importModel(readModelBytes(modelFile), modelFile);
  const spec = rowSpecOf(graph);
  const all = loadRows(sampleFile, spec);
  if (sample.labels.length !== all.rows) fail('BAD_DATA', `${sampleFile}: ${sample.labels.length} labels for ${all.rows} rows`);
  const batch = firstRows(all, rows);
  const labels = sample.labels.slice(0, batch.rows);

  log(`${name}: compiling with ${join(name, 'calibration.json')}…`);
  const calibration = loadRows(join(dir, name, 'calibration.json'), spec);
  const options = { calibration: batchTensor(calibration, spec) };
  const compilation = compileModel(modelFile, options);
  const model = toCompiledModel(compilation, options, TOOL_VERSION);
  log(`${name}: layout ${model.circuit.layout}, N=${model.parameters.polyModulusDegree}; generating keys, encrypting ${batch.rows} rows, evaluating on ciphertexts…`);

  const { run, outputs, encrypted } = await predictEncrypted(model, batch, {
    keygenProgress: (n) => startProgress(`${name}: keygen N=${model.parameters.polyModulusDegree}`, n),
    progress: (n) => startProgress(`${name}: encrypted evaluations`, n),
    ...(backend ? { backend } : {}),
  });

  const referenceOutputs = predictReference(graph, spec, batch);
  const predicted = outputs[sample.labelOutput];
  const reference = referenceOutputs[sample.labelOutput];
  if (!predicted || !reference) fail('BAD_DATA', `${sampleFile}: label_output "${sample.labelOutput}" is not an output of the model (${Object.keys(outputs).join(', ')})`);
  const simulated = simulateSamples(model.circuit, run.bodyInputs);
  let maxError = 0;
  run.bodyOutputs.forEach((row, s) => row.forEach((v, i) => (maxError = Math.max(maxError, Math.abs(v - simulated[s]![i]!)))));
  const exact = run.bodyInputs.map((x) => applyStages(compilation.split.body, x));
  return {
    name,
    description: sample.description,
    rows: batch.rows,
    labelOutput: sample.labelOutput,
    labels,
    outputs,
    referenceOutputs,
    correct: predicted.filter((p, i) => sameLabel(p, labels[i]!)).length,
    agreement: predicted.filter((p, i) => sameLabel(p, reference[i]!)).length,
    maxErrorVsSimulate: maxError,
    precision: compilation.precision,
    measuredRelativeError: measuredRelativeError(compilation.precision, exact, run.bodyOutputs),
    summary: summaryOf(compilation, model),
    run: encrypted,
  };
}

function sameLabel(p: OutputEntry, label: OutputEntry): boolean {
  return (typeof p === 'number' || typeof p === 'string') && (typeof label === 'number' || typeof label === 'string') && String(p) === String(label);
}

const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const bytes = (v: number): string => (v >= 1e6 ? `${(v / 1e6).toFixed(1)} MB` : `${(v / 1e3).toFixed(1)} kB`);

export function formatDemoModel(r: DemoModelResult): string {
  const s = r.summary;
  const t = r.run.timings;
  const z = r.run.sizes;
  const perEval = (v: number) => ms(v / r.run.evaluations);
  const unit = r.run.samplesPerEvaluation === 1 ? 'row' : 'batch';
  const rows = r.labels.map((label, i) => [String(i + 1), formatEntry(r.outputs[r.labelOutput]![i]!), formatEntry(r.referenceOutputs[r.labelOutput]![i]!), String(label)]);
  return (
    // The sample's description counts all its rows; the demo runs the first --rows of them.
    `== ${r.name}: ${r.rows} of the ${r.description} ==\n` +
    textTable(null, [
      ['circuit', `${s.layout} layout (${s.layoutReason}), depth ${s.depth}, ${s.rotations} rotations${s.rotationSteps.length ? ` (steps ${s.rotationSteps.join(', ')})` : ''}`],
      ['CKKS', `N = ${s.n}, modulus chain [${s.coeffModulusBits.join(', ')}] bits, ${s.securityBits}-bit security`],
      ...(s.activations.length ? [['activations', s.activations.join('; ')]] : []),
      ['keys', `secret key stays on the client; evaluation keys ${bytes(z.eval_key_bytes)} (relin ${bytes(z.relin_key_bytes)}, Galois ${bytes(z.galois_key_bytes)}), made in ${ms(t.keygen_ms)} ms`],
      ['client', `encrypt ${perEval(t.encrypt_ms)} ms/${unit}, decrypt ${perEval(t.decrypt_ms)} ms/${unit}; ciphertexts ${bytes(z.ciphertext_bytes_in / r.run.evaluations)} up, ${bytes(z.ciphertext_bytes_out / r.run.evaluations)} down per ${unit}`],
      ['server', `${perEval(t.evaluate_ms)} ms/${unit} on ciphertexts (cost model: ${ms(s.predictedServerMs)} ms), evaluation keys loaded in ${ms(t.key_load_ms)} ms`],
      ['precision', `encrypted error on the body outputs ${describeMeasured(r.precision, r.measuredRelativeError)}`],
    ]) +
    '\n' +
    textTable(['row', 'encrypted', 'plaintext', 'true'], rows) +
    `${r.agreement}/${r.rows} encrypted predictions equal the plaintext model's, ${r.correct}/${r.rows} equal the true labels; ` +
    `largest CKKS error on the ${r.run.layout === 'vector' ? 'logits' : 'outputs'}: ${r.maxErrorVsSimulate.toExponential(1)}\n`
  );
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--rows must be a positive integer, got "${v}"`);
  return n;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the bundled example models (models/), compiled and run encrypted: keys, encryption, evaluation on ciphertexts, decryption, next to the plaintext model')
    .option('--model <name>', 'run one bundled model only')
    .option('--rows <n>', 'sample rows per model', positiveInt, 4)
    .option('--threads <n>', THREADS_HELP, parseThreads)
    .option('--json', 'print one JSON object')
    .action(async (opts: { model?: string; rows: number; threads?: number; json?: boolean }) => {
      const available = bundledModels();
      if (available.length === 0) fail('IO', `no bundled models in ${MODELS_DIR}`);
      if (opts.model !== undefined && !available.includes(opts.model)) fail('BAD_ARGUMENT', `no bundled model "${opts.model}" (bundled: ${available.join(', ')})`);
      const names = opts.model !== undefined ? [opts.model] : available;
      const log = (line: string) => process.stderr.write(`${line}\n`);
      if (!opts.json) {
        process.stdout.write(
          'DeepPowers demo: each bundled model is compiled to a CKKS circuit; the client makes keys and encrypts a few rows,\n' +
            'the server evaluates on ciphertexts with evaluation keys only, the client decrypts. "plaintext" is the original\n' +
            'ONNX model run unencrypted (float64 reference interpreter).\n\n',
        );
      }
      // One backend for every model, so worker threads load node-seal once; never more threads
      // than a model has rows (a model has at most one evaluation per row).
      const backend = sealOnThreads(opts.threads, opts.rows);
      const threads = backend.concurrency;
      const results: DemoModelResult[] = [];
      for (const name of names) {
        const r = await runDemoModel(name, opts.rows, log, MODELS_DIR, backend);
        results.push(r);
        if (!opts.json) process.stdout.write(`${formatDemoModel(r)}\n`);
      }
      if (opts.json) {
        printJson({
          mode: 'fhe',
          threads,
          models: results.map((r) => ({
            name: r.name,
            rows: r.rows,
            label_output: r.labelOutput,
            labels: r.labels,
            outputs: r.outputs,
            reference_outputs: r.referenceOutputs,
            correct: r.correct,
            agreement: r.agreement,
            max_error_vs_simulate: r.maxErrorVsSimulate,
            precision: r.precision,
            measured_relative_error: r.measuredRelativeError,
            summary: r.summary,
            timings: { ...r.run.timings, per_evaluation: undefined },
            sizes: r.run.sizes,
          })),
        });
      }
    });
}
