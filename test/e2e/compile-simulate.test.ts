/**
 * The compiler end to end on the public fixtures: every model compiles in each layout the compiler
 * says it supports (both, except tree ensembles: batch only), and the simulated circuit
 * (prologue → circuit on float64 slots → epilogue) agrees with the framework's own outputs
 * (`expected`) on at least 99% of the test rows:
 *  - a label output ('exact' in the fixture's compare list): identical labels;
 *  - a per-row vector ('close'): the same argmax;
 *  - a per-row probability of a binary classifier: the same side of 0.5;
 *  - a regression output: within 1% of max(1, |y|), counted row by row.
 * The polynomial degree is the default, auto: chosen on the calibration rows, judged here on the
 * test rows. Compiling twice gives byte-identical files.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeCompiledModel } from '../../compiler/artifact/codec';
import type { CompiledModel } from '../../compiler/artifact/types';
import type { Layout } from '../../compiler/circuit/ir';
import { DeepPowersError } from '../../compiler/errors';
import { importModel } from '../../compiler/onnx/import';
import { compileModel, supportedLayouts, type CompileOptions } from '../../compiler/pipeline/compile';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { agreement } from '../helpers/agreement';
import { inputTensor, listFixtures, loadFixture, type Fixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';
import { fixturesAt } from '../helpers/fixture-status';

const AGREEMENT = 0.99;
/** Agreement asked of 8-bit weights (quantization changes the model, not only its encryption). */
const QUANTIZED_AGREEMENT = 0.95;

/** The compile's warnings (the artifact does not keep them). */
function compiledWarnings(f: Fixture, layout: Layout): readonly string[] {
  return compileModel(f.modelPath, { calibration: inputTensor(f.data, f.data.calibration), layout }).warnings;
}

function compileFixture(f: Fixture, layout: Layout | 'auto', extra: Partial<CompileOptions> = {}): CompiledModel {
  return compiledFixture(f, { layout, ...extra });
}

const fixtures = fixturesAt('compiles');

describe('compile → simulate on the fixtures', () => {
  it('covers every fixture the status table says compiles', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(11);
    for (const name of fixtures) expect(listFixtures()).toContain(name);
  });

  for (const name of fixturesAt('refused-at-compile')) {
    it(`${name}: refused at compile with a clean NOT_ENCRYPTABLE error`, () => {
      let error: unknown;
      try {
        compileFixture(loadFixture(name), 'auto');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DeepPowersError);
      expect((error as DeepPowersError).code).toBe('NOT_ENCRYPTABLE');
    });
  }

  for (const name of fixturesAt('misses-target')) {
    it(`${name}: compiles, and says it misses its precision promise`, () => {
      const model = compileFixture(loadFixture(name), 'vector');
      expect(model.calibration.precision.reached).toBe(false);
      const p = model.calibration.precision;
      expect(p.approximationError + p.noiseBound).toBeGreaterThan(p.bound);
    });
  }

  for (const name of fixturesAt('below-agreement')) {
    it(`${name}: compiles, degree auto reaches its calibration target, and simulation agrees on 90% to 99% of test rows`, async () => {
      const f = loadFixture(name);
      const model = compileFixture(f, 'vector');
      expect(model.options['degreeChoice']).toMatchObject({ mode: 'auto', reached: true });
      const run = await runCompiled(model, inputTensor(f.data, f.data.test_inputs), simulateBackend(model));
      const shares = f.data.compare.map((c) => agreement(f, c.output, c.expected, c.kind, run.values));
      expect(Math.min(...shares)).toBeGreaterThanOrEqual(0.9);
      // Reaching 99% moves the fixture to 'compiles'.
      expect(Math.min(...shares)).toBeLessThan(AGREEMENT);
    });
  }

  for (const name of [...fixtures, ...fixturesAt('compiles-vector-only')].sort()) {
    const f = loadFixture(name);
    const layouts = fixturesAt('compiles-vector-only').includes(name) ? (['vector'] as const) : supportedLayouts(importModel(readFileSync(f.modelPath), f.modelPath));
    for (const layout of layouts) {
      it(`${name}, ${layout} layout: simulated predictions agree with the framework on ≥ 99% of test rows`, async () => {
        const model = compileFixture(f, layout);
        expect(model.circuit.layout).toBe(layout);
        if (layout === 'batch') expect(model.cost.counts.rotations).toBe(0);
        if (model.approximations.length > 0) {
          // The default degree (auto) reached its calibration-row target on every fixture.
          expect(model.options['degree']).toBe('auto');
          // Or, where the degree that reached it needs a plan over the heap budget (pt_cnn_maxpool_digits'
          // batch layout at degree 127 needs N = 32768), the search kept the shallower degree and the promise.
          const choice = model.options['degreeChoice'] as { reached: boolean; degree: number } | undefined;
          const shallower = choice?.reached === false && choice.degree <= 63 && compiledWarnings(f, layout).some((w) => w.startsWith('degree 127 met the approximation target'));
          if (!shallower) expect(model.options['degreeChoice']).toMatchObject({ mode: 'auto', reached: true });
        }
        expect(model.calibration.precision.reached).toBe(true);
        const run = await runCompiled(model, inputTensor(f.data, f.data.test_inputs), simulateBackend(model));
        for (const c of f.data.compare) {
          const share = agreement(f, c.output, c.expected, c.kind, run.values);
          expect(share, `${c.output} vs ${c.expected}`).toBeGreaterThanOrEqual(AGREEMENT);
        }
      });
    }
  }

  it('--method remez (degree auto) and --method square compile end to end and agree with the framework on ≥ 99% of test rows', async () => {
    for (const [name, method] of [
      ['sk_mlp_breast_cancer_tanh', 'remez'],
      ['sk_mlp_digits_relu', 'remez'],
      ['sk_mlp_digits_relu', 'square'],
    ] as const) {
      const f = loadFixture(name);
      const model = compileFixture(f, 'vector', { method });
      expect(model.approximations.length).toBeGreaterThan(0);
      for (const a of model.approximations) {
        expect(a.method).toBe(method);
        if (method === 'square') expect(a.degree).toBe(2);
      }
      const run = await runCompiled(model, inputTensor(f.data, f.data.test_inputs), simulateBackend(model));
      for (const c of f.data.compare) {
        expect(agreement(f, c.output, c.expected, c.kind, run.values), `${name} --method ${method}: ${c.output}`).toBeGreaterThanOrEqual(AGREEMENT);
      }
    }
  });

  it('is deterministic: compiling twice gives byte-identical manifest.json and constants.bin', () => {
    const f = loadFixture('sk_mlp_breast_cancer_tanh');
    const a = encodeCompiledModel(compileFixture(f, 'auto'));
    const b = encodeCompiledModel(compileFixture(f, 'auto'));
    expect(a.manifest).toBe(b.manifest);
    expect(Buffer.from(a.constants).equals(Buffer.from(b.constants))).toBe(true);
    expect(a.constants.length).toBeGreaterThan(0);
  });

  it('auto picks the layout with the lower estimated latency of one prediction', () => {
    const f = loadFixture('sk_mlp_digits_relu');
    const c = compileModel(f.modelPath, { calibration: inputTensor(f.data, f.data.calibration), layout: 'auto' });
    expect(c.candidates.map((b) => b.layout).sort()).toEqual(['batch', 'vector']);
    const best = Math.min(...c.candidates.map((b) => b.latency.totalMs));
    expect(c.build.latency.totalMs).toBe(best);
  });

  it('--n-bits quantizes the weights the circuit uses; 8 bits keep a torch MLP at ≥ 99%, 2 bits do not', async () => {
    const f = loadFixture('pt_mlp_bn_digits');
    const share = async (bits: number): Promise<number> => {
      const model = compileFixture(f, 'batch', { nBits: bits });
      expect(model.quantization?.bits).toBe(bits);
      const run = await runCompiled(model, inputTensor(f.data, f.data.test_inputs), simulateBackend(model));
      return agreement(f, 'output', 'output', 'close', run.values);
    };
    expect(await share(8)).toBeGreaterThanOrEqual(AGREEMENT);
    expect(await share(2)).toBeLessThan(AGREEMENT);
  });

  it('pt_mlp_digits_relu: per-unit ReLU ranges (the default) are recorded in the manifest and agree on ≥ 99% of test rows', async () => {
    const f = loadFixture('pt_mlp_digits_relu');
    const model = compileFixture(f, 'vector');
    expect(model.approximations).toHaveLength(2);
    for (const a of model.approximations) {
      expect(a.range).toEqual([-1, 1]);
      expect(a.unitBounds!.length).toBeGreaterThan(0);
      for (const b of a.unitBounds!) expect(b).toBeGreaterThan(0);
    }
    const run = await runCompiled(model, inputTensor(f.data, f.data.test_inputs), simulateBackend(model));
    expect(agreement(f, 'output', 'output', 'close', run.values)).toBeGreaterThanOrEqual(0.99);
    const perLayer = compileFixture(f, 'vector', { perUnitRanges: false });
    for (const a of perLayer.approximations) expect(a.unitBounds).toBeUndefined();
  });

  // Quantizing the merged maps put a Scaler's (x − offset)·scale into each weight row, whose
  // entries then spanned orders of magnitude: the logistic regression agreed on 61% at 6–8 bits.
  for (const name of ['sk_logreg_breast_cancer', 'sk_mlp_digits_relu', 'pt_mlp_bn_digits']) {
    it(`${name}: --n-bits 8 quantizes the trained layers, not the preprocessing, and agrees on ≥ 95% of test rows`, async () => {
      const f = loadFixture(name);
      const model = compileFixture(f, 'vector', { nBits: 8 });
      expect(model.quantization!.stages.length).toBeGreaterThan(0);
      for (const q of model.quantization!.stages) expect(q.sources.join(' ')).not.toMatch(/Scaler/);
      const run = await runCompiled(model, inputTensor(f.data, f.data.test_inputs), simulateBackend(model));
      for (const c of f.data.compare) {
        expect(agreement(f, c.output, c.expected, c.kind, run.values), `${c.output} vs ${c.expected}`).toBeGreaterThanOrEqual(QUANTIZED_AGREEMENT);
      }
    });
  }
});
