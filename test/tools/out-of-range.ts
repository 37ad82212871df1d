/**
 * How many held-out test rows of each fixture fall outside the calibrated input range (widened by
 * the margin), and what `--out-of-range` does to the agreement with the framework's own outputs:
 * each fixture compiled as `deeppowers compile` does by default (its calibration rows, layout
 * auto), its test rows run in simulation as given (`allow`) and clamped (`clamp`, the default).
 *
 *   npx tsx test/tools/out-of-range.ts [fixture…]
 *
 * Agreement is the suites' rule (test/helpers/agreement.ts), the lowest over a fixture's compared
 * outputs. Fixtures the compiler refuses are listed with the reason. Prints a Markdown table.
 */
import type { CompiledModel } from '../../compiler/artifact/types';
import { DeepPowersError } from '../../compiler/errors';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { applyRangePolicy, type OutOfRangePolicy } from '../../runtime/data/input-range';
import { batchTensor, type RowBatch } from '../../runtime/data/load-rows';
import { compiledRowSpec, runCompiled, simulateBackend } from '../../runtime/run-compiled';
import { agreement } from '../helpers/agreement';
import { inputTensor, listFixtures, loadFixture, type Fixture, type Row } from '../helpers/fixtures';

function flat(row: Row, out: number[]): void {
  if (typeof row === 'number') out.push(row);
  else for (const r of row) flat(r, out);
}

function compiled(f: Fixture): CompiledModel | string {
  const options: CompileOptions = { calibration: inputTensor(f.data, f.data.calibration), layout: 'auto' };
  try {
    return toCompiledModel(compileModel(f.modelPath, options), options, 'out-of-range');
  } catch (e) {
    if (e instanceof DeepPowersError) return e.message.split(':')[0]!.slice(0, 80);
    throw e;
  }
}

async function agreementUnder(f: Fixture, model: CompiledModel, given: RowBatch, policy: OutOfRangePolicy): Promise<number> {
  const { input, calibration } = model;
  const calibrated = calibration.input === null ? null : { range: calibration.input, margin: calibration.margin };
  const { batch } = applyRangePolicy({ calibrated, featureNames: input.featureNames, shape: input.shape }, given, policy);
  const run = await runCompiled(model, batchTensor(batch, compiledRowSpec(model)), simulateBackend(model));
  return Math.min(...f.data.compare.map((c) => agreement(f, c.output, c.expected, c.kind, run.values)));
}

const pct = (x: number): string => `${(100 * x).toFixed(x === 1 ? 0 : 1)}%`;

const names = process.argv.slice(2);
const rows: string[] = [];
for (const name of names.length > 0 ? names : listFixtures()) {
  const f = loadFixture(name);
  const t0 = performance.now();
  const model = compiled(f);
  if (typeof model === 'string') {
    rows.push(`| ${name} | ${f.data.test_inputs.length} | – | – | – | refused: ${model} |`);
    continue;
  }
  const values: number[] = [];
  for (const r of f.data.test_inputs) flat(r, values);
  const spec = compiledRowSpec(model);
  const given: RowBatch = { file: 'test_inputs', rows: f.data.test_inputs.length, rowShape: spec.rowShape, values: Float64Array.from(values) };
  const calibrated = model.calibration.input === null ? null : { range: model.calibration.input, margin: model.calibration.margin };
  const outside = applyRangePolicy({ calibrated, featureNames: model.input.featureNames, shape: model.input.shape }, given, 'allow').outOfRange;
  const asGiven = await agreementUnder(f, model, given, 'allow');
  const clamped = outside.length === 0 ? asGiven : await agreementUnder(f, model, given, 'clamp');
  const moved = outside.reduce((n, r) => n + r.values.length, 0);
  rows.push(
    `| ${name} | ${given.rows} | ${outside.length}${moved > 0 ? ` (${moved} value${moved === 1 ? '' : 's'})` : ''} | ${pct(asGiven)} | ${pct(clamped)} | ${model.circuit.layout}, ${((performance.now() - t0) / 1000).toFixed(1)} s |`,
  );
  process.stderr.write(`${rows.at(-1)}\n`);
}
console.log('| fixture | test rows | rows outside (values) | agreement as given | agreement clamped | note |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
