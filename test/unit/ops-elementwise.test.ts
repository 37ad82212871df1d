import { describe, expect, it } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import { numeric } from '../../compiler/graph/tensor';
import { f32, f64, inferShape, iota, runNumeric } from '../helpers/op-harness';

describe('numpy broadcasting', () => {
  it('adds a row vector to every row and a column to every column', () => {
    const rows = runNumeric('Add', {}, iota([2, 3]), f64([3], [10, 20, 30]));
    expect(rows.shape).toEqual([2, 3]);
    expect([...rows.data]).toEqual([10, 21, 32, 13, 24, 35]);
    const outer = runNumeric('Mul', {}, f64([2, 1], [1, 2]), f64([1, 3], [1, 10, 100]));
    expect(outer.shape).toEqual([2, 3]);
    expect([...outer.data]).toEqual([1, 10, 100, 2, 20, 200]);
  });

  it('broadcasts across ranks in both directions', () => {
    // [2,1,3] - [4,1] → [2,4,3]: out[i,j,k] = a[i,0,k] - b[j,0]
    const a = iota([2, 1, 3]);
    const b = f64([4, 1], [0, 100, 200, 300]);
    const out = runNumeric('Sub', {}, a, b);
    expect(out.shape).toEqual([2, 4, 3]);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 3; k++) {
      expect(out.data[(i * 4 + j) * 3 + k]).toBe(a.data[i * 3 + k]! - b.data[j]!);
    }
  });

  it('refuses shapes that do not broadcast', () => {
    expect(() => runNumeric('Add', {}, iota([2, 3]), iota([2]))).toThrow(DeepPowersError);
    expect(() => inferShape('Add', {}, { dtype: 'float32', shape: [2, 3] }, { dtype: 'float32', shape: [4] })).toThrow(/do not broadcast/);
  });

  it('keeps symbolic dims through static inference', () => {
    expect(inferShape('Add', {}, { dtype: 'float32', shape: ['N', 1, 4] }, { dtype: 'float32', shape: [3, 1] })).toEqual(['N', 3, 4]);
    expect(inferShape('Add', {}, { dtype: 'float32', shape: ['N', 4] }, { dtype: 'float32', shape: ['N', 1] })).toEqual(['N', 4]);
    expect(inferShape('Add', {}, { dtype: 'float32', shape: ['N'] }, { dtype: 'float32', shape: ['M'] })).toEqual([null]);
  });
});

describe('integer arithmetic', () => {
  it('wraps uint8 and int8 like the hardware types', () => {
    const sum = runNumeric('Add', {}, numeric('uint8', [2], [200, 5]), numeric('uint8', [2], [100, 10]));
    expect([...sum.data]).toEqual([44, 15]);
    const diff = runNumeric('Sub', {}, numeric('uint8', [1], [3]), numeric('uint8', [1], [5]));
    expect([...diff.data]).toEqual([254]);
    const neg = runNumeric('Neg', {}, numeric('int8', [1], [-128]));
    expect([...neg.data]).toEqual([-128]);
  });

  it('multiplies int32 exactly past 2^53 before wrapping', () => {
    const p = runNumeric('Mul', {}, numeric('int32', [2], [2147483647, 65537]), numeric('int32', [2], [2147483647, 65537]));
    expect([...p.data]).toEqual([1, 131073]);
  });

  it('divides integers truncating toward zero and refuses division by zero', () => {
    const q = runNumeric('Div', {}, numeric('int32', [4], [7, -7, 7, -7]), numeric('int32', [4], [2, 2, -2, -2]));
    expect([...q.data]).toEqual([3, -3, -3, 3]);
    expect(() => runNumeric('Div', {}, numeric('int64', [1], [1]), numeric('int64', [1], [0]))).toThrow(/division by zero/);
    expect([...runNumeric('Div', {}, f64([1], [1]), f64([1], [0])).data]).toEqual([Infinity]);
  });
});

describe('activations', () => {
  it('sigmoid does not overflow at the extremes', () => {
    const s = runNumeric('Sigmoid', {}, f64([3], [-1000, 0, 1000]));
    expect([...s.data]).toEqual([0, 0.5, 1]);
  });

  it('clips with attributes before opset 11 and with inputs from 11', () => {
    const x = f32([4], [-2, -0.5, 0.5, 2]);
    expect([...runNumeric('Clip', { opset: 6, attrs: { min: { type: 'float', value: -1 }, max: { type: 'float', value: 1 } } }, x).data]).toEqual([-1, -0.5, 0.5, 1]);
    expect([...runNumeric('Clip', { opset: 13 }, x, f32([], [0]), undefined).data]).toEqual([0, 0, 0.5, 2]);
    expect([...runNumeric('Clip', { opset: 13 }, x, undefined, f32([], [0])).data]).toEqual([-2, -0.5, 0, 0]);
  });
});
