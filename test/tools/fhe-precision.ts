/**
 * Encrypted vs simulated precision, per fixture and layout: compiles each encryptable fixture,
 * runs a few test rows through SEAL (client encrypts, server evaluates, client decrypts and
 * rounds) and through the float64 simulation of the same circuit, and prints the largest
 * |FHE − sim| over the body outputs against the precision the compiler promises
 * (2^−expectedPrecisionBits per unit of output magnitude: CKKS keeps a fixed number of bits
 * below the scale, so outputs larger than 1 carry proportionally larger absolute error; the
 * `ratio` column divides each error by max(1, |sim|)·2^−p), plus agreement of the label outputs.
 * A body with client steps draws fresh masks in each run, and its promise counts their rounding:
 * there the allowance is the compiled promise's bound on noise and mask rounding (output units).
 *
 *   npx tsx test/tools/fhe-precision.ts [--rows 3|all] [--layout vector|batch] [--refresh auto|off (default: compile's, auto)] [fixture ...]
 */
import { parseArgs } from 'node:util';
import type { Layout } from '../../compiler/circuit/ir';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { rowOutputs } from '../../runtime/run/outputs';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { fheBackend } from '../../runtime/run/run-encrypted';
import { agreement } from '../helpers/agreement';
import { inputTensor, listFixtures, loadFixture } from '../helpers/fixtures';
import { compileFixture } from './compile-fixture';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rows: { type: 'string' , default: '3' }, layout: { type: 'string' }, refresh: { type: 'string' } },
});
const rowsAsked = values.rows === 'all' ? Infinity : Number(values.rows);
if (!(rowsAsked >= 1)) throw new Error(`--rows takes a positive count or all, not ${values.rows}`);
const layouts: Layout[] = values.layout ? [values.layout as Layout] : ['vector', 'batch'];
const names = positionals.length > 0 ? positionals : listFixtures();

console.log('fixture | layout | N | depth | scale bits | rotations | max |FHE−sim| | promised 2^-p | ratio (per max(1,|y|)) | labels FHE=sim | FHE vs expected (per compare entry) | evaluate ms/run');
let worst = 0;
for (const name of names) {
  const f = loadFixture(name);
  for (const layout of layouts) {
    const compiled = compileFixture(f, layout, values.refresh === undefined ? undefined : values.refresh === 'auto' ? 'auto' : 'off');
    if ('refused' in compiled) {
      console.log(`${name} | ${layout} | refused: ${compiled.refused}`);
      continue;
    }
    const { compilation, options } = compiled;
    const model = toCompiledModel(compilation, options, 'precision');
    const p = model.parameters;
    const rows = Math.min(rowsAsked, f.data.test_inputs.length);
    const input = inputTensor(f.data, f.data.test_inputs.slice(0, rows));
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
    const vsExpected = f.data.compare
      .map((c) => `${c.output} ${(100 * agreement(f, c.output, c.expected, c.kind, encrypted.values, rows)).toFixed(0)}%`)
      .join(', ');
    const run = fhe.lastRun()!;
    worst = Math.max(worst, ratio);
    console.log(
      [
        name,
        layout,
        p.polyModulusDegree,
        model.circuit.depth,
        p.scaleBits,
        model.circuit.ops.filter((o) => o.op === 'rotate').length,
        maxErr.toExponential(2),
        segmented ? `noise + masks ${promised.toExponential(2)} (σ = ${model.refresh!.maskBits})` : `2^-${p.expectedPrecisionBits} = ${promised.toExponential(2)}`,
        ratio.toFixed(2),
        total === 0 ? 'n/a (regression)' : `${agree}/${total}`,
        vsExpected,
        (run.timings.evaluate_ms / run.evaluations).toFixed(0),
      ].join(' | '),
    );
  }
}
console.log(`worst |FHE−sim| / (promised·max(1, |sim|)): ${worst.toFixed(2)} (must stay below 1)`);
