import { describe, expect, it } from 'vitest';
import { f64, int, iota, runNumeric } from '../helpers/op-harness';

function sums(data: Float64Array, groups: number[][]): number[] {
  return groups.map((g) => g.reduce((s, i) => s + data[i]!, 0));
}

describe('Softmax across the opset 13 change', () => {
  const x = iota([2, 2, 2]);

  it('before opset 13 coerces to 2-D at axis 1: each batch row of 4 sums to one', () => {
    const y = runNumeric('Softmax', { opset: 11 }, x);
    const s = sums(y.data, [[0, 1, 2, 3], [4, 5, 6, 7]]);
    s.forEach((v) => expect(v).toBeCloseTo(1, 12));
    // Within a row the values are a softmax over 4 logits 0..3.
    const z = [0, 1, 2, 3].map((v) => Math.exp(v));
    const total = z.reduce((a, b) => a + b, 0);
    expect(y.data[3]).toBeCloseTo(z[3]! / total, 12);
  });

  it('from opset 13 normalizes along the last axis only', () => {
    const y = runNumeric('Softmax', { opset: 13 }, x);
    const s = sums(y.data, [[0, 1], [2, 3], [4, 5], [6, 7]]);
    s.forEach((v) => expect(v).toBeCloseTo(1, 12));
    expect(y.data[1]).toBeCloseTo(Math.exp(1) / (1 + Math.exp(1)), 12);
  });

  it('along axis 1 at opset 13 groups elements a stride apart', () => {
    const y = runNumeric('Softmax', { opset: 13, attrs: { axis: int(1) } }, x);
    sums(y.data, [[0, 2], [1, 3], [4, 6], [5, 7]]).forEach((v) => expect(v).toBeCloseTo(1, 12));
  });

  it('stays finite for huge logits, and LogSoftmax is its logarithm', () => {
    const big = f64([1, 3], [1000, 1001, 1002]);
    const y = runNumeric('Softmax', {}, big);
    const l = runNumeric('LogSoftmax', {}, big);
    for (let i = 0; i < 3; i++) {
      expect(Number.isFinite(y.data[i]!)).toBe(true);
      expect(l.data[i]).toBeCloseTo(Math.log(y.data[i]!), 12);
    }
  });
});

describe('ArgMax', () => {
  it('reduces one axis with keepdims and picks the first or last of ties', () => {
    const x = f64([2, 3], [1, 5, 5, 7, 2, 7]);
    const first = runNumeric('ArgMax', { attrs: { axis: int(1) } }, x);
    expect(first.dtype).toBe('int64');
    expect(first.shape).toEqual([2, 1]);
    expect([...first.data]).toEqual([1, 0]);
    const last = runNumeric('ArgMax', { attrs: { axis: int(1), keepdims: int(0), select_last_index: int(1) } }, x);
    expect(last.shape).toEqual([2]);
    expect([...last.data]).toEqual([2, 2]);
  });
});
