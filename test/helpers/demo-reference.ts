import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { frameworkAccuracy, listFixtures, loadFixture, type ExpectedEntry, type Fixture } from './fixtures';

const MODELS = join(import.meta.dirname, '..', '..', 'models');

/** One model of `deeppowers demo --json`, as the tests read it. */
export interface DemoModelJson {
  readonly name: string;
  readonly rows: number;
  readonly label_output: string;
  readonly labels: readonly (number | string)[];
  readonly outputs: Record<string, unknown[]>;
  readonly reference_outputs: Record<string, unknown[]>;
  readonly correct: number;
  readonly agreement: number;
}

/** The fixture a bundled model copies: the one whose model.onnx has the same bytes. */
export function bundledModelFixture(name: string): Fixture {
  const bytes = readFileSync(join(MODELS, name, 'model.onnx'));
  const found = listFixtures().filter((f) => readFileSync(loadFixture(f).modelPath).equals(bytes));
  expect(found, `models/${name}/model.onnx is a copy of exactly one fixture`).toHaveLength(1);
  return loadFixture(found[0]!);
}

function argmax(row: readonly number[]): number {
  return row.reduce((best, v, i) => (v > row[best]! ? i : best), 0);
}

/**
 * A demo result against the framework, not against the demo's own arithmetic: the sample rows are
 * the fixture's first held-out rows, and the fixture's scikit-learn outputs on them are the
 * reference. Labels ('exact' outputs) equal the framework's, encrypted and plaintext; per-row
 * vectors ('close') are within 1e-4 of predict_proba in plaintext and have its argmax encrypted;
 * `correct` and `agreement` are what those labels give.
 */
export function expectDemoAgreesWithFramework(m: DemoModelJson): void {
  const f = bundledModelFixture(m.name);
  const sample = JSON.parse(readFileSync(join(MODELS, m.name, 'sample.json'), 'utf8')) as { rows: unknown[] };
  expect(sample.rows.slice(0, m.rows), `models/${m.name}/sample.json rows are ${f.name}'s first test rows`).toEqual(f.data.test_inputs.slice(0, m.rows));
  const trueLabels = f.data.test_labels.slice(0, m.rows);
  expect(m.labels).toEqual(trueLabels);
  for (const c of f.data.compare) {
    const want = f.data.expected[c.expected]!.slice(0, m.rows);
    const encrypted = m.outputs[c.output]!;
    const plaintext = m.reference_outputs[c.output]!;
    if (c.kind === 'exact') {
      expect(encrypted, `${m.name} ${c.output} (encrypted)`).toEqual(want);
      expect(plaintext, `${m.name} ${c.output} (plaintext)`).toEqual(want);
      continue;
    }
    want.forEach((w: ExpectedEntry, i) => {
      const expected = w as number[];
      const p = plaintext[i] as number[];
      p.forEach((v, k) => expect(Math.abs(v - expected[k]!), `${m.name} ${c.output} row ${i} [${k}] (plaintext)`).toBeLessThan(1e-4));
      expect(argmax(encrypted[i] as number[]), `${m.name} ${c.output} row ${i} argmax (encrypted)`).toBe(argmax(expected));
    });
  }
  expect(m.correct).toBe(Math.round(frameworkAccuracy(f.data, m.rows) * m.rows));
  // Encrypted labels equal the framework's (above), and so do the plaintext ones: all agree.
  expect(m.agreement).toBe(m.rows);
}
