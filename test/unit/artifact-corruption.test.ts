import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeCompiledModel, encodeCompiledModel } from '../../compiler/artifact/codec';
import { readCompiledModel, writeCompiledModel } from '../../compiler/artifact/files';
import { canonicalJson, type JsonObject } from '../../compiler/artifact/json-text';
import { modelHashOf, sha256Hex } from '../../compiler/artifact/model-hash';
import { DeepPowersError } from '../../compiler/errors';
import { artifactRefusal } from '../helpers/refusal';
import { selectParameters } from '../../compiler/params/select';
import { tinyModel } from './artifact-fixture';

const work = mkdtempSync(join(tmpdir(), 'artifact-corrupt-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const model = tinyModel();
const files = encodeCompiledModel(model);

/** Manifests edited freely in tests. */
type Loose = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function manifest(): Loose {
  return JSON.parse(files.manifest) as Loose;
}

/**
 * A manifest edited by `edit`, then re-sealed as a forger would: constants size, SHA-256 and
 * model hash recomputed, so only the field checks and the consistency checks stand in the way.
 */
function forged(edit: (m: Loose) => void, constants: Uint8Array = files.constants): { manifest: string; constants: Uint8Array } {
  const m = manifest();
  edit(m);
  m.constants = { ...m.constants, bytes: constants.length, sha256: sha256Hex(constants) };
  delete m.modelHash;
  m.modelHash = modelHashOf(m as JsonObject, constants);
  // canonicalJson keeps the fixture's −0 values, which JSON.stringify would turn into 0.
  return { manifest: canonicalJson(m as JsonObject), constants };
}

function writeDir(name: string, manifestText: string | null, constants: Uint8Array | null): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  if (manifestText !== null) writeFileSync(join(dir, 'manifest.json'), manifestText);
  if (constants !== null) writeFileSync(join(dir, 'constants.bin'), constants);
  return dir;
}

describe('reading a damaged compiled model directory', () => {
  it('accepts the intact one', () => {
    const dir = join(work, 'intact');
    writeCompiledModel(dir, model);
    expect(readCompiledModel(dir).modelHash).toBe(model.modelHash);
  });

  it('names a missing directory, a file instead of a directory, and each missing file', () => {
    expect(artifactRefusal(() => readCompiledModel(join(work, 'nowhere')))).toMatch(/compiled model directory .*nowhere does not exist/);
    const file = join(work, 'plain-file');
    writeFileSync(file, 'x');
    expect(artifactRefusal(() => readCompiledModel(file))).toMatch(/is not a compiled model directory \(it is a file\)/);
    expect(artifactRefusal(() => readCompiledModel(writeDir('no-manifest', null, files.constants)))).toMatch(/has no manifest\.json/);
    expect(artifactRefusal(() => readCompiledModel(writeDir('no-constants', files.manifest, null)))).toMatch(/has no constants\.bin/);
  });

  it('refuses a truncated constants.bin by its size', () => {
    const dir = writeDir('truncated', files.manifest, files.constants.subarray(0, files.constants.length - 9));
    expect(artifactRefusal(() => readCompiledModel(dir))).toMatch(
      new RegExp(`constants\\.bin has ${files.constants.length - 9} bytes, the manifest expects ${files.constants.length}: truncated or replaced`),
    );
  });

  it('refuses a constants.bin with one flipped byte, or one from another compile, by its SHA-256', () => {
    for (const at of [0, 20, files.constants.length - 1]) {
      const bytes = Uint8Array.from(files.constants);
      bytes[at]! ^= 0x01;
      expect(artifactRefusal(() => readCompiledModel(writeDir(`flip-${at}`, files.manifest, bytes)))).toMatch(
        /constants\.bin is corrupted or from another compile: SHA-256 [0-9a-f]{12}…, the manifest expects [0-9a-f]{12}…/,
      );
    }
    const other = encodeCompiledModel(tinyModel({ weight: 3 })).constants;
    expect(other.length).toBe(files.constants.length);
    expect(artifactRefusal(() => decodeCompiledModel({ manifest: files.manifest, constants: other }))).toMatch(/corrupted or from another compile/);
  });

  it('refuses an edited manifest field by the model hash', () => {
    const edits: ((m: Loose) => void)[] = [
      (m) => (m.parameters.scaleBits += 1),
      (m) => (m.circuit.ops[1].encodeScale *= 2),
      (m) => (m.epilogue[4].inputs[0] = 'index'),
      (m) => (m.toolVersion = '9.9.9'),
      (m) => (m.options.degree = 3),
    ];
    for (const edit of edits) {
      const m = manifest();
      edit(m);
      expect(artifactRefusal(() => decodeCompiledModel({ manifest: JSON.stringify(m), constants: files.constants }))).toMatch(
        /manifest\.json was modified after compilation: its content hashes to [0-9a-f]{12}…, its modelHash says [0-9a-f]{12}…/,
      );
    }
  });

  it('refuses text that is not JSON, not an object, another format or another format version', () => {
    const read = (text: string): string => artifactRefusal(() => readCompiledModel(writeDir(`text-${text.length}`, text, files.constants)));
    expect(read('{"format": ')).toMatch(/manifest\.json is not valid JSON/);
    expect(read('[]')).toMatch(/manifest\.json: expected an object, got \[\]/);
    expect(read(JSON.stringify({ ...manifest(), format: 'onnx' }))).toMatch(/manifest\.json: format: "onnx" is not a DeepPowers compiled model/);
    expect(read(JSON.stringify({ ...manifest(), formatVersion: 2 }))).toMatch(
      /manifest\.json: formatVersion: 2 is not supported: this DeepPowers reads version 1; recompile the model/,
    );
    expect(read(JSON.stringify({ ...manifest(), formatVersion: '1' }))).toMatch(/formatVersion: "1" is not supported/);
    const notUtf8 = Uint8Array.of(0x7b, 0xff, 0x7d);
    expect(artifactRefusal(() => decodeCompiledModel({ manifest: notUtf8, constants: files.constants }))).toMatch(/manifest\.json is not UTF-8 text/);
  });
});

describe('a forged manifest (hashes recomputed) is still checked field by field', () => {
  const other = selectParameters({ depth: 2, slotsNeeded: 4, rotationSteps: [1], preferN: 16384 });
  const cases: [string, (m: Loose) => void, RegExp][] = [
    ['unknown top-level field', (m) => (m.extra = 1), /manifest\.json: unexpected field "extra"/],
    ['missing section', (m) => delete m.cost, /manifest\.json: missing field "cost"/],
    ['entry count differs from constants.bin', (m) => (m.constants.entries = 99), /constants\.bin holds \d+ constants, the manifest expects 99/],
    ['circuit constant index out of range', (m) => (m.circuit.constants[0] = 99), /circuit\.constants\[0\]: constant 99 is out of range: constants\.bin holds \d+/],
    ['client tensor of the wrong length', (m) => (m.clientConstants.shift.constant = 0), /clientConstants\.shift\.constant: 4 numbers for shape \[2\]/],
    ['string tensor pointing at numbers', (m) => (m.epilogue[3].attributes.value.value.constant = 0), /constant 0 holds numbers, expected strings/],
    ['operand defined later', (m) => (m.circuit.ops[3].a = 7), /circuit\.ops\[3\]\.a: expected an integer in \[0, 2\], got 7/],
    ['operand of the first op', (m) => (m.circuit.ops[0] = { op: 'neg', a: 0, level: 2, scale: 1, size: 2 }), /circuit\.ops\[0\]\.a: the first op cannot read a value/],
    ['unknown op kind', (m) => (m.circuit.ops[1].op = 'bootstrap'), /circuit\.ops\[1\]\.op: expected one of "input", "add"/],
    ['level of the wrong type', (m) => (m.circuit.ops[1].level = '2'), /circuit\.ops\[1\]\.level: expected an integer in \[0, 2\], got "2"/],
    ['level out of range', (m) => (m.circuit.ops[1].level = 7), /circuit\.ops\[1\]\.level: expected an integer in \[0, 2\], got 7/],
    ['negative scale', (m) => (m.circuit.ops[2].scale = -5), /circuit\.ops\[2\]\.scale: expected a positive number, got -5/],
    ['missing op field', (m) => delete m.circuit.ops[2].size, /circuit\.ops\[2\]: missing field "size"/],
    ['extra op field', (m) => (m.circuit.ops[2].c = 0), /circuit\.ops\[2\]: unexpected field "c"/],
    ['plaintext constant out of range', (m) => (m.circuit.ops[1].c = 5), /circuit\.ops\[1\]\.c: constant 5 is out of range: the circuit has 1/],
    ['wrong recorded size', (m) => (m.circuit.ops[1].size = 3), /circuit: op 1 \(mulPlain\) records size 3, computes 2/],
    ['wrong recorded scale', (m) => (m.circuit.ops[1].scale *= 2), /circuit: op 1 \(mulPlain\) records scale 2\^/],
    ['rotation not in the step list', (m) => (m.circuit.ops[3].k = 2), /rotation steps listed \[1\] differ from those used \[2\]/],
    ['rotation step out of range', (m) => (m.circuit.ops[3].k = 1e9), /circuit\.ops\[3\]\.k: expected an integer in \[1, \d+\]/],
    ['no Galois key for a step', (m) => Object.assign(m.parameters, { rotationSteps: [], galoisElements: [] }), /the circuit rotates by 1 but the parameters have no Galois key/],
    ['parameters for another ring', (m) => (m.parameters = JSON.parse(JSON.stringify(other))), /the circuit runs on \d+ slots, the parameters give 8192/],
    ['primes changed', (m) => (m.parameters.primes[1] = m.parameters.primes[2]), /parameters: prime 1 \(\d+\) is not \d+ bits|primesApprox\[1\]/],
    ['security below 128 bits', (m) => (m.parameters.securityBits = 80), /parameters\.securityBits: 80: only 128-bit security is supported/],
    ['ring without a security bound', (m) => (m.parameters.polyModulusDegree = 3000), /polynomial degree 3000 has no 128-bit security bound/],
    ['scale primes not what the circuit was scaled for', (m) => (m.parameters.levels = 1), /2 levels need|1 levels need 3 primes/],
    ['body size differs from the circuit', (m) => (m.body.output.shape = [3]), /body output "logits" has 3 values per sample, the circuit writes 2/],
    ['epilogue op without a kernel', (m) => (m.epilogue[0].op = 'Frobnicate'), /epilogue node 0 \(Frobnicate "shift"\): operator ai\.onnx\.Frobnicate has no reference kernel/],
    ['epilogue reading an unknown value', (m) => (m.epilogue[1].inputs = ['ghost']), /epilogue node 1 \(Softmax "softmax"\): reads "ghost", which nothing before it provides/],
    ['prologue not producing the body input', (m) => (m.prologue[1].outputs = ['elsewhere']), /prologue: "body_in" is never produced/],
    ['attribute of an unknown type', (m) => (m.prologue[0].attributes.replaced_value_float.type = 'double'), /attributes\.replaced_value_float\.type: expected one of "int"/],
    ['float attribute spelled wrong', (m) => (m.prologue[0].attributes.replaced_value_float.value = 'nan'), /expected a number, "NaN", "Infinity", "-Infinity" or "-0", got "nan"/],
    ['op counts that drifted from the circuit', (m) => (m.cost.counts.rotations = 99), /cost\.counts: the stored counts do not match the circuit's ops/],
    ['coefficients not matching the degree', (m) => (m.approximations[0].chebyshev = [1]), /approximations\[0\]\.chebyshev: 1 coefficients for degree 2/],
    ['unknown activation', (m) => (m.approximations[0].fn = 'swish'), /approximations\[0\]\.fn: expected one of "relu"/],
    ['quantization bits out of range', (m) => (m.quantization.stages[0].bits = 40), /quantization\.stages\[0\]\.bits: expected an integer in \[2, 16\], got 40/],
    ['inverted calibration range', (m) => (m.calibration.ranges[0].fitted = [2, -2]), /calibration\.ranges\[0\]\.fitted: expected lo < hi, got \[2, -2\]/],
    ['absolute path as the source file', (m) => (m.model.sourceFile = '/home/me/tiny.onnx'), /model\.sourceFile must be a file name without directories/],
    ['malformed source hash', (m) => (m.model.sha256 = 'XYZ'), /model\.sha256 must be 64 lowercase hex digits/],
    ['unknown dtype', (m) => (m.input.dtype = 'complex64'), /input\.dtype: expected one of "float32"/],
    ['negative dimension', (m) => (m.body.input.shape = [-3]), /body\.input\.shape\[0\]: expected an integer in \[0, \d+\], got -3/],
  ];

  it.each(cases)('%s', (_, edit, message) => {
    expect(artifactRefusal(() => decodeCompiledModel(forged(edit)))).toMatch(message);
  });

  it('the forging helper itself yields the same model when nothing is edited', () => {
    expect(decodeCompiledModel(forged(() => {}))).toEqual(model);
  });
});

describe('random damage to a forged manifest', () => {
  /** Every leaf of the manifest as a path of keys. */
  function leaves(v: unknown, path: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
    if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) leaves(x, [...path, Array.isArray(v) ? Number(k) : k], out);
    } else {
      out.push(path);
    }
    return out;
  }

  it('is either loaded or refused with BAD_ARTIFACT, never a crash (seeded, 300 edits)', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const paths = leaves(manifest()).filter((p) => p[0] !== 'modelHash' && p[0] !== 'constants');
    const replacements: unknown[] = [null, -1, 0, 1, 2.5, 1e308, '', 'x', true, [], {}, 2 ** 53];
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const path = paths[rand(paths.length)]!;
      const value = replacements[rand(replacements.length)];
      const files = forged((m) => {
        let at: Loose = m;
        for (const k of path.slice(0, -1)) at = at[k as string];
        at[path[path.length - 1] as string] = value;
      });
      try {
        decodeCompiledModel(files);
      } catch (e) {
        if (!(e instanceof DeepPowersError) || e.code !== 'BAD_ARTIFACT') throw new Error(`${path.join('.')} = ${JSON.stringify(value)}: ${String(e)}`);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(200);
  });
});
