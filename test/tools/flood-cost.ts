/**
 * What `serve --flood-bits s` costs in precision, per fixture: the compile's noise bound ε, and
 * over all test rows in simulation the largest change the flood (uniform in ±2^s·ε, drawn as the
 * server draws it) makes to a body output and how many decisions (argmax, or sign for one output)
 * it keeps. Random: each run draws fresh noise.
 *
 *   npx tsx test/tools/flood-cost.ts [--bits 0,2,4,8] [fixture ...]   (default sk_logreg_breast_cancer sk_mlp_digits_relu, vector layout)
 */
import { parseArgs } from 'node:util';
import { clientSplitOf } from '../../compiler/artifact/client-split';
import { runPrologue } from '../../compiler/chain/run';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { simulateSamples } from '../../runtime/backends/simulate';
import { drawMask } from '../../compiler/client-steps/masks';
import { inputTensor, loadFixture } from '../helpers/fixtures';

const { values, positionals } = parseArgs({ options: { bits: { type: 'string', default: '0,2,4,8' } }, allowPositionals: true });
const bits = values.bits.split(',').map(Number);
const names = positionals.length > 0 ? positionals : ['sk_logreg_breast_cancer', 'sk_mlp_digits_relu'];
const argmax = (v: ArrayLike<number>) => {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[b]!) b = i;
  return b;
};
for (const name of names) {
  const f = loadFixture(name);
  const options: CompileOptions = { calibration: inputTensor(f.data, f.data.calibration), layout: 'vector' };
  const m = toCompiledModel(compileModel(f.modelPath, options), options, 'flood-cost');
  const y = simulateSamples(m.circuit, runPrologue(clientSplitOf(m), inputTensor(f.data, f.data.test_inputs)));
  const eps = m.calibration.precision.noiseBound;
  const decision = (v: ArrayLike<number>) => (v.length === 1 ? Math.sign(v[0]!) : argmax(v));
  const cells = bits.map((s) => {
    let kept = 0;
    let worst = 0;
    for (const row of y) {
      const noise = drawMask(row.length, s, eps);
      const flooded = row.map((v, i) => v + noise[i]!);
      flooded.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - row[i]!))));
      if (decision(flooded) === decision(row)) kept++;
    }
    return `s=${s}: ±${(2 ** s * eps).toPrecision(3)}, worst ${worst.toPrecision(3)}, ${kept}/${y.length} decisions kept`;
  });
  console.log(`${name}: ε = ${eps.toPrecision(3)}, promise ${m.calibration.precision.bound.toPrecision(3)}; ${cells.join('; ')}`);
}
