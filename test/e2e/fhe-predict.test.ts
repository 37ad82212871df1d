import { describe, expect, test } from 'vitest';
import type { CompiledModel } from '../../compiler/artifact/types';
import type { Layout } from '../../compiler/circuit/ir';
import { compileModel } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { rowOutputs } from '../../runtime/run/outputs';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { fheBackend } from '../../runtime/run/run-encrypted';
import { inputTensor, loadFixture } from '../helpers/fixtures';

/**
 * The compiled-model runner with the encrypted backend: prologue → encrypt → server on
 * ciphertexts → decrypt → epilogue, against the simulation of the same circuit and against the
 * fixture's own expected outputs, in both layouts.
 */

const ROWS = 3;

function compiled(name: string, layout: Layout): CompiledModel {
  const f = loadFixture(name);
  const options = { calibration: inputTensor(f.data, f.data.calibration), layout };
  return toCompiledModel(compileModel(f.modelPath, options), options, 'test');
}

/**
 * CKKS error per unit of output magnitude. Fresh encryption and rescaling cost about log2 N + 2
 * bits below the scale; key switching (rotations, relinearization) adds noise of order N·σ
 * whatever the scale, measured at 3–7 × 2^(log2 N + 2) per rotation, and a rotation tree adds
 * those up: 2^(log2 N + 8 − scaleBits) bounds it with margin (as in seal-client-server), plus
 * the client's rounding of outputs. A packing or rotation bug is off by O(|output|), far above.
 */
function tolerance(model: CompiledModel): number {
  const p = model.parameters;
  return 2 ** (Math.log2(p.polyModulusDegree) + 8 - p.scaleBits) + 2 ** -p.expectedPrecisionBits;
}

const CASES: readonly { name: string; labelOutput: string | null; expected: string }[] = [
  { name: 'sk_logreg_breast_cancer', labelOutput: 'label', expected: 'label' },
  { name: 'sk_logreg_iris_multinomial', labelOutput: 'output_label', expected: 'label' },
  { name: 'sk_linreg_diabetes', labelOutput: null, expected: 'prediction' },
  // A GLM: the encrypted body ends at the linear score, the client applies the inverse link Exp.
  { name: 'sk_poisson_diabetes', labelOutput: null, expected: 'prediction' },
];

describe.each(CASES)('$name, encrypted', ({ name, labelOutput, expected }) => {
  test.each<Layout>(['vector', 'batch'])('%s layout: decrypted outputs match the simulation and the fixture', async (layout) => {
    const f = loadFixture(name);
    const model = compiled(name, layout);
    expect(model.circuit.layout).toBe(layout);
    const input = inputTensor(f.data, f.data.test_inputs.slice(0, ROWS));
    const fhe = fheBackend(model);
    const encrypted = await runCompiled(model, input, fhe.backend);
    const simulated = await runCompiled(model, input, simulateBackend(model));

    const tol = tolerance(model);
    encrypted.bodyOutputs.forEach((row, s) => {
      row.forEach((v, i) => {
        const want = simulated.bodyOutputs[s]![i]!;
        expect(Math.abs(v - want), `row ${s} body output ${i}`).toBeLessThan(tol * (1 + Math.abs(want)));
      });
    });

    const outputs = rowOutputs(encrypted.values, model.outputs.map((o) => o.name), ROWS);
    const want = f.data.expected[expected]!.slice(0, ROWS);
    if (labelOutput) {
      expect(outputs[labelOutput]).toEqual(want);
    } else {
      // Regression: within 1% of the framework's prediction.
      const got = outputs[model.outputs[0]!.name]!.map((v) => (Array.isArray(v) ? v[0] : v) as number);
      got.forEach((v, i) => expect(Math.abs(v - (want[i] as number))).toBeLessThan(0.01 * Math.abs(want[i] as number)));
    }

    const run = fhe.lastRun()!;
    expect(run.evaluations).toBe(layout === 'vector' ? ROWS : 1);
    expect(run.timings.per_evaluation).toHaveLength(run.evaluations);
    expect(run.sizes.eval_key_bytes).toBeGreaterThan(0);
    // Batch layout rotates nothing, so it needs no Galois keys at all.
    expect(run.sizes.galois_key_bytes > 0).toBe(layout === 'vector' && model.circuit.rotationSteps.length > 0);
  });
});
