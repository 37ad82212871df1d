/**
 * How many held-out test rows of each fixture fall outside the calibrated input range (widened by
 * the margin), and what `--out-of-range` does to the agreement with the framework's own outputs:
 * each fixture compiled as `deeppowers compile` does by default (its calibration rows, layout
 * auto), its test rows run in simulation as given (`allow`) and clamped (`clamp`, the default);
 * and, to show what the margin buys, the rows outside the bare calibrated range (margin 0) and the
 * agreement when those are clamped to it.
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

async function agreementUnder(f: Fixture, model: CompiledModel, given: RowBatch, policy: OutOfRangePolicy, margin = model.calibration.margin): Promise<number> {
  const { input, calibration } = model;
  const calibrated = calibration.input === null ? null : { range: calibration.input, margin };
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
    rows.push(`| ${name} | ${f.data.test_inputs.length} | – | – | – | – | – | refused: ${model} |`);
    continue;
  }
  const values: number[] = [];
  for (const r of f.data.test_inputs) flat(r, values);
  const spec = compiledRowSpec(model);
  const given: RowBatch = { file: 'test_inputs', rows: f.data.test_inputs.length, rowShape: spec.rowShape, values: Float64Array.from(values) };
  const outsideAt = (margin: number) => {
    const calibrated = model.calibration.input === null ? null : { range: model.calibration.input, margin };
    return applyRangePolicy({ calibrated, featureNames: model.input.featureNames, shape: model.input.shape }, given, 'allow').outOfRange;
  };
  const outside = outsideAt(model.calibration.margin);
  const asGiven = await agreementUnder(f, model, given, 'allow');
  const clamped = outside.length === 0 ? asGiven : await agreementUnder(f, model, given, 'clamp');
  // The same rows against the bare calibrated range (margin 0): what a clamp with no margin would move and cost.
  const bare = outsideAt(0);
  const clampedBare = bare.length === 0 ? asGiven : await agreementUnder(f, model, given, 'clamp', 0);
  const count = (list: typeof outside) => {
    const values = list.reduce((n, r) => n + r.values.length, 0);
    return `${list.length}${values > 0 ? ` (${values} value${values === 1 ? '' : 's'})` : ''}`;
  };
  rows.push(`| ${name} | ${given.rows} | ${count(outside)} | ${pct(asGiven)} | ${pct(clamped)} | ${count(bare)} | ${pct(clampedBare)} | ${model.circuit.layout}, ${((performance.now() - t0) / 1000).toFixed(1)} s |`);
  process.stderr.write(`${rows.at(-1)}\n`);
}
console.log(
  '| fixture | test rows | rows outside the allowed range (values) | agreement as given | agreement clamped | rows outside the bare calibrated range | agreement clamped to it | layout, time |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
