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

/** The input element types the fixtures use: float32 features, or int64 token ids (the text transformer). */
function inputDType(data: FixtureData): 'float32' | 'int64' {
  if (data.input_dtype === 'float32' || data.input_dtype === 'int64') return data.input_dtype;
  throw new Error(`${data.name}: input_dtype ${data.input_dtype} is not one the fixture helpers read`);
}

/**
 * The input tensor [rows, ...input_shape] for some rows of a fixture, in its input_dtype: float32
 * values rounded as onnxruntime sees them, or int64 token ids.
 */
export function inputTensor(data: FixtureData, rows: readonly Row[]): NumericTensor {
  const rowSize = data.input_shape.reduce((a, b) => a * b, 1);
  const flat: number[] = [];
  rows.forEach((row, i) => {
    const before = flat.length;
    flatten(row, flat);
    if (flat.length - before !== rowSize) throw new Error(`${data.name}: row ${i} has ${flat.length - before} values, expected ${rowSize}`);
  });
  const dtype = inputDType(data);
  if (dtype === 'int64' && flat.some((v) => !Number.isSafeInteger(v))) throw new Error(`${data.name}: an int64 row holds a non-integer`);
  return numeric(dtype, [rows.length, ...data.input_shape], dtype === 'float32' ? Float32Array.from(flat) : flat);
}

/** The same rows as a Float32Array, for onnxruntime-node tensors of float32 fixtures. */
export function inputFloat32(data: FixtureData, rows: readonly Row[]): Float32Array {
  if (inputDType(data) !== 'float32') throw new Error(`${data.name}: the input is ${data.input_dtype}, not float32 (use ortInput)`);
  return Float32Array.from(inputTensor(data, rows).data);
}

/** The same rows as onnxruntime-node tensor arguments, in the fixture's input_dtype. */
export function ortInput(data: FixtureData, rows: readonly Row[]): { type: 'float32'; data: Float32Array; dims: number[] } | { type: 'int64'; data: BigInt64Array; dims: number[] } {
  const t = inputTensor(data, rows);
  const dims = [...t.shape];
  return t.dtype === 'int64' ? { type: 'int64', data: BigInt64Array.from(t.data, (v) => BigInt(v)), dims } : { type: 'float32', data: Float32Array.from(t.data), dims };
}

/** The framework's accuracy on the first `rows` test rows: its own predicted labels (expected.label) against the true ones. */
export function frameworkAccuracy(data: FixtureData, rows = data.test_labels.length): number {
  const predicted = data.expected['label'];
  if (!predicted) throw new Error(`${data.name}: data.json has no expected.label`);
  return predicted.slice(0, rows).filter((l, i) => l === data.test_labels[i]).length / rows;
}
