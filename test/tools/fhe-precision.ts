/**
 * Encrypted vs simulated precision, per fixture and layout: compiles each encryptable fixture,
 * runs its test rows through SEAL (client encrypts, server evaluates, client decrypts and
 * rounds) and through the float64 simulation of the same circuit, and prints the largest
 * |FHE − sim| over the body outputs against the precision the compiler promises
 * (2^−expectedPrecisionBits per unit of output magnitude: CKKS keeps a fixed number of bits
 * below the scale, so outputs larger than 1 carry proportionally larger absolute error; the
 * `ratio` column divides each error by max(1, |y|)·2^−p), plus the agreement of both runs with
 * the framework's own outputs by the fixture suites' rule (test/helpers/agreement.ts).
 * A body with client steps draws fresh masks in each run, and its promise counts their rounding:
 * there the allowance is the compiled promise's bound on noise and mask rounding (output units).
 *
 * The rows go through `--out-of-range clamp` first, as `predict` does by default: the `outside`
 * column counts the rows with a value beyond the calibrated range and its margin (each clamped
 * and still answered), so every row given has an answer or the run fails. The last lines name
 * every fixture and layout below 99% agreement (encrypted or simulated) and the worst ratio.
 *
 *   npx tsx test/tools/fhe-precision.ts [--rows 3|all] [--layout vector|batch] [--refresh auto|off (default: compile's, auto)] [fixture ...]
 *
 * The batch layout holds every test row in one evaluation (N/2 rows per ciphertext), so
 * `--rows all --layout batch` is the cheap way to run all of a fixture's rows encrypted.
 */
import { parseArgs } from 'node:util';
import type { Layout } from '../../compiler/circuit/ir';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { applyRangePolicy, DEFAULT_OUT_OF_RANGE } from '../../runtime/data/input-range';
import { batchTensor, type RowBatch } from '../../runtime/data/load-rows';
import { rowOutputs } from '../../runtime/run/outputs';
import { compiledRowSpec, runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { fheBackend } from '../../runtime/run/run-encrypted';
import { agreement } from '../helpers/agreement';
import { listFixtures, loadFixture, type Row } from '../helpers/fixtures';
import { compileFixture } from './compile-fixture';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rows: { type: 'string' , default: '3' }, layout: { type: 'string' }, refresh: { type: 'string' } },
});
const rowsAsked = values.rows === 'all' ? Infinity : Number(values.rows);
if (!(rowsAsked >= 1)) throw new Error(`--rows takes a positive count or all, not ${values.rows}`);
const layouts: Layout[] = values.layout ? [values.layout as Layout] : ['vector', 'batch'];
const names = positionals.length > 0 ? positionals : listFixtures();

function flat(row: Row, out: number[]): void {
  if (typeof row === 'number') out.push(row);
  else for (const r of row) flat(r, out);
}

// Markdown: a | inside a cell is written \|.
const columns = ['fixture', 'layout', 'N', 'depth', 'scale bits', 'rotations', 'rows', 'outside (clamped)', 'max \\|FHE−sim\\|', 'promised 2^-p (or noise + masks)', 'ratio', 'labels FHE=sim', 'FHE vs expected', 'sim vs expected', 'evaluate ms/run'];
console.log(`| ${columns.join(' | ')} |`);
console.log(`|${columns.map(() => '---').join('|')}|`);
let worst = 0;
const below: string[] = [];
for (const name of names) {
  const f = loadFixture(name);
  for (const layout of layouts) {
    const compiled = compileFixture(f, layout, values.refresh === undefined ? undefined : values.refresh === 'auto' ? 'auto' : 'off');
    if ('refused' in compiled) {
      console.log(`| ${name} | ${layout} | refused: ${compiled.refused.replaceAll('|', '\\|')} |`);
      continue;
    }
    const { compilation, options } = compiled;
    const model = toCompiledModel(compilation, options, 'precision');
    const p = model.parameters;
    const rows = Math.min(rowsAsked, f.data.test_inputs.length);
    const rowValues: number[] = [];
    for (const r of f.data.test_inputs.slice(0, rows)) flat(r, rowValues);
    const spec = compiledRowSpec(model);
    const given: RowBatch = { file: 'test_inputs', rows, rowShape: spec.rowShape, values: Float64Array.from(rowValues) };
    // predict's default policy: a row outside the allowed range is clamped into it and answered.
    const { calibration } = model;
    const decision = applyRangePolicy({ calibrated: calibration.input === null ? null : { range: calibration.input, margin: calibration.margin }, featureNames: model.input.featureNames, shape: model.input.shape }, given, DEFAULT_OUT_OF_RANGE);
    const input = batchTensor(decision.batch, spec);
    const fhe = fheBackend(model);
    const encrypted = await runCompiled(model, input, fhe.backend);
    const simulated = await runCompiled(model, input, simulateBackend(model));
    const segmented = model.refresh !== undefined && model.refresh !== null;
    const promised = segmented ? model.calibration.precision.noiseBound : 2 ** -p.expectedPrecisionBits;
    let maxErr = 0;
    let ratio = 0;
    encrypted.bodyOutputs.forEach((row, s) =>
      row.forEach((v, i) => {
        const want = simulated.bodyOutputs[s]![i]!;
        maxErr = Math.max(maxErr, Math.abs(v - want));
        ratio = Math.max(ratio, Math.abs(v - want) / (promised * (segmented ? 1 : Math.max(1, Math.abs(want)))));
      }),
    );
    const labelNames = f.data.compare.filter((c) => c.kind === 'exact').map((c) => c.output);
    const outNames = model.outputs.map((o) => o.name);
    const fo = rowOutputs(encrypted.values, outNames, rows);
    const so = rowOutputs(simulated.values, outNames, rows);
    let agree = 0;
    let total = 0;
    for (const l of labelNames) {
      fo[l]!.forEach((v, i) => {
        total++;
        if (JSON.stringify(v) === JSON.stringify(so[l]![i])) agree++;
      });
    }
    // Agreement with the framework, per compare entry, and the lowest of them (the suites' 99% rule).
    const vs = (outputs: typeof encrypted.values) => {
      const shares = f.data.compare.map((c) => ({ output: c.output, share: agreement(f, c.output, c.expected, c.kind, outputs, rows) }));
      return { text: shares.map((x) => `${x.output} ${(100 * x.share).toFixed(0)}%`).join(', '), lowest: Math.min(...shares.map((x) => x.share)) };
    };
    const fheVs = vs(encrypted.values);
    const simVs = vs(simulated.values);
    if (fheVs.lowest < 0.99 || simVs.lowest < 0.99) below.push(`${name} (${layout}): FHE ${fheVs.text}; sim ${simVs.text}`);
    const run = fhe.lastRun()!;
    worst = Math.max(worst, ratio);
    const cells = [
      name,
      layout,
      p.polyModulusDegree,
      model.circuit.depth,
      p.scaleBits,
      model.circuit.ops.filter((o) => o.op === 'rotate').length,
      rows,
      decision.outOfRange.length,
      maxErr.toExponential(2),
      segmented ? `noise + masks ${promised.toExponential(2)} (σ = ${model.refresh!.maskBits})` : `2^-${p.expectedPrecisionBits} = ${promised.toExponential(2)}`,
      ratio.toFixed(2),
      total === 0 ? 'n/a (no label output)' : `${agree}/${total}`,
      fheVs.text,
      simVs.text,
      (run.timings.evaluate_ms / run.evaluations).toFixed(0),
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
}
console.log(`\nbelow 99% agreement with the framework: ${below.length === 0 ? 'none' : below.join('; ')}`);
console.log(`worst |FHE−sim| / (promised·max(1, |sim|)): ${worst.toFixed(2)} (must stay below 1)`);
