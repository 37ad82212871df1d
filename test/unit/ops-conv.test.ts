import { describe, expect, it } from 'vitest';
import { f64, inferShape, int, ints, iota, runNumeric, runOp, str } from '../helpers/op-harness';

const ones = (shape: number[]) => f64(shape, new Array(shape.reduce((a, b) => a * b, 1)).fill(1));

describe('Conv', () => {
  it('slides a 2×2 kernel over a 3×3 image', () => {
    const y = runNumeric('Conv', {}, f64([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]), ones([1, 1, 2, 2]));
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expect([...y.data]).toEqual([12, 16, 24, 28]);
  });

  it('counts only real pixels under padding, with strides', () => {
    // 3×3 ones, kernel 3×3 ones, pad 1, stride 2: every window sits on a corner and sees 4 pixels.
    const y = runNumeric('Conv', { attrs: { pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) } }, ones([1, 1, 3, 3]), ones([1, 1, 3, 3]));
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expect([...y.data]).toEqual([4, 4, 4, 4]);
    // Asymmetric pads: only after the input.
    const z = runNumeric('Conv', { attrs: { pads: ints([0, 0, 1, 1]) } }, ones([1, 1, 2, 2]), ones([1, 1, 2, 2]));
    expect([...z.data]).toEqual([4, 2, 2, 1]);
  });

  it('keeps groups apart and adds the bias per output channel', () => {
    // Two input channels, group=2: output channel g sees only input channel g.
    const x = f64([1, 2, 1, 2], [1, 2, 10, 20]);
    const w = f64([4, 1, 1, 1], [1, -1, 2, 3]);
    const b = f64([4], [0, 0, 0, 100]);
    const y = runNumeric('Conv', { attrs: { group: int(2) } }, x, w, b);
    expect(y.shape).toEqual([1, 4, 1, 2]);
    expect([...y.data]).toEqual([1, 2, -1, -2, 20, 40, 130, 160]);
    expect(() => runNumeric('Conv', { attrs: { group: int(2) } }, x, f64([4, 2, 1, 1], new Array(8).fill(1)))).toThrow(/groups/);
  });

  it('dilates the kernel and resolves SAME_UPPER / SAME_LOWER padding', () => {
    const x = f64([1, 1, 5], [0, 1, 2, 3, 4]);
    const dilated = runNumeric('Conv', { attrs: { dilations: ints([2]) } }, x, ones([1, 1, 2]));
    expect([...dilated.data]).toEqual([2, 4, 6]);
    const x3 = f64([1, 1, 3], [1, 2, 3]);
    expect([...runNumeric('Conv', { attrs: { auto_pad: str('SAME_UPPER') } }, x3, ones([1, 1, 2])).data]).toEqual([3, 5, 3]);
    expect([...runNumeric('Conv', { attrs: { auto_pad: str('SAME_LOWER') } }, x3, ones([1, 1, 2])).data]).toEqual([1, 3, 5]);
  });

  it('infers output shapes from pads, strides and the weight shape', () => {
    const x = { dtype: 'float32' as const, shape: ['N', 3, 32, 32] };
    const w = { dtype: 'float32' as const, shape: [8, 3, 5, 5] };
    expect(inferShape('Conv', { attrs: { pads: ints([2, 2, 2, 2]), strides: ints([2, 2]) } }, x, w)).toEqual(['N', 8, 16, 16]);
    expect(inferShape('Conv', { attrs: { auto_pad: str('VALID') } }, x, w)).toEqual(['N', 8, 28, 28]);
    expect(inferShape('Conv', { attrs: { auto_pad: str('SAME_UPPER'), strides: ints([3, 3]) } }, x, w)).toEqual(['N', 8, 11, 11]);
    expect(inferShape('Conv', {}, { dtype: 'float32', shape: [1, 3, 'H', 9] }, w)).toEqual([1, 8, null, 5]);
    expect(() => inferShape('Conv', {}, { dtype: 'float32', shape: [1, 4, 9, 9] }, w)).toThrow(/channels/);
  });
});

describe('pooling', () => {
  it('AveragePool divides by real pixels unless count_include_pad', () => {
    const x = f64([1, 1, 2, 2], [1, 2, 3, 4]);
    const attrs = { kernel_shape: ints([2, 2]), pads: ints([1, 1, 0, 0]) };
    const excl = runNumeric('AveragePool', { attrs }, x);
    expect(excl.shape).toEqual([1, 1, 2, 2]);
    expect([...excl.data]).toEqual([1, 1.5, 2, 2.5]);
    const incl = runNumeric('AveragePool', { attrs: { ...attrs, count_include_pad: int(1) } }, x);
    expect([...incl.data]).toEqual([0.25, 0.75, 1, 2.5]);
  });

  it('ceil_mode adds a partial window but never one starting in the padding', () => {
    const x = iota([1, 1, 5, 5]);
    const floor = runNumeric('MaxPool', { attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } }, x);
    expect(floor.shape).toEqual([1, 1, 2, 2]);
    const ceil = runNumeric('MaxPool', { attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]), ceil_mode: int(1) } }, x);
    expect(ceil.shape).toEqual([1, 1, 3, 3]);
    expect([...ceil.data]).toEqual([6, 8, 9, 16, 18, 19, 21, 23, 24]);
    // 4 wide, kernel 1, stride 2, pad 1 at the end: the window at 4 would start in the padding.
    const edge = runNumeric('AveragePool', { attrs: { kernel_shape: ints([1]), strides: ints([2]), pads: ints([0, 1]), ceil_mode: int(1) } }, f64([1, 1, 4], [1, 2, 3, 4]));
    expect([...edge.data]).toEqual([1, 3]);
  });

  it('MaxPool returns flat indices in row- or column-major order', () => {
    const x = f64([2, 1, 2, 2], [1, 9, 3, 4, 8, 2, 7, 5]);
    const [y, idx] = runOp('MaxPool', { attrs: { kernel_shape: ints([2, 2]) }, outputs: 2 }, x);
    expect([...(y as { data: Float64Array }).data]).toEqual([9, 8]);
    expect([...(idx as { data: Float64Array }).data]).toEqual([1, 4]);
    const [, col] = runOp('MaxPool', { attrs: { kernel_shape: ints([2, 2]), storage_order: int(1) }, outputs: 2 }, x);
    // (h=0, w=1) in column-major is 0 + 1·2 = 2; plus the plane offset 4 for the second sample.
    expect([...(col as { data: Float64Array }).data]).toEqual([2, 4]);
  });

  it('GlobalAveragePool keeps unit spatial dims', () => {
    const y = runNumeric('GlobalAveragePool', {}, iota([1, 2, 2, 2]));
    expect(y.shape).toEqual([1, 2, 1, 1]);
    expect([...y.data]).toEqual([1.5, 5.5]);
    expect(inferShape('GlobalAveragePool', {}, { dtype: 'float32', shape: ['N', 16, 7, 7] })).toEqual(['N', 16, 1, 1]);
  });
});

describe('Pad and BatchNormalization', () => {
  it('pads in every mode and crops with negative pads', () => {
    const x = f64([1, 3], [1, 2, 3]);
    const pads = { type: 'ints' as const, value: [0, 2, 0, 2] };
    const at = (mode: string) => [...runNumeric('Pad', { opset: 2, attrs: { mode: str(mode), pads, value: { type: 'float', value: 9 } } }, x).data];
    expect(at('constant')).toEqual([9, 9, 1, 2, 3, 9, 9]);
    expect(at('edge')).toEqual([1, 1, 1, 2, 3, 3, 3]);
    expect(at('reflect')).toEqual([3, 2, 1, 2, 3, 2, 1]);
    const wrapped = runNumeric('Pad', { opset: 19, attrs: { mode: str('wrap') } }, x, { kind: 'numeric', dtype: 'int64', shape: [4], data: Float64Array.from([0, 2, 0, 2]) });
    expect([...wrapped.data]).toEqual([2, 3, 1, 2, 3, 1, 2]);
    const cropped = runNumeric('Pad', { opset: 13 }, iota([2, 3]), { kind: 'numeric', dtype: 'int64', shape: [4], data: Float64Array.from([0, -1, 0, 1]) }, f64([], [7]));
    expect(cropped.shape).toEqual([2, 3]);
    expect([...cropped.data]).toEqual([1, 2, 7, 4, 5, 7]);
  });

  it('normalizes per channel with the running statistics', () => {
    const x = f64([1, 2, 1, 2], [1, 2, 3, 4]);
    const y = runNumeric('BatchNormalization', { opset: 15, attrs: { epsilon: { type: 'float', value: 0 } } }, x, f64([2], [2, 1]), f64([2], [0, 10]), f64([2], [1, 3]), f64([2], [4, 1]));
    expect([...y.data]).toEqual([0, 1, 10, 11]);
  });
});
