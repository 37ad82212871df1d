import { describe, expect, it } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import { strings } from '../../compiler/graph/tensor';
import { f64, i64, importGraph, inferShape, int, ints, iota, runNumeric, runOp } from '../helpers/op-harness';

const float = (shape: (number | string | null)[]) => ({ dtype: 'float32' as const, shape });
const constInts = (values: number[]) => ({ dtype: 'int64' as const, shape: [values.length], value: i64([values.length], values) });

describe('Reshape', () => {
  it('infers 0 (copy) and -1 (the rest), cancelling copied symbolic dims', () => {
    expect(inferShape('Reshape', { opset: 14 }, float(['N', 3, 4]), constInts([0, -1]))).toEqual(['N', 12]);
    expect(inferShape('Reshape', { opset: 14 }, float([2, 3, 4]), constInts([-1, 6]))).toEqual([4, 6]);
    expect(inferShape('Reshape', { opset: 14 }, float(['N', 3, 4]), constInts([-1, 4]))).toEqual([null, 4]);
    // A non-constant shape still gives the rank.
    expect(inferShape('Reshape', { opset: 14 }, float([2, 3]), { dtype: 'int64', shape: [3] })).toEqual([null, null, null]);
  });

  it('treats 0 as a real zero with allowzero (opset 14)', () => {
    expect(inferShape('Reshape', { opset: 14, attrs: { allowzero: int(1) } }, float([0, 3]), constInts([3, 0]))).toEqual([3, 0]);
    // Without it the 0 copies dim 1 (3): 9 elements from an empty tensor.
    expect(() => inferShape('Reshape', { opset: 14 }, float([0, 3]), constInts([3, 0]))).toThrow(/cannot reshape/);
  });

  it('refuses impossible targets', () => {
    expect(() => inferShape('Reshape', { opset: 14 }, float([2, 3]), constInts([4, -1]))).toThrow(DeepPowersError);
    expect(() => inferShape('Reshape', { opset: 14 }, float([2, 3]), constInts([-1, -1]))).toThrow(/more than one -1/);
    expect(() => runOp('Reshape', { opset: 14 }, iota([2, 3]), i64([2], [5, 1]))).toThrow(/cannot reshape/);
  });

  it('moves strings as well as numbers', () => {
    const [y] = runOp('Reshape', { opset: 14 }, strings([2, 2], ['a', 'b', 'c', 'd']), i64([1], [-1]));
    expect(y).toMatchObject({ kind: 'string', shape: [4], data: ['a', 'b', 'c', 'd'] });
  });
});

describe('Flatten', () => {
  it('splits the shape at axis, negative axes counting from the end', () => {
    expect(inferShape('Flatten', {}, float(['N', 3, 4, 5]))).toEqual(['N', 60]);
    expect(inferShape('Flatten', { attrs: { axis: int(0) } }, float([2, 3]))).toEqual([1, 6]);
    expect(inferShape('Flatten', { attrs: { axis: int(-1) } }, float([2, 3, 4]))).toEqual([6, 4]);
    expect(inferShape('Flatten', { attrs: { axis: int(2) } }, float(['N', 3, 4]))).toEqual([null, 4]);
    expect(runNumeric('Flatten', { attrs: { axis: int(3) } }, iota([2, 3, 4])).shape).toEqual([24, 1]);
  });
});

describe('Transpose, Squeeze, Unsqueeze, Concat', () => {
  it('transposes with the default (reversed) and an explicit permutation', () => {
    const x = iota([2, 3]);
    const t = runNumeric('Transpose', {}, x);
    expect(t.shape).toEqual([3, 2]);
    expect([...t.data]).toEqual([0, 3, 1, 4, 2, 5]);
    const p = runNumeric('Transpose', { attrs: { perm: ints([1, 2, 0]) } }, iota([2, 3, 4]));
    expect(p.shape).toEqual([3, 4, 2]);
    // p[i,j,k] = x[k,i,j]
    expect(p.data[(1 * 4 + 2) * 2 + 1]).toBe(1 * 12 + 1 * 4 + 2);
  });

  it('takes axes as an attribute before opset 13 and as an input from 13', () => {
    expect(runNumeric('Squeeze', { opset: 11, attrs: { axes: ints([0, -1]) } }, iota([1, 3, 1])).shape).toEqual([3]);
    expect(runNumeric('Squeeze', { opset: 13 }, iota([1, 3, 1]), i64([1], [2])).shape).toEqual([1, 3]);
    expect(runNumeric('Squeeze', { opset: 13 }, iota([1, 3, 1])).shape).toEqual([3]);
    expect(() => runNumeric('Squeeze', { opset: 13 }, iota([2, 3]), i64([1], [0]))).toThrow(/squeeze axis 0/);
    expect(runNumeric('Unsqueeze', { opset: 11, attrs: { axes: ints([0, 3]) } }, iota([2, 3])).shape).toEqual([1, 2, 3, 1]);
    expect(runNumeric('Unsqueeze', { opset: 13 }, iota([2, 3]), i64([2], [-1, 1])).shape).toEqual([2, 1, 3, 1]);
    expect(inferShape('Unsqueeze', { opset: 13 }, float(['N', 4]), constInts([1]))).toEqual(['N', 1, 4]);
  });

  it('concatenates along any axis and sums the concatenated dims statically', () => {
    const y = runNumeric('Concat', { attrs: { axis: int(1) } }, iota([2, 1]), f64([2, 2], [10, 11, 12, 13]));
    expect(y.shape).toEqual([2, 3]);
    expect([...y.data]).toEqual([0, 10, 11, 1, 12, 13]);
    expect(inferShape('Concat', { attrs: { axis: int(-1) } }, float(['N', 2]), float(['N', 3]))).toEqual(['N', 5]);
    expect(() => runNumeric('Concat', { attrs: { axis: int(0) } }, iota([2, 1]), iota([2, 2]))).toThrow(DeepPowersError);
  });
});

describe('Shape, Gather, Slice', () => {
  it('computes shapes, gathers with negative indices and slices backwards', () => {
    expect([...runNumeric('Shape', { opset: 15, attrs: { start: int(1) } }, iota([2, 3, 4])).data]).toEqual([3, 4]);
    const g = runNumeric('Gather', { attrs: { axis: int(1) } }, iota([2, 3]), i64([2], [-1, 0]));
    expect(g.shape).toEqual([2, 2]);
    expect([...g.data]).toEqual([2, 0, 5, 3]);
    const s = runNumeric('Slice', {}, iota([2, 5]), i64([1], [-1]), i64([1], [-1000]), i64([1], [1]), i64([1], [-2]));
    expect(s.shape).toEqual([2, 3]);
    expect([...s.data]).toEqual([4, 2, 0, 9, 7, 5]);
    const old = runNumeric('Slice', { opset: 9, attrs: { starts: ints([1]), ends: ints([1000]), axes: ints([0]) } }, iota([3, 2]));
    expect([...old.data]).toEqual([2, 3, 4, 5]);
  });
});

describe('through the importer', () => {
  it('types a PyTorch-style flatten/reshape chain with a symbolic batch', () => {
    const g = importGraph({
      opset: 14,
      inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 2, 3, 3] }],
      initializers: { shape: i64([2], [0, -1]) },
      nodes: [
        { opType: 'Reshape', inputs: ['x', 'shape'], outputs: ['r'] },
        { opType: 'Flatten', inputs: ['x'], outputs: ['f'] },
        { opType: 'Add', inputs: ['r', 'f'], outputs: ['y'] },
      ],
      outputs: ['y'],
    });
    expect(g.valueTypes.get('r')).toEqual({ kind: 'tensor', dtype: 'float32', shape: ['batch', 18] });
    expect(g.outputs[0]!.type).toEqual({ kind: 'tensor', dtype: 'float32', shape: ['batch', 18] });
  });

  it('refuses a reshape that cannot fit at import time', () => {
    const build = () =>
      importGraph({
        opset: 14,
        inputs: [{ name: 'x', dtype: 'float32', shape: [2, 3] }],
        initializers: { shape: i64([2], [4, 4]) },
        nodes: [{ opType: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
        outputs: ['y'],
      });
    expect(build).toThrow(expect.objectContaining({ code: 'BAD_GRAPH' }));
  });
});
