import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { loadLabels } from '../../runtime/report/labels';

const dir = mkdtempSync(join(tmpdir(), 'dp-labels-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

test('a JSON array of labels, and one-element rows', () => {
  expect(loadLabels(file('a.json', '[1, 0, "cat", [2]]'))).toEqual([1, 0, 'cat', 2]);
});

test("an object's labels or test_labels member (a fixture's data.json)", () => {
  expect(loadLabels(file('b.json', '{"test_inputs": [[1], [2]], "test_labels": [0, 1]}'))).toEqual([0, 1]);
  expect(loadLabels(file('c.json', '{"labels": ["a", "b"]}'))).toEqual(['a', 'b']);
});

test('an object with neither, or with both, is refused', () => {
  expect(() => loadLabels(file('d.json', '{"rows": [1]}'))).toThrow(/exactly one of "labels", "test_labels"/);
  expect(() => loadLabels(file('e.json', '{"labels": [1], "test_labels": [1]}'))).toThrow(/exactly one of/);
  expect(() => loadLabels(file('f.json', '{"labels": 3}'))).toThrow(/exactly one of/);
});

test('a one-column CSV with a header', () => {
  expect(loadLabels(file('g.csv', 'label\n1\n0\n'))).toEqual([1, 0]);
});
