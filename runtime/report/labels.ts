import { readFileSync } from 'node:fs';
import { fail } from '../../compiler/errors';
import { formatOf } from '../data/load-rows';

/**
 * True labels or targets, one per data row: a JSON array (of numbers or strings, or of
 * one-element arrays), or an object holding that array as exactly one of `labels` and
 * `test_labels` (so a fixture's data.json serves as both `--data` and `--labels`), or a CSV
 * file with a single column and an optional header line.
 */
export function loadLabels(file: string): (number | string)[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    fail('BAD_DATA', `cannot read labels file ${file}: ${err.code === 'ENOENT' ? 'no such file' : (err.code ?? err.message)}`);
  }
  return formatOf(file, text) === 'json' ? jsonLabels(text, file) : csvLabels(text, file);
}

function jsonLabels(text: string, file: string): (number | string)[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail('BAD_DATA', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  const labels = labelsArray(doc, file);
  return labels.map((v: unknown, i) => {
    const x = Array.isArray(v) && v.length === 1 ? (v[0] as unknown) : v;
    if ((typeof x === 'number' && Number.isFinite(x)) || typeof x === 'string') return x;
    fail('BAD_DATA', `${file}: label ${i + 1} is ${JSON.stringify(v)}, not a number or a string`);
  });
}

const LABEL_KEYS = ['labels', 'test_labels'] as const;

function labelsArray(doc: unknown, file: string): unknown[] {
  if (Array.isArray(doc)) return doc;
  if (doc !== null && typeof doc === 'object') {
    const present = LABEL_KEYS.filter((k) => k in doc);
    const held = present.length === 1 ? (doc as Record<string, unknown>)[present[0]!] : undefined;
    if (Array.isArray(held)) return held;
  }
  return fail('BAD_DATA', `${file}: labels must be a JSON array with one label per row, or an object with exactly one of "labels", "test_labels" holding it`);
}

function csvLabels(text: string, file: string): (number | string)[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const out: (number | string)[] = [];
  lines.forEach((line, i) => {
    if (line === '') return;
    if (line.includes(',')) fail('BAD_DATA', `${file} line ${i + 1}: a labels CSV has one column, found "${line}"`);
    const unquoted = line.replace(/^"(.*)"$/, '$1');
    const n = Number(unquoted);
    // A non-numeric first line is a header.
    if (out.length === 0 && i === lines.findIndex((l) => l !== '') && !Number.isFinite(n) && /[a-z]/i.test(unquoted) && lines.slice(i + 1).some((l) => Number.isFinite(Number(l)) && l !== '')) return;
    out.push(unquoted !== '' && Number.isFinite(n) ? n : unquoted);
  });
  if (out.length === 0) fail('BAD_DATA', `${file} holds no labels`);
  return out;
}
