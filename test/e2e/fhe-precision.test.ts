import { describe, expect, test } from 'vitest';
import type { Layout } from '../../compiler/circuit/ir';
import { compileModel } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { rowOutputs } from '../../runtime/outputs';
import { runCompiled, simulateBackend } from '../../runtime/run-compiled';
import { fheBackend } from '../../runtime/run-encrypted';
import { inputTensor, loadFixture } from '../helpers/fixtures';

/**
 * The precision the compiler promises (2^−expectedPrecisionBits, also the client's output
 * rounding) must hold for real encrypted runs: decrypted body outputs stay within it of the
 * simulation of the same circuit, and the labels agree. The vector-layout MLP with an activation
 * polynomial exercises rotations after rescales (rotated before their rescale since the
 * lowering change) and the depth term of the promise.
 */

const ROWS = 2;
const CASES = [
  { name: 'sk_mlp_breast_cancer_tanh', label: 'label' },
  { name: 'sk_logreg_iris_multinomial', label: 'output_label' },
];

describe.each(CASES)('$name: FHE within the promised precision of simulation', ({ name, label }) => {
  test.each<Layout>(['vector', 'batch'])('%s layout', async (layout) => {
    const f = loadFixture(name);
    const options = { calibration: inputTensor(f.data, f.data.calibration), layout };
    const compiled = compileModel(f.modelPath, options);
    const model = toCompiledModel(compiled, options, 'test');
    const input = inputTensor(f.data, f.data.test_inputs.slice(0, ROWS));
    const encrypted = await runCompiled(model, input, fheBackend(model).backend);
    const simulated = await runCompiled(model, input, simulateBackend(model));

    const promised = 2 ** -model.parameters.expectedPrecisionBits;
    expect(model.parameters.expectedPrecisionBits).toBeGreaterThanOrEqual(8);
    encrypted.bodyOutputs.forEach((row, s) =>
      row.forEach((v, i) => expect(Math.abs(v - simulated.bodyOutputs[s]![i]!), `row ${s} output ${i}`).toBeLessThan(promised)),
    );
    // The noise bound the promise adds (precision-promise.test.ts checks it with the noise model on
    // every fixture) is confirmed here by SEAL itself: no decrypted output strays further from the
    // noiseless run than the bound.
    const seal = Math.max(...encrypted.bodyOutputs.flatMap((row, s) => [...row].map((v, i) => Math.abs(v - simulated.bodyOutputs[s]![i]!))));
    expect(seal, `SEAL noise ${seal} vs bound ${compiled.precision.noiseBound}`).toBeLessThanOrEqual(compiled.precision.noiseBound);
    const names = model.outputs.map((o) => o.name);
    expect(rowOutputs(encrypted.values, names, ROWS)[label]).toEqual(rowOutputs(simulated.values, names, ROWS)[label]);
    expect(rowOutputs(encrypted.values, names, ROWS)[label]).toEqual(f.data.expected.label!.slice(0, ROWS));
  }, 120_000);
});
