/**
 * Activation MLPs run encrypted on SEAL: a few test rows of the ELU and LeakyReLU fixtures
 * (non-polynomial activations the compiler approximates, one of them per-unit scaled) decrypt to
 * the simulation of the same circuit within CKKS noise and to the framework's own predicted class.
 */
import { describe, expect, it } from 'vitest';
import type { CompiledModel } from '../../compiler/artifact/types';
import type { Layout } from '../../compiler/circuit/ir';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { fheBackend } from '../../runtime/run/run-encrypted';
import { agreement } from '../helpers/agreement';
import { inputTensor, loadFixture } from '../helpers/fixtures';

const ROWS = 4;

/** As in fhe-predict: fresh-encryption, rescaling and key-switching noise per unit of output, plus output rounding. */
function tolerance(model: CompiledModel): number {
  const p = model.parameters;
  return 2 ** (Math.log2(p.polyModulusDegree) + 8 - p.scaleBits) + 2 ** -p.expectedPrecisionBits;
}

const CASES: readonly { name: string; fn: string; layout: Layout }[] = [
  { name: 'pt_mlp_elu_iris', fn: 'elu', layout: 'batch' },
  { name: 'pt_mlp_leakyrelu_wine_opset9', fn: 'leaky_relu', layout: 'vector' },
];

describe.each(CASES)('$name ($fn), encrypted on SEAL', ({ name, fn, layout }) => {
  it(`${layout} layout: ${ROWS} rows decrypt to the simulation and to the framework's class`, async () => {
    const f = loadFixture(name);
    const options: CompileOptions = { calibration: inputTensor(f.data, f.data.calibration), layout };
    const model = toCompiledModel(compileModel(f.modelPath, options), options, 'test');
    expect(model.approximations.map((a) => a.fn)).toEqual([fn]);
    const rows = f.data.test_inputs.slice(0, ROWS);
    const input = inputTensor(f.data, rows);
    const encrypted = await runCompiled(model, input, fheBackend(model).backend);
    const simulated = await runCompiled(model, input, simulateBackend(model));
    const tol = tolerance(model);
    encrypted.bodyOutputs.forEach((row, r) =>
      row.forEach((v, i) => {
        const want = simulated.bodyOutputs[r]![i]!;
        expect(Math.abs(v - want), `row ${r} output ${i}`).toBeLessThan(tol * (1 + Math.abs(want)));
      }),
    );
    for (const c of f.data.compare) expect(agreement(f, c.output, c.expected, c.kind, encrypted.values, ROWS), c.output).toBe(1);
  }, 120_000);
});
