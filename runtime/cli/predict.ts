import { Command, InvalidArgumentError, Option } from 'commander';
import { importModel } from '../../compiler/onnx/import';
import { loadRows } from '../data/load-rows';
import { rowSpecOf } from '../data/row-spec';
import type { RowOutputs } from '../outputs';
import { predictReference } from '../predict-reference';
import { formatEntry } from './format-values';
import { printJson } from './output';
import { readModelBytes } from './read-model';
import { textTable } from './text-table';

/** Modes this build can run; simulate and fhe arrive with the circuit compiler. */
export const MODES = ['reference'] as const;
export type Mode = (typeof MODES)[number];

/** The `--json` contract shared by every mode: outputs keyed by ONNX output name, one entry per row. */
export interface PredictResult {
  readonly model: string;
  readonly mode: Mode;
  readonly rows: number;
  readonly outputs: RowOutputs;
}

export function predictFile(modelFile: string, dataFile: string, mode: Mode): PredictResult {
  const graph = importModel(readModelBytes(modelFile), modelFile);
  const spec = rowSpecOf(graph);
  const batch = loadRows(dataFile, spec);
  return { model: modelFile, mode, rows: batch.rows, outputs: predictReference(graph, spec, batch) };
}

export function formatPredict(r: PredictResult): string {
  const names = Object.keys(r.outputs);
  const rows = Array.from({ length: r.rows }, (_, i) => [String(i + 1), ...names.map((n) => formatEntry(r.outputs[n]![i]!))]);
  return `${r.model}: ${r.rows} row${r.rows === 1 ? '' : 's'}, mode ${r.mode}\n` + textTable(['row', ...names], rows);
}

function parseMode(value: string): Mode {
  if ((MODES as readonly string[]).includes(value)) return value as Mode;
  if (value === 'simulate' || value === 'fhe') {
    throw new InvalidArgumentError(`mode "${value}" is not available yet; this version runs: ${MODES.join(', ')}`);
  }
  throw new InvalidArgumentError(`unknown mode "${value}"; choose one of: ${MODES.join(', ')}`);
}

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('run a model on the rows of a data file (JSON or CSV)')
    .argument('<model.onnx>', 'ONNX model file')
    .requiredOption('--data <file>', 'rows to predict: .json (array of rows) or .csv (numeric, optional header)')
    .addOption(new Option('--mode <mode>', `how to run the model (${MODES.join(', ')})`).default('reference').argParser(parseMode))
    .option('--json', 'print one JSON object: {model, mode, rows, outputs}')
    .action((file: string, opts: { data: string; mode: Mode; json?: boolean }) => {
      const result = predictFile(file, opts.data, opts.mode);
      if (opts.json) printJson(result);
      else process.stdout.write(formatPredict(result));
    });
}
