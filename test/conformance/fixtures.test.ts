/**
 * Every fixture model, run by the float64 reference on all its test rows as one batch, must
 * reproduce the framework's own outputs (labels exactly, values within 1e-4 relative or 1e-4
 * absolute under 1) and agree with onnxruntime-node on every output ORT can return.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import type { Value } from '../../compiler/graph/tensor';
import { importModelFile } from '../../compiler/onnx/import';
import { DeepPowersError } from '../../compiler/errors';
import { inputTensor, ortInput, listFixtures, loadFixture, type ExpectedEntry, type Fixture } from '../helpers/fixtures';
import { FIXTURE_STAGE } from '../helpers/fixture-status';

const TOLERANCE = 1e-4;

function close(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= TOLERANCE * Math.max(1, Math.abs(expected));
}

function flattenExpected(e: ExpectedEntry, out: (number | string)[]): void {
  if (Array.isArray(e)) for (const x of e) flattenExpected(x, out);
  else out.push(e as number | string);
}

/** A value as rows of entries: tensors flattened row by row, ZipMap maps in label order. */
function rowsOf(v: Value): (number | string)[][] {
  if (v.kind === 'sequence-of-maps') return v.maps.map((m) => [...m.values()]);
  const rows = v.shape.length === 0 ? 1 : v.shape[0]!;
  const width = rows === 0 ? 0 : v.data.length / rows;
  const data: readonly (number | string)[] = v.kind === 'string' ? v.data : Array.from(v.data);
  return Array.from({ length: rows }, (_, r) => data.slice(r * width, (r + 1) * width));
}

/** First disagreement between two row lists, or null. */
function mismatch(actual: (number | string)[][], expected: (number | string)[][], kind: 'exact' | 'close'): string | null {
  if (actual.length !== expected.length) return `${actual.length} rows, expected ${expected.length}`;
  for (let r = 0; r < actual.length; r++) {
    const a = actual[r]!;
    const e = expected[r]!;
    if (a.length !== e.length) return `row ${r}: ${a.length} values, expected ${e.length}`;
    for (let j = 0; j < a.length; j++) {
      const x = a[j]!;
      const y = e[j]!;
      const ok = kind === 'exact' || typeof x === 'string' || typeof y === 'string' ? x === y : close(x, y);
      if (!ok) return `row ${r} value ${j}: ${String(x)}, expected ${String(y)}`;
    }
  }
  return null;
}

function runReference(f: Fixture): Map<string, Value> {
  const graph = importModelFile(f.modelPath);
  const feeds = new Map<string, Value>([[f.data.input_name, inputTensor(f.data, f.data.test_inputs)]]);
  return runGraph(graph, feeds);
}

function ortRows(t: ort.Tensor): (number | string)[][] {
  const rows = t.dims.length === 0 ? 1 : Number(t.dims[0]);
  const data = Array.from(t.data as ArrayLike<number | bigint | string>, (x) => (typeof x === 'bigint' ? Number(x) : x));
  const width = rows === 0 ? 0 : data.length / rows;
  return Array.from({ length: rows }, (_, r) => data.slice(r * width, (r + 1) * width));
}

const names = listFixtures();

describe('fixture conformance', () => {
  it('has every fixture of the status table, and no other', () => {
    expect(names).toEqual(Object.keys(FIXTURE_STAGE).sort());
  });

  for (const name of names.filter((n) => FIXTURE_STAGE[n] === 'refused-at-import')) {
    it(`${name}: refused at import with a clean unsupported-operator error`, () => {
      let error: unknown;
      try {
        importModelFile(loadFixture(name).modelPath);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DeepPowersError);
      expect((error as DeepPowersError).message).toMatch(/^unsupported operator: /);
    });
  }

  for (const name of names.filter((n) => FIXTURE_STAGE[n] !== 'refused-at-import')) {
    describe(name, () => {
      const f = loadFixture(name);

      it('matches the framework outputs in data.json', () => {
        const results = runReference(f);
        for (const c of f.data.compare) {
          const v = results.get(c.output);
          expect(v, `output ${c.output}`).toBeDefined();
          const expected = f.data.expected[c.expected]!.map((e) => {
            const row: (number | string)[] = [];
            flattenExpected(e, row);
            return row;
          });
          expect(mismatch(rowsOf(v!), expected, c.kind), `${c.output} vs expected.${c.expected}`).toBeNull();
        }
      });

      it('matches onnxruntime-node on every output it can return', async () => {
        const graph = importModelFile(f.modelPath);
        const results = runReference(f);
        const session = await ort.InferenceSession.create(f.modelPath);
        try {
          // ORT-node cannot hand back sequence-of-map outputs (ZipMap): fetch the others.
          const fetches = graph.outputs.filter((o) => o.type.kind === 'tensor').map((o) => o.name);
          expect(fetches.length).toBeGreaterThan(0);
          const input = ortInput(f.data, f.data.test_inputs);
          const x = new ort.Tensor(input.type, input.data, input.dims);
          const out = await session.run({ [f.data.input_name]: x }, fetches);
          for (const name of fetches) {
            const ours = results.get(name)!;
            const theirs = out[name]!;
            const exact = theirs.type === 'int64' || theirs.type === 'string' || theirs.type === 'int32';
            expect(mismatch(rowsOf(ours), ortRows(theirs), exact ? 'exact' : 'close'), `${name} vs onnxruntime`).toBeNull();
          }
        } finally {
          await session.release();
        }
      });
    });
  }
});
