/**
 * Compiled artifacts stay byte-identical across refactors: every fixture that compiles (and a few
 * option variants) is compiled and written, and the SHA-256 of its manifest.json and
 * constants.bin must equal the hashes recorded in test/golden/artifact-hashes.json.
 *
 * A change that is meant to change compiled output (a new pass, a better fit, a new fixture)
 * updates the golden file deliberately, in its own commit that says why:
 *   UPDATE_GOLDEN=1 npx vitest run test/conformance/artifact-golden.test.ts
 * A refactor must leave the file untouched.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeCompiledModel } from '../../compiler/artifact/codec';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { fixturesAt } from '../helpers/fixture-status';
import { inputTensor, loadFixture } from '../helpers/fixtures';

const GOLDEN = join(import.meta.dirname, '..', 'golden', 'artifact-hashes.json');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
/** Few calibration rows keep the suite light; the hashes only need the same input every time. */
const CALIBRATION_ROWS = 16;

type Variant = Omit<CompileOptions, 'calibration'>;

/** Option variants compiled on top of the default on models with activations. */
const VARIANTS: Readonly<Record<string, Variant>> = {
  'batch-8bit': { layout: 'batch', nBits: 8 },
  'remez-degree-7': { method: 'remez', degree: 7, layout: 'vector' },
  'square': { method: 'square', layout: 'vector' },
  'shared-ranges-no-bias': { perUnitRanges: false, biasCorrection: false, degree: 15, layout: 'vector' },
};
const VARIANT_FIXTURES = ['sk_mlp_breast_cancer_tanh', 'sk_mlp_digits_relu'];

interface Case {
  readonly key: string;
  readonly fixture: string;
  readonly options: Variant;
}

const cases: Case[] = [
  ...[...fixturesAt('compiles'), ...fixturesAt('compiles-vector-only'), ...fixturesAt('misses-target'), ...fixturesAt('below-agreement')].sort().map((fixture) => ({ key: fixture, fixture, options: {} })),
  ...VARIANT_FIXTURES.flatMap((fixture) => Object.entries(VARIANTS).map(([v, options]) => ({ key: `${fixture} ${v}`, fixture, options }))),
];

const golden: Record<string, { manifest: string; constants: string }> = existsSync(GOLDEN) ? JSON.parse(readFileSync(GOLDEN, 'utf8')) : {};
const measured: Record<string, { manifest: string; constants: string }> = {};

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

if (UPDATE && process.env['CI'] === 'true') throw new Error('UPDATE_GOLDEN=1 under CI would accept any artifact: updating the goldens is a deliberate local step');

afterAll(() => {
  if (UPDATE) writeFileSync(GOLDEN, `${JSON.stringify(measured, null, 2)}\n`);
});

describe('compiled artifacts match the golden hashes', () => {
  it.each(cases)('$key', ({ key, fixture, options }) => {
    const f = loadFixture(fixture);
    const compileOptions: CompileOptions = { ...options, calibration: inputTensor(f.data, f.data.calibration.slice(0, CALIBRATION_ROWS)) };
    const compileOnce = () => {
      const files = encodeCompiledModel(toCompiledModel(compileModel({ bytes: readFileSync(f.modelPath), file: 'model.onnx' }, compileOptions), compileOptions, '0.0.0-golden'));
      return { manifest: sha256(files.manifest), constants: sha256(files.constants) };
    };
    measured[key] = compileOnce();
    if (UPDATE) {
      // A hash recorded as golden must be one the compiler reproduces: compiled a second time, it is the same.
      expect(compileOnce(), `${key}: two compiles of the same input differ`).toEqual(measured[key]);
    } else {
      expect(measured[key], `${key}: compiled artifact changed (see this file's header)`).toEqual(golden[key]);
    }
  });
});
