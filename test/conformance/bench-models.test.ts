/**
 * The benchmark's own models (bench/models, made by scripts/make-bench-models.ts) are fixtures in
 * the same format as test/fixtures: the reference interpreter reproduces onnxruntime's outputs
 * recorded in their data.json, their labels are mostly right, and the bench lists them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import type { Value } from '../../compiler/graph/tensor';
import { importModelFile } from '../../compiler/onnx/import';
import { BENCH_MODELS_DIR, benchFixtureNames } from '../../runtime/bench/fixture-data';
import { inputTensor, type FixtureData } from '../helpers/fixtures';

const names = readdirSync(BENCH_MODELS_DIR, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name);

describe('bench models', () => {
  it('are the two the bench adds to the fixtures', () => {
    expect(names.sort()).toEqual(['bench_cnn2relu_digits', 'bench_mlp784_digits28']);
    for (const n of names) expect(benchFixtureNames()).toContain(n);
  });

  for (const name of names) {
    it(`${name}: the reference interpreter reproduces onnxruntime's outputs on the test rows`, () => {
      const dir = join(BENCH_MODELS_DIR, name);
      const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')) as FixtureData & { expected: { output: number[][] }; test_labels: number[] };
      const graph = importModelFile(join(dir, 'model.onnx'));
      const out = runGraph(graph, new Map<string, Value>([[data.input_name, inputTensor(data, data.test_inputs)]])).get('output')!;
      if (out.kind !== 'numeric') throw new Error('numeric output expected');
      const expected = data.expected.output;
      expect(out.shape).toEqual([expected.length, 10]);
      expected.forEach((row, r) =>
        row.forEach((e, j) => expect(Math.abs(out.data[r * 10 + j]! - e), `row ${r} logit ${j}`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(e)))),
      );
      // Trained models, not random weights: most held-out digits are right.
      const argmax = (row: number[]) => row.indexOf(Math.max(...row));
      const right = expected.filter((row, r) => argmax(row) === data.test_labels[r]).length;
      expect(right / expected.length).toBeGreaterThanOrEqual(0.85);
    });
  }
});
