import { describe, expect, it } from 'vitest';
import { f64, inferShape, int, iota, float, runNumeric } from '../helpers/op-harness';

/** Plain triple loop over explicit indices, independent of the kernel's offset arithmetic. */
function matmul(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0]!.map((_v, j) => row.reduce((s, x, p) => s + x * b[p]![j]!, 0)));
}

function rows(t: { shape: readonly number[]; data: Float64Array }): number[][] {
  const [m, n] = t.shape as [number, number];
  return Array.from({ length: m }, (_v, i) => Array.from(t.data.subarray(i * n, (i + 1) * n)));
}

function transpose(a: number[][]): number[][] {
  return a[0]!.map((_v, j) => a.map((r) => r[j]!));
}

describe('Gemm', () => {
  const a = f64([2, 3], [1, 2, 3, 4, 5, 6]);
  const b = f64([3, 4], [1, 0, -1, 2, 0.5, 1, 1, -2, 3, 2, 0, 1]);

  it('computes alpha·A·B + beta·C with C broadcast from a row', () => {
    const c = f64([4], [1, 2, 3, 4]);
    const y = runNumeric('Gemm', { attrs: { alpha: float(2), beta: float(0.5) } }, a, b, c);
    const expected = matmul(rows(a), rows(b)).map((r) => r.map((v, j) => 2 * v + 0.5 * c.data[j]!));
    expect(rows(y)).toEqual(expected);
  });

  it('reads transposed operands', () => {
    const at = f64([3, 2], transpose(rows(a)).flat());
    const bt = f64([4, 3], transpose(rows(b)).flat());
    const plain = rows(runNumeric('Gemm', {}, a, b));
    expect(rows(runNumeric('Gemm', { attrs: { transA: int(1) } }, at, b))).toEqual(plain);
    expect(rows(runNumeric('Gemm', { attrs: { transB: int(1) } }, a, bt))).toEqual(plain);
    expect(rows(runNumeric('Gemm', { attrs: { transA: int(1), transB: int(1) } }, at, bt))).toEqual(plain);
    expect(plain).toEqual(matmul(rows(a), rows(b)));
  });

  it('accepts a scalar or column C and no C from opset 11', () => {
    const scalar = runNumeric('Gemm', {}, a, b, f64([], [10]));
    expect(rows(scalar)).toEqual(matmul(rows(a), rows(b)).map((r) => r.map((v) => v + 10)));
    const column = runNumeric('Gemm', {}, a, b, f64([2, 1], [100, 200]));
    expect(rows(column)).toEqual(matmul(rows(a), rows(b)).map((r, i) => r.map((v) => v + (i + 1) * 100)));
    expect(() => runNumeric('Gemm', {}, a, b, f64([3], [1, 2, 3]))).toThrow(/broadcast/);
  });

  it('infers [M, N] from transposed shapes and checks K', () => {
    expect(inferShape('Gemm', { attrs: { transB: int(1) } }, { dtype: 'float32', shape: ['batch', 64] }, { dtype: 'float32', shape: [10, 64] }, { dtype: 'float32', shape: [10] })).toEqual(['batch', 10]);
    expect(() => inferShape('Gemm', {}, { dtype: 'float32', shape: ['batch', 64] }, { dtype: 'float32', shape: [10, 64] })).toThrow(/inner dimensions/);
  });
});

describe('MatMul', () => {
  it('broadcasts batch dims numpy-style', () => {
    const a = iota([2, 1, 2, 3]);
    const b = iota([3, 3, 2]);
    const y = runNumeric('MatMul', {}, a, b);
    expect(y.shape).toEqual([2, 3, 2, 2]);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        const am = rows({ shape: [2, 3], data: a.data.subarray(i * 6, i * 6 + 6) });
        const bm = rows({ shape: [3, 2], data: b.data.subarray(j * 6, j * 6 + 6) });
        const base = (i * 3 + j) * 4;
        expect(rows({ shape: [2, 2], data: y.data.subarray(base, base + 4) })).toEqual(matmul(am, bm));
      }
    }
  });

  it('promotes 1-D operands and drops the added dim', () => {
    const v = f64([3], [1, 2, 3]);
    const m = iota([3, 2]);
    const vm = runNumeric('MatMul', {}, v, m);
    expect(vm.shape).toEqual([2]);
    expect([...vm.data]).toEqual([0 + 2 * 2 + 3 * 4, 1 + 2 * 3 + 3 * 5]);
    const mv = runNumeric('MatMul', {}, iota([2, 3]), v);
    expect(mv.shape).toEqual([2]);
    expect([...mv.data]).toEqual([0 + 2 + 6, 3 + 8 + 15]);
    expect(runNumeric('MatMul', {}, v, v).shape).toEqual([]);
  });

  it('infers batched shapes with symbolic dims', () => {
    expect(inferShape('MatMul', {}, { dtype: 'float32', shape: ['N', 30] }, { dtype: 'float32', shape: [30, 16] })).toEqual(['N', 16]);
    expect(inferShape('MatMul', {}, { dtype: 'float32', shape: ['B', 1, 4, 5] }, { dtype: 'float32', shape: [7, 5, 2] })).toEqual(['B', 7, 4, 2]);
    expect(() => inferShape('MatMul', {}, { dtype: 'float32', shape: [4, 5] }, { dtype: 'float32', shape: [4, 5] })).toThrow(/inner dimensions/);
  });
});
