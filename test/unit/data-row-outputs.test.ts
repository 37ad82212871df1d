import { describe, expect, it } from 'vitest';
import { numeric, strings, type Value } from '../../compiler/graph/tensor';
import { appendRowOutputs, rowOutputs } from '../../runtime/run/outputs';
import { formatJson } from '../../runtime/cli/output';

const out = (entries: [string, Value][], rows: number) => rowOutputs(new Map(entries), entries.map(([n]) => n), rows);

describe('per-row output contract', () => {
  it('turns [N] and [N,1] outputs into one scalar per row', () => {
    const r = out([['label', numeric('int64', [3], [1, 0, 2])], ['y', numeric('float64', [3, 1], [0.1, 0.2, 0.3])]], 3);
    expect(r).toEqual({ label: [1, 0, 2], y: [0.1, 0.2, 0.3] });
  });

  it('keeps string labels as strings', () => {
    expect(out([['label', strings([2], ['setosa', 'virginica'])]], 2)).toEqual({ label: ['setosa', 'virginica'] });
  });

  it('slices wider tensors per row, nested by shape', () => {
    const r = out([['p', numeric('float64', [2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8])]], 2);
    expect(r.p).toEqual([[[1, 2], [3, 4]], [[5, 6], [7, 8]]]);
  });

  it('prints float32 outputs as float32 numbers and keeps float64 exact', () => {
    expect(out([['p', numeric('float32', [1, 1], [0.1])]], 1).p).toEqual([Math.fround(0.1)]);
    expect(out([['p', numeric('float64', [1, 1], [0.1])]], 1).p).toEqual([0.1]);
  });

  it('writes NaN and infinities as null', () => {
    expect(out([['p', numeric('float64', [1, 2], [NaN, Infinity])]], 1).p).toEqual([[null, null]]);
  });

  it('turns a ZipMap sequence into one {label: probability} object per row', () => {
    const maps = [new Map<number | string, number>([[0, 0.25], [1, 0.75]]), new Map<number | string, number>([[0, 1], [1, 0]])];
    expect(out([['zip', { kind: 'sequence-of-maps', keyType: 'int64', maps }]], 2).zip).toEqual([{ 0: 0.25, 1: 0.75 }, { 0: 1, 1: 0 }]);
  });

  it('refuses outputs that are not per row', () => {
    expect(() => out([['s', numeric('float64', [], [1])]], 1)).toThrow(/cannot be split per row/);
    expect(() => out([['s', numeric('float64', [3], [1, 2, 3])]], 2)).toThrow(/shape \[3\]/);
  });

  it('appends chunks row after row', () => {
    const a = out([['y', numeric('float64', [1], [1])]], 1);
    expect(appendRowOutputs(a, out([['y', numeric('float64', [1], [2])]], 1))).toEqual({ y: [1, 2] });
  });

  it('prints as JSON that parses back to the same value, one line per row entry', () => {
    const value = { model: 'm', rows: 2, outputs: { label: ['a', 'b'], p: [[0.1, 0.9], [1, null]], zip: [{ 0: 0.5 }, {}] }, empty: [] };
    const text = formatJson(value);
    expect(JSON.parse(text)).toEqual(value);
    expect(text).toContain('\n      [0.1,0.9],\n');
  });
});
