/**
 * The tree fixtures (skl2onnx DecisionTree and RandomForest, onnxmltools XGBoost classifier and
 * regressor) compiled with default options: in simulation they agree with the framework's own
 * outputs in data.json on ≥ 99% of the test rows — labels exactly, probabilities by their most
 * likely class, regressions within 1% of max(1, |y|) — and a few rows run encrypted on SEAL agree
 * the same way. The report reads the snap back from the manifest and counts the rows it moves.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeCompiledModel } from '../../compiler/artifact/files';
import type { CompiledModel } from '../../compiler/artifact/types';
import type { Value } from '../../compiler/graph/tensor';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { formatReport } from '../../runtime/cli/report';
import { SOURCE_MODEL_FILE } from '../../compiler/artifact/types';
import { buildReport } from '../../runtime/report/build-report';
import { fheBackend } from '../../runtime/run/run-encrypted';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { agreement } from '../helpers/agreement';
import { inputTensor, loadFixture, type Fixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';

const TREE_FIXTURES = ['sk_tree_breast_cancer', 'sk_tree_wine', 'sk_rf_breast_cancer', 'sk_xgb_breast_cancer', 'sk_xgbreg_diabetes'];
const AGREEMENT = 0.99;
const ENCRYPTED_ROWS = 4;

function compileDefault(f: Fixture): CompiledModel {
  return compiledFixture(f);
}

/** Share of the first `rows` test rows a regression output gets within 1% of max(1, |y|). */
function regressionAgreement(f: Fixture, output: string, expected: string, values: ReadonlyMap<string, Value>, rows: number): number {
  const v = values.get(output);
  if (!v || v.kind !== 'numeric') throw new Error(`${output} missing`);
  const want = f.data.expected[expected]!.slice(0, rows).map((e) => (Array.isArray(e) ? (e[0] as number) : (e as number)));
  return want.filter((y, i) => Math.abs(v.data[i]! - y) <= 0.01 * Math.max(1, Math.abs(y))).length / rows;
}

function agreements(f: Fixture, values: ReadonlyMap<string, Value>, rows: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of f.data.compare) {
    out[c.output] = f.data.task === 'regression' ? regressionAgreement(f, c.output, c.expected, values, rows) : agreement(f, c.output, c.expected, c.kind, values, rows);
  }
  return out;
}

describe.each(TREE_FIXTURES)('%s', (name) => {
  const f = loadFixture(name);
  const model = compileDefault(f);

  it('compiles with defaults to the batch layout: no rotations, every calibration row keeps its leaves', () => {
    expect(model.circuit.layout).toBe('batch');
    expect(model.cost.counts.rotations).toBe(0);
    expect(model.options['trees']).toMatchObject({ calibrationRowsChanged: 0, nBitsChosen: true });
  });

  it(`simulated: agrees with the framework on ≥ ${AGREEMENT * 100}% of the test rows`, async () => {
    const run = await runCompiled(model, inputTensor(f.data, f.data.test_inputs), simulateBackend(model));
    for (const [output, share] of Object.entries(agreements(f, run.values, f.data.test_inputs.length))) {
      expect(share, output).toBeGreaterThanOrEqual(AGREEMENT);
    }
  });

  it(`encrypted (SEAL): ${ENCRYPTED_ROWS} rows agree with the framework`, async () => {
    const input = inputTensor(f.data, f.data.test_inputs.slice(0, ENCRYPTED_ROWS));
    const run = await runCompiled(model, input, fheBackend(model).backend);
    for (const [output, share] of Object.entries(agreements(f, run.values, ENCRYPTED_ROWS))) expect(share, output).toBe(1);
  }, 120_000);
});

describe('report on a compiled tree ensemble', () => {
  it('counts the data rows the snap moves to another leaf from the manifest record, and compares with the exact sums', async () => {
    const f = loadFixture('sk_xgb_breast_cancer');
    const dir = mkdtempSync(join(tmpdir(), 'deeppowers-tree-report-'));
    try {
      // A coarse grid: some calibration rows change leaves. Reported on the calibration rows as
      // data, the report (from the manifest's thresholds) must count what the compiler counted.
      const options: CompileOptions = { calibration: inputTensor(f.data, f.data.calibration), nBits: 3 };
      const compilation = compileModel(f.modelPath, options);
      writeCompiledModel(join(dir, 'm'), toCompiledModel(compilation, options, 'test'));
      copyFileSync(f.modelPath, join(dir, 'm', SOURCE_MODEL_FILE));
      writeFileSync(join(dir, 'rows.json'), JSON.stringify(f.data.calibration));
      const r = await buildReport({ compiledDir: join(dir, 'm'), dataFile: join(dir, 'rows.json') });
      expect(compilation.trees!.calibrationRowsChanged).toBeGreaterThan(0);
      expect(r.trees).toMatchObject({ nBits: 3, nBitsChosen: false, dataRows: f.data.calibration.length, dataRowsChanged: compilation.trees!.calibrationRowsChanged });
      expect(r.trees!.thresholds).toHaveLength(compilation.trees!.branches);
      expect(r.circuit.depth.consistent).toBe(true);
      expect(formatReport(r)).toMatch(/tree ensemble[\s\S]*rows reaching another leaf: \d+ of 200 calibration, \d+ of 200 data/);

      // With the default grid no row changes, and the simulated sums equal the exact ones.
      const exact = await (async () => {
        const o: CompileOptions = { calibration: inputTensor(f.data, f.data.calibration) };
        writeCompiledModel(join(dir, 'd'), toCompiledModel(compileModel(f.modelPath, o), o, 'test'));
        copyFileSync(f.modelPath, join(dir, 'd', SOURCE_MODEL_FILE));
        return buildReport({ compiledDir: join(dir, 'd'), dataFile: join(dir, 'rows.json') });
      })();
      expect(exact.trees!.dataRowsChanged).toBe(0);
      expect(exact.accuracy.body.maxAbsDelta).toBeLessThan(1e-6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
