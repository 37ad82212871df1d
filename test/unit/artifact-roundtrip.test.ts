import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clientSplitOf } from '../../compiler/artifact/client-split';
import { decodeCompiledModel, encodeCompiledModel, finalizeCompiledModel } from '../../compiler/artifact/codec';
import { readCompiledModel, writeCompiledModel } from '../../compiler/artifact/files';
import { canonicalJson, type JsonValue } from '../../compiler/artifact/json-text';
import { REQUIRED_MANIFEST_KEYS } from '../../compiler/artifact/manifest';
import { clientView, clientViewFromJson, clientViewToJson, serverView } from '../../compiler/artifact/views';
import { runEpilogue, runPrologue } from '../../compiler/chain/run';
import { numeric, type NumericTensor, type StringTensor } from '../../compiler/graph/tensor';
import { tinyContent, tinyModel } from './artifact-fixture';

const work = mkdtempSync(join(tmpdir(), 'artifact-roundtrip-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('compiled model files', () => {
  const model = tinyModel();

  it('read back equals what was written, bit for bit (NaN and −0 attributes, Maps, typed arrays)', () => {
    const dir = join(work, 'roundtrip');
    writeCompiledModel(dir, model);
    const back = readCompiledModel(dir);
    expect(back).toEqual(model);
    const scale = back.client.prologue[1]!.attributes.get('scale');
    expect(scale?.type === 'floats' && Object.is(scale.value[2], -0)).toBe(true);
    const replaced = back.client.prologue[0]!.attributes.get('replaced_value_float');
    expect(replaced?.type === 'float' && Number.isNaN(replaced.value)).toBe(true);
    expect(Object.is(back.approximations[0]!.chebyshev[1], -0)).toBe(true);
    expect(back.circuit.constants.map((c) => [...c])).toEqual(model.circuit.constants.map((c) => [...c]));
  });

  it('is deterministic: same model → same bytes, whatever the map insertion order or how often it is written', () => {
    const a = encodeCompiledModel(model);
    const again = encodeCompiledModel(tinyModel());
    const reordered = encodeCompiledModel(tinyModel({ reverseConstants: true }));
    for (const other of [again, reordered]) {
      expect(other.manifest).toBe(a.manifest);
      expect(Buffer.from(other.constants).equals(Buffer.from(a.constants))).toBe(true);
    }
    writeCompiledModel(join(work, 'one'), model);
    writeCompiledModel(join(work, 'two'), readCompiledModel(join(work, 'one')));
    for (const f of ['manifest.json', 'constants.bin']) {
      expect(readFileSync(join(work, 'two', f)).equals(readFileSync(join(work, 'one', f)))).toBe(true);
    }
  });

  it('the model hash changes with any value, and the manifest names no path or time', () => {
    expect(tinyModel({ weight: -0.999 }).modelHash).not.toBe(model.modelHash);
    expect(finalizeCompiledModel({ ...tinyContent(), toolVersion: '0.1.1' }).modelHash).not.toBe(model.modelHash);
    const { manifest } = encodeCompiledModel(model);
    expect(manifest).not.toContain(work);
    expect(manifest).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:/);
    const parsed = JSON.parse(manifest) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual([...REQUIRED_MANIFEST_KEYS]); // `refresh` only in a model cut into segments
    expect(parsed.modelHash).toBe(model.modelHash);
    expect(parsed.constants).toMatchObject({ file: 'constants.bin', bytes: encodeCompiledModel(model).constants.length });
  });

  it('the hash does not depend on manifest whitespace or key order', () => {
    const files = encodeCompiledModel(model);
    // canonicalJson, not JSON.stringify, which would turn the fixture's −0 values into 0.
    const compact = canonicalJson(JSON.parse(files.manifest) as JsonValue);
    expect(compact.length).toBeLessThan(files.manifest.length);
    expect(decodeCompiledModel({ manifest: compact, constants: files.constants }).modelHash).toBe(model.modelHash);
  });

  it('refuses to write a model changed after its hash was computed', () => {
    const changed = { ...model, toolVersion: 'edited' };
    expect(() => encodeCompiledModel(changed)).toThrow(/changed after its hash was computed/);
  });
});

describe('client and server views', () => {
  const model = tinyModel();

  it('the client view carries parameters, packing, key needs and client steps, but no ops or circuit constants', () => {
    const view = clientView(model);
    expect(view.modelHash).toBe(model.modelHash);
    expect(view.layout).toMatchObject({ layout: 'vector', inputSize: 3, outputSize: 2, inputs: [{ kind: 'replicated', size: 3, period: 4 }] });
    expect(view.rotationSteps).toEqual([1]);
    expect(view.needsRelin).toBe(true);
    const inputOp = model.circuit.ops[0]!;
    expect(view.inputCiphertext).toEqual({ level: model.parameters.levels, scale: inputOp.scale });
    expect(view.results).toHaveLength(1);
    expect(view.results[0]!.level).toBe(0);
    expect(view).not.toHaveProperty('circuit');
    const json = clientViewToJson(view);
    const text = JSON.stringify(json);
    expect(text).not.toContain('"ops"');
    expect(text).not.toContain('mulPlain');
    // The circuit's weights (0.5, -1, 2) never appear as a constant vector.
    expect(text).not.toContain('[0.5,-1,2,0]');
  });

  it('the client view survives JSON (tensors inline) and is checked when read', () => {
    const view = clientView(model);
    const back = clientViewFromJson(JSON.parse(JSON.stringify(clientViewToJson(view))));
    expect(back).toEqual(view);
    const json = JSON.parse(JSON.stringify(clientViewToJson(view))) as Record<string, unknown>;
    expect(() => clientViewFromJson({ ...json, rotationSteps: [2] })).toThrow(/step 2 is not among the parameters' rotation steps/);
    expect(() => clientViewFromJson({ ...json, epilogue: [] })).toThrow(/epilogue: "label" is never produced/);
    expect(() => clientViewFromJson({ ...json, modelHash: 'abc' })).toThrow(/client view: modelHash: is not 64 lowercase hex digits/);
    const params = json.parameters as Record<string, unknown>;
    expect(() => clientViewFromJson({ ...json, parameters: { ...params, securityBits: 80 } })).toThrow(/only 128-bit security/);
  });

  it('the server view is the circuit with its constants and parameters', () => {
    const view = serverView(model);
    expect(view).toEqual({ modelHash: model.modelHash, name: 'tiny', parameters: model.parameters, circuit: model.circuit });
  });
});

describe('prologue and epilogue of a compiled model', () => {
  const model = readBack();

  function readBack() {
    const files = encodeCompiledModel(tinyModel());
    return decodeCompiledModel(files);
  }

  it('the prologue runs on the reference interpreter: NaN imputed, then scaled (−0 scale zeroes the last feature)', () => {
    const x = numeric('float32', [2, 3], [Number.NaN, 4, 5, 2, Number.NaN, -1]);
    const rows = runPrologue(clientSplitOf(clientView(model)), x);
    expect(rows.map((r) => [...r])).toEqual([
      [1, 1.5, -0],
      [2, 0.5, 0],
    ]);
    // It reads the model input as declared: batch first, 3 features.
    expect(() => runPrologue(clientSplitOf(model), numeric('float32', [1, 2], [1, 2]))).toThrow(/expects dimension 1 to be 3/);
  });

  it('the epilogue turns decrypted logits into the model outputs', () => {
    const outputs = runEpilogue(clientSplitOf(model), [Float64Array.of(2, 0.5), Float64Array.of(-1, 3)]);
    expect([...outputs.keys()]).toEqual(['label', 'probabilities']);
    expect((outputs.get('label') as StringTensor).data).toEqual(['cat', 'dog']);
    const p = outputs.get('probabilities') as NumericTensor;
    expect(p.shape).toEqual([2, 2]);
    const e = Math.exp(2.25 - 0.25);
    expect(p.data[0]).toBeCloseTo(e / (e + 1), 6);
    expect(p.data[2]! + p.data[3]!).toBeCloseTo(1, 12);
    expect((runEpilogue(clientSplitOf(model), [Float64Array.of(0, 1)]).get('label') as StringTensor).data).toEqual(['dog']);
  });
});
