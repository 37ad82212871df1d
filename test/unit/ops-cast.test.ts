import { describe, expect, it } from 'vitest';
import { numeric, strings } from '../../compiler/graph/tensor';
import { roundToBfloat16, roundToHalf } from '../../compiler/graph/ops/dtype';
import { f32, f64, importGraph, int, ints, runNumeric, runOp, str } from '../helpers/op-harness';

const TO = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, string: 8, bool: 9, float16: 10, float64: 11, bfloat16: 16 } as const;
const cast = (to: keyof typeof TO, x: Parameters<typeof runOp>[2]) => runOp('Cast', { attrs: { to: int(TO[to]) } }, x)[0]!;

describe('Cast', () => {
  it('rounds to float32 and truncates to integers, wrapping narrow types', () => {
    const y = cast('float32', f64([1], [0.1]));
    expect(y).toMatchObject({ dtype: 'float32' });
    expect((y as { data: Float64Array }).data[0]).toBe(Math.fround(0.1));
    expect([...(cast('int32', f64([4], [2.7, -2.7, 0.5, -0.5])) as { data: Float64Array }).data]).toEqual([2, -2, 0, 0]);
    expect([...(cast('uint8', f64([3], [300, -1, 255.9])) as { data: Float64Array }).data]).toEqual([44, 255, 255]);
    expect([...(cast('int8', f64([2], [128, -129])) as { data: Float64Array }).data]).toEqual([-128, 127]);
    expect([...(cast('bool', f64([3], [0, -0.1, 3])) as { data: Float64Array }).data]).toEqual([0, 1, 1]);
  });

  it('rounds to float16 and bfloat16 ties-to-even, overflowing to infinity', () => {
    expect(roundToHalf(1 + 2 ** -11)).toBe(1); // tie, even mantissa stays
    expect(roundToHalf(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9); // tie, odd mantissa rounds up
    expect(roundToHalf(65504)).toBe(65504);
    expect(roundToHalf(65520)).toBe(Infinity);
    expect(roundToHalf(2 ** -25)).toBe(0); // half the smallest subnormal ties to zero
    expect(roundToHalf(3 * 2 ** -25)).toBe(2 ** -23);
    expect(roundToBfloat16(1 + 2 ** -8)).toBe(1);
    expect(roundToBfloat16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    expect((cast('float16', f32([1], [0.1])) as { data: Float64Array }).data[0]).toBe(0.0999755859375);
  });

  it('formats and parses strings', () => {
    const s = cast('string', f32([4], [0.1, 1, 1e-5, NaN]));
    expect(s).toMatchObject({ kind: 'string', data: ['0.1', '1.0', '1e-05', 'nan'] });
    const n = cast('float32', strings([4], ['0.5', '-INF', 'NaN', ' 2e3 ']));
    expect([...(n as { data: Float64Array }).data]).toEqual([0.5, -Infinity, NaN, 2000]);
    expect(() => cast('float32', strings([1], ['abc']))).toThrow(expect.objectContaining({ code: 'BAD_DATA' }));
    expect(cast('string', numeric('int64', [1], [42]))).toMatchObject({ kind: 'string', data: ['42'] });
  });
});

describe('refusals at import time', () => {
  const one = (opType: string, opset: number, attrs: Parameters<typeof importGraph>[0]['nodes'][number]['attrs'], outputs = ['y'], extraInputs: string[] = []) => () =>
    importGraph({
      opset,
      inputs: [{ name: 'x', dtype: 'float32', shape: [1, 2, 4, 4] }],
      initializers: {
        s: f32([2], [1, 1]),
        b: f32([2], [0, 0]),
        m: f32([2], [0, 0]),
        v: f32([2], [1, 1]),
        pads: numeric('int64', [8], [0, 0, 1, 1, 0, 0, 1, 1]),
      },
      nodes: [{ opType, inputs: ['x', ...extraInputs], outputs, attrs }],
      outputs: outputs.slice(0, 1),
    });

  it('names the node and the attribute', () => {
    expect(one('BatchNormalization', 15, { training_mode: int(1) }, ['y'], ['s', 'b', 'm', 'v'])).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_ATTRIBUTE', message: expect.stringMatching(/BatchNormalization node .*training_mode/) }),
    );
    expect(one('BatchNormalization', 9, {}, ['y', 'mean', 'var'], ['s', 'b', 'm', 'v'])).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ATTRIBUTE' }));
    expect(one('Pad', 13, { mode: str('mirror') }, ['y'], ['pads'])).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ATTRIBUTE', message: expect.stringMatching(/mode "mirror"/) }));
    expect(one('Pad', 13, { mode: str('wrap') }, ['y'], ['pads'])).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ATTRIBUTE' })); // wrap is opset 19
    expect(one('MaxPool', 12, { kernel_shape: ints([2, 2]), storage_order: int(2) })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ATTRIBUTE' }));
    expect(one('AveragePool', 11, { kernel_shape: ints([2, 2]), auto_pad: str('SAME') })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ATTRIBUTE' }));
    expect(one('Cast', 13, { to: int(17) })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ATTRIBUTE', message: expect.stringMatching(/element type 17/) }));
  });

  it('accepts the supported combinations of the same ops', () => {
    expect(one('Pad', 13, { mode: str('reflect') }, ['y'], ['pads'])().outputs[0]!.type).toEqual({ kind: 'tensor', dtype: 'float32', shape: [1, 2, 6, 6] });
    expect(one('MaxPool', 12, { kernel_shape: ints([2, 2]), storage_order: int(1) }, ['y', 'i'])().valueTypes.get('i')).toEqual({ kind: 'tensor', dtype: 'int64', shape: [1, 2, 3, 3] });
    expect(one('Cast', 13, { to: int(11) })().outputs[0]!.type).toMatchObject({ dtype: 'float64' });
  });
});

it('float32 runs are float64 inside', () => {
  // The reference keeps float64 intermediates for float32 tensors; only Cast rounds.
  const y = runNumeric('Mul', {}, f32([1], [0.1]), f32([1], [3]));
  expect(y.data[0]).toBe(Math.fround(0.1) * 3);
});
