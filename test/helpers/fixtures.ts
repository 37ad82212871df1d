/**
 * Test fixtures: real skl2onnx / torch.onnx.export models with their data (test/fixtures/<name>/
 * model.onnx + data.json + README.md). One loader for every suite that needs them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { numeric, type NumericTensor } from '../../compiler/graph/tensor';

export const FIXTURES_DIR = join(import.meta.dirname, '..', 'fixtures');

/** How one ONNX output is checked against one `expected` field. */
export interface FixtureCompare {
  readonly output: string;
  readonly expected: string;
  readonly kind: 'exact' | 'close';
}

/** The parts of data.json the tests read; the file holds more (metrics, source versions). */
export interface FixtureData {
  readonly name: string;
  readonly task: string;
  readonly input_name: string;
  readonly input_dtype: string;
  /** Shape of one row, without the batch dimension. */
  readonly input_shape: readonly number[];
  readonly feature_count: number;
  readonly calibration: readonly Row[];
  readonly test_inputs: readonly Row[];
  readonly test_labels: readonly (number | string)[];
  /** Framework outputs on exactly `test_inputs`, keyed by field name. */
  readonly expected: Readonly<Record<string, readonly ExpectedEntry[]>>;
  readonly compare: readonly FixtureCompare[];
  readonly output_names: readonly string[];
  readonly onnx_model: { readonly operators: readonly string[]; readonly opset_import: Readonly<Record<string, number>> };
}

/** A row is flat or nested in the input shape. */
export type Row = number | readonly Row[];
export type ExpectedEntry = number | string | readonly ExpectedEntry[];

export interface Fixture {
  readonly name: string;
  readonly dir: string;
  readonly modelPath: string;
  readonly data: FixtureData;
}

/** Names of the fixture folders (those holding a model.onnx and a data.json), sorted. */
export function listFixtures(): string[] {
  if (!existsSync(FIXTURES_DIR)) return [];
  return readdirSync(FIXTURES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(FIXTURES_DIR, e.name, 'model.onnx')) && existsSync(join(FIXTURES_DIR, e.name, 'data.json')))
    .map((e) => e.name)
    .sort();
}

const loaded = new Map<string, Fixture>();

export function loadFixture(name: string): Fixture {
  let f = loaded.get(name);
  if (!f) {
    const dir = join(FIXTURES_DIR, name);
    const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')) as FixtureData;
    f = { name, dir, modelPath: join(dir, 'model.onnx'), data };
    loaded.set(name, f);
  }
  return f;
}

function flatten(row: Row, out: number[]): void {
  if (typeof row === 'number') out.push(row);
  else for (const r of row) flatten(r, out);
}

/**
 * The float32 input tensor [rows, ...input_shape] for some rows of a fixture, with values rounded
 * to float32 as onnxruntime sees them.
 */
export function inputTensor(data: FixtureData, rows: readonly Row[]): NumericTensor {
  const rowSize = data.input_shape.reduce((a, b) => a * b, 1);
  const flat: number[] = [];
  rows.forEach((row, i) => {
    const before = flat.length;
    flatten(row, flat);
    if (flat.length - before !== rowSize) throw new Error(`${data.name}: row ${i} has ${flat.length - before} values, expected ${rowSize}`);
  });
  return numeric('float32', [rows.length, ...data.input_shape], Float32Array.from(flat));
}

/** The same rows as a Float32Array, for onnxruntime-node tensors. */
export function inputFloat32(data: FixtureData, rows: readonly Row[]): Float32Array {
  return Float32Array.from(inputTensor(data, rows).data);
}

/** The framework's accuracy on the first `rows` test rows: its own predicted labels (expected.label) against the true ones. */
export function frameworkAccuracy(data: FixtureData, rows = data.test_labels.length): number {
  const predicted = data.expected['label'];
  if (!predicted) throw new Error(`${data.name}: data.json has no expected.label`);
  return predicted.slice(0, rows).filter((l, i) => l === data.test_labels[i]).length / rows;
}
