import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from '../../compiler/errors';
import type { Graph } from '../../compiler/graph/graph';
import type { NumericTensor } from '../../compiler/graph/tensor';
import { importModel } from '../../compiler/onnx/import';
import { flattenRow } from '../data/flatten-row';
import { batchTensor } from '../data/load-rows';
import { rowSpecOf, type RowSpec } from '../data/row-spec';

/**
 * The models the benchmark runs: the public fixtures, test/fixtures/<name>/{model.onnx, data.json}
 * (real skl2onnx and torch exports with their calibration and held-out rows), and the benchmark's
 * own models in bench/models (made by scripts/make-bench-models.ts, the same format) for sizes no
 * fixture has. Which of them compile is the compiler's to say: the bench records its refusals
 * rather than guessing from names.
 */
export const FIXTURES_DIR = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
export const BENCH_MODELS_DIR = fileURLToPath(new URL('../../bench/models/', import.meta.url));
export const BENCH_DIRS: readonly string[] = [FIXTURES_DIR, BENCH_MODELS_DIR];

export interface BenchFixture {
  readonly name: string;
  readonly modelPath: string;
  readonly graph: Graph;
  readonly spec: RowSpec;
  readonly calibration: NumericTensor;
  /** Held-out rows as the model's input tensor. */
  readonly test: NumericTensor;
  readonly testRows: number;
}

function modelNamesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'model.onnx')) && existsSync(join(dir, e.name, 'data.json')))
    .map((e) => e.name);
}

export function benchFixtureNames(dirs: readonly string[] = BENCH_DIRS): string[] {
  if (!existsSync(dirs[0]!)) fail('IO', `the fixtures folder ${dirs[0]} is missing`);
  return dirs.flatMap(modelNamesIn).sort();
}

export function loadBenchFixture(name: string, dirs: readonly string[] = BENCH_DIRS): BenchFixture {
  const dir = dirs.find((d) => existsSync(join(d, name, 'model.onnx')) && existsSync(join(d, name, 'data.json')));
  if (dir === undefined) fail('BAD_ARGUMENT', `no fixture "${name}" in ${dirs.join(' or ')} (known: ${benchFixtureNames(dirs).join(', ')})`);
  const modelPath = join(dir, name, 'model.onnx');
  const dataPath = join(dir, name, 'data.json');
  const graph = importModel(readFileSync(modelPath), modelPath);
  const spec = rowSpecOf(graph);
  const data = JSON.parse(readFileSync(dataPath, 'utf8')) as { calibration?: unknown; test_inputs?: unknown };
  const calibration = rowsTensor(data.calibration, spec, `${dataPath} calibration`);
  const test = rowsTensor(data.test_inputs, spec, `${dataPath} test_inputs`);
  return { name, modelPath, graph, spec, calibration, test, testRows: test.shape[0]! };
}

/** JSON rows (flat or nested in the input shape) as the model's input tensor, rounded to its dtype. */
export function rowsTensor(rows: unknown, spec: RowSpec, where: string): NumericTensor {
  if (!Array.isArray(rows) || rows.length === 0) fail('BAD_DATA', `${where}: expected a non-empty array of rows`);
  const size = spec.rowShape.reduce((a, b) => a * b, 1);
  const values = new Float64Array(rows.length * size);
  rows.forEach((row, i) => values.set(flattenRow(row, spec.rowShape, `${where}: row ${i + 1}`, spec.inputName), i * size));
  return batchTensor({ file: where, rows: rows.length, rowShape: spec.rowShape, values }, spec);
}
