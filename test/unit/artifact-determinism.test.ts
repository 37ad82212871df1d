import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clientSplitOf } from '../../compiler/artifact/client-split';
import { readCompiledModel, writeCompiledModel } from '../../compiler/artifact/files';
import { runEpilogue, runPrologue } from '../../compiler/chain/run';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import type { NumericTensor } from '../../compiler/graph/tensor';
import { importModel } from '../../compiler/onnx/import';
import { compileModel } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { inputTensor, loadFixture } from '../helpers/fixtures';

/**
 * Compiling a real exported model twice, in separate compilations written to separate
 * directories, gives byte-identical files; and the stored prologue and epilogue reproduce the
 * original graph around the body. Few calibration rows keep it light.
 */

const work = mkdtempSync(join(tmpdir(), 'artifact-determinism-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function compileTo(name: string, dir: string): void {
  const fixture = loadFixture(name);
  const options = { calibration: inputTensor(fixture.data, fixture.data.calibration.slice(0, 16)), layout: 'vector' as const, nBits: 8 };
  const model = toCompiledModel(compileModel({ bytes: readFileSync(fixture.modelPath), file: 'model.onnx' }, options), options, '0.0.0-test');
  writeCompiledModel(dir, model);
}

describe.each(['sk_logreg_iris_multinomial', 'sk_mlp_breast_cancer_tanh'])('%s compiled twice', (name) => {
  it('writes byte-identical manifest.json and constants.bin', () => {
    compileTo(name, join(work, name, 'a'));
    compileTo(name, join(work, name, 'b'));
    for (const f of ['manifest.json', 'constants.bin']) {
      expect(readFileSync(join(work, name, 'b', f)).equals(readFileSync(join(work, name, 'a', f)))).toBe(true);
    }
    expect(readFileSync(join(work, name, 'a', 'manifest.json'), 'utf8')).not.toContain(work);
  });
});

describe('client steps read back from disk', () => {
  // In this export the body ends at a value of the original graph (the hidden layer's logits), so
  // the reference run gives the exact body input and output to check the stored steps against.
  const name = 'sk_mlp_breast_cancer_tanh';

  it('prologue and epilogue reproduce the original graph around the body', () => {
    const fixture = loadFixture(name);
    const dir = join(work, 'client-steps');
    compileTo(name, dir);
    const model = readCompiledModel(dir);
    expect(model.quantization?.bits).toBe(8);
    const graph = importModel(readFileSync(fixture.modelPath), fixture.modelPath);
    const x = inputTensor(fixture.data, fixture.data.test_inputs.slice(0, 5));
    const wanted = [model.bodyInput.name, model.bodyOutput.name, ...model.outputs.map((o) => o.name)];
    const reference = runGraph(graph, new Map([[model.input.name, x]]), wanted);
    const bodyIn = reference.get(model.bodyInput.name) as NumericTensor;
    expect(runPrologue(clientSplitOf(model), x).flatMap((r) => [...r])).toEqual([...bodyIn.data]);
    const bodyOut = reference.get(model.bodyOutput.name) as NumericTensor;
    const per = model.circuit.outputSize;
    const decrypted = Array.from({ length: 5 }, (_, r) => bodyOut.data.slice(r * per, (r + 1) * per));
    const outputs = runEpilogue(clientSplitOf(model), decrypted);
    for (const o of model.outputs) expect(outputs.get(o.name)).toEqual(reference.get(o.name));
  });
});
