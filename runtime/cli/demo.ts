import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { fail } from '../../compiler/errors';
import { importModel } from '../../compiler/onnx/import';
import { loadRows } from '../data/load-rows';
import { rowSpecOf } from '../data/row-spec';
import type { OutputEntry, RowOutputs } from '../outputs';
import { predictReference } from '../predict-reference';
import { formatEntry } from './format-values';
import { inspectModel, type InspectReport } from './inspect';
import { printJson } from './output';
import { readModelBytes } from './read-model';
import { textTable } from './text-table';

/** The bundled example models: models/<name>/{model.onnx, sample.json, README.md}. */
export const MODELS_DIR = fileURLToPath(new URL('../../models/', import.meta.url));

interface Sample {
  readonly description: string;
  readonly labelOutput: string;
  readonly labels: readonly (number | string)[];
}

export interface DemoModelResult {
  readonly name: string;
  readonly description: string;
  readonly summary: InspectReport;
  readonly rows: number;
  readonly outputs: RowOutputs;
  readonly labelOutput: string;
  readonly labels: readonly (number | string)[];
  readonly correct: number;
}

function readSample(file: string): Sample {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { description?: unknown; label_output?: unknown; labels?: unknown };
  if (typeof doc.label_output !== 'string' || !Array.isArray(doc.labels)) {
    fail('BAD_DATA', `${file}: a demo sample needs "label_output" (an output name) and "labels" (one per row)`);
  }
  return { description: typeof doc.description === 'string' ? doc.description : '', labelOutput: doc.label_output, labels: doc.labels as (number | string)[] };
}

export function bundledModels(dir = MODELS_DIR): string[] {
  if (!existsSync(dir)) fail('IO', `the bundled models folder ${dir} is missing`);
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'model.onnx')) && existsSync(join(dir, e.name, 'sample.json')))
    .map((e) => e.name)
    .sort();
}

export function runDemoModel(name: string, dir = MODELS_DIR): DemoModelResult {
  const modelFile = join(dir, name, 'model.onnx');
  const sampleFile = join(dir, name, 'sample.json');
  const sample = readSample(sampleFile);
  const graph = importModel(readModelBytes(modelFile), modelFile);
  const spec = rowSpecOf(graph);
  const batch = loadRows(sampleFile, spec);
  if (sample.labels.length !== batch.rows) fail('BAD_DATA', `${sampleFile}: ${sample.labels.length} labels for ${batch.rows} rows`);
  const outputs = predictReference(graph, spec, batch);
  const predicted = outputs[sample.labelOutput];
  if (!predicted) fail('BAD_DATA', `${sampleFile}: label_output "${sample.labelOutput}" is not an output of the model (${Object.keys(outputs).join(', ')})`);
  const correct = predicted.filter((p, i) => sameLabel(p, sample.labels[i]!)).length;
  return { name, description: sample.description, summary: inspectModel(modelFile), rows: batch.rows, outputs, labelOutput: sample.labelOutput, labels: sample.labels, correct };
}

function sameLabel(p: OutputEntry, label: number | string): boolean {
  return (typeof p === 'number' || typeof p === 'string') && String(p) === String(label);
}

export function formatDemoModel(r: DemoModelResult): string {
  const s = r.summary;
  const ops = s.operators.map((o) => `${o.op}${o.count > 1 ? ` ×${o.count}` : ''}`).join(', ');
  const others = Object.keys(r.outputs).filter((n) => n !== r.labelOutput);
  const rows = r.labels.map((label, i) => [
    String(i + 1),
    formatEntry(r.outputs[r.labelOutput]![i]!),
    String(label),
    ...others.map((n) => formatEntry(r.outputs[n]![i]!)),
  ]);
  return (
    `== ${r.name}: ${s.producer || 'unknown producer'}, ${s.parameters} parameters ==\n` +
    textTable(null, [
      ['inputs', s.inputs.map((v) => `${v.name} ${v.type}`).join('; ')],
      ['outputs', s.outputs.map((v) => `${v.name} ${v.type}`).join('; ')],
      ['operators', ops],
      ['data', r.description],
    ]) +
    '\n' +
    textTable(['row', 'predicted', 'true', ...others], rows) +
    `${r.correct}/${r.rows} predictions match the true labels\n`
  );
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the bundled example models (models/) on their sample rows with the float64 reference')
    .option('--json', 'print one JSON object')
    .action((opts: { json?: boolean }) => {
      const names = bundledModels();
      if (names.length === 0) fail('IO', `no bundled models in ${MODELS_DIR}`);
      if (!opts.json) {
        process.stdout.write(
          'DeepPowers demo: bundled models run by the float64 reference interpreter (plaintext).\n' +
            'The reference is the ground truth that encrypted (CKKS) runs will be checked against;\n' +
            'encrypted inference is not available in this version yet.\n\n',
        );
      }
      const results: DemoModelResult[] = [];
      for (const name of names) {
        const r = runDemoModel(name);
        results.push(r);
        if (!opts.json) process.stdout.write(`${formatDemoModel(r)}\n`);
      }
      if (opts.json) {
        printJson({
          mode: 'reference',
          models: results.map((r) => ({ name: r.name, rows: r.rows, outputs: r.outputs, label_output: r.labelOutput, labels: r.labels, correct: r.correct })),
        });
      }
    });
}
