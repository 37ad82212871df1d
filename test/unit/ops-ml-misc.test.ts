/**
 * ZipMap, ArrayFeatureExtractor, Binarizer and Imputer on hand-made one-node models.
 */
import { describe, expect, it } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { numeric, strings } from '../../compiler/graph/tensor';
import { importModel } from '../../compiler/onnx/import';
import { importRefusal, oneNodeModel, plain, runOnnxruntime, runReference, type Attr } from '../helpers/ml-model';

const X = 'X';

describe('ZipMap', () => {
  const zipMap = (labels: Attr, width = 3) =>
    oneNodeModel({
      opType: 'ZipMap',
      attributes: 'strings' in labels ? { classlabels_strings: labels } : { classlabels_int64s: labels },
      inputs: [{ name: X, type: 'float32', shape: ['N', width] }],
      outputs: [{ name: 'Z', type: 'strings' in labels ? 'seq-map-string' : 'seq-map-int64' }],
    });

  it('makes one map per row keyed by string labels, in label order', () => {
    const z = runReference(zipMap({ strings: ['cat', 'dog', 'eel'] }), X, [[0.5, 0.25, 0.25], [0, 1, 0]]).get('Z')!;
    expect(z.kind).toBe('sequence-of-maps');
    expect(plain(z)).toEqual({
      maps: [
        [['cat', 0.5], ['dog', 0.25], ['eel', 0.25]],
        [['cat', 0], ['dog', 1], ['eel', 0]],
      ],
    });
    expect(z.kind === 'sequence-of-maps' && z.keyType).toBe('string');
  });

  it('keys by int64 labels', () => {
    const z = runReference(zipMap({ ints: [3, 1, 2] }), X, [[0.125, 0.5, 0.375]]).get('Z')!;
    expect(plain(z)).toEqual({ maps: [[[3, 0.125], [1, 0.5], [2, 0.375]]] });
  });

  it('types its output as a sequence of maps at import', () => {
    const graph = importModel(zipMap({ ints: [0, 1, 2] }));
    expect(graph.outputs[0]!.type).toEqual({ kind: 'sequence-of-maps', keyType: 'int64', valueType: 'float32' });
  });

  it('refuses an input width that differs from the label count, and repeated labels', () => {
    expect(importRefusal(zipMap({ ints: [0, 1] }, 3)).message).toMatch(/3 columns but 2 class labels/);
    expect(importRefusal(zipMap({ strings: ['a', 'a', 'b'] })).message).toMatch(/repeat a key/);
  });
});

describe('ArrayFeatureExtractor', () => {
  const extractor = (indices: number[], indexShape: number[], width = 4) =>
    oneNodeModel({
      opType: 'ArrayFeatureExtractor',
      inputs: [{ name: X, type: 'float32', shape: ['N', width] }],
      int64Initializers: { idx: { shape: indexShape, values: indices } },
      outputs: [{ name: 'Z', type: 'float32' }],
    });
  const rows = [
    [10, 11, 12, 13],
    [20, 21, 22, 23],
  ];

  it('gathers columns of the last axis, in index order and with repeats', async () => {
    const bytes = extractor([3, 0, 3], [3]);
    expect(plain(runReference(bytes, X, rows).get('Z')!)).toEqual({ shape: [2, 3], data: [13, 10, 13, 23, 20, 23] });
    expect(await runOnnxruntime(bytes, X, rows, ['Z'])).toEqual(new Map([['Z', { shape: [2, 3], data: [13, 10, 13, 23, 20, 23] }]]));
  });

  it('takes a scalar index as one column (skl2onnx positive_class_index)', () => {
    expect(plain(runReference(extractor([1], []), X, rows).get('Z')!)).toEqual({ shape: [2, 1], data: [11, 21] });
  });

  it('types the output shape at import', () => {
    const graph = importModel(extractor([0, 2], [2]));
    expect(graph.outputs[0]!.type).toEqual({ kind: 'tensor', dtype: 'float32', shape: ['N', 2] });
  });

  it('refuses an index outside the last axis', () => {
    expect(() => runReference(extractor([4], [1]), X, rows)).toThrow(/index 4 is out of range for a last axis of 4/);
    expect(() => runReference(extractor([-1], [1]), X, rows)).toThrow(DeepPowersError);
  });
});

describe('Binarizer and Imputer', () => {
  it('Binarizer maps x > threshold to 1, else 0', () => {
    const bytes = oneNodeModel({
      opType: 'Binarizer',
      attributes: { threshold: { float: 0.5 } },
      inputs: [{ name: X, type: 'float32', shape: ['N', 3] }],
      outputs: [{ name: 'Y', type: 'float32' }],
    });
    expect(plain(runReference(bytes, X, [[0.5, 0.75, -1]]).get('Y')!)).toEqual({ shape: [1, 3], data: [0, 1, 0] });
    expect(() => runReference(bytes, X, [[NaN, 0, 0]])).toThrow(/element 0 is NaN/);
  });

  it('Binarizer without a threshold is refused (spec and onnxruntime defaults differ)', () => {
    const bytes = oneNodeModel({ opType: 'Binarizer', inputs: [{ name: X, type: 'float32', shape: ['N', 3] }], outputs: [{ name: 'Y', type: 'float32' }] });
    expect(importRefusal(bytes).message).toMatch(/explicit "threshold"/);
  });

  it('Imputer replaces NaN (or a sentinel) with per-feature values', async () => {
    const imputer = (replaced: number) =>
      oneNodeModel({
        opType: 'Imputer',
        attributes: { imputed_value_floats: { floats: [1, 2, 3] }, replaced_value_float: { float: replaced } },
        inputs: [{ name: X, type: 'float32', shape: ['N', 3] }],
        outputs: [{ name: 'Y', type: 'float32' }],
      });
    const rows = [[NaN, 5, -1], [4, NaN, NaN]];
    expect(plain(runReference(imputer(NaN), X, rows).get('Y')!)).toEqual({ shape: [2, 3], data: [1, 5, -1, 4, 2, 3] });
    expect(await runOnnxruntime(imputer(NaN), X, rows, ['Y'])).toEqual(new Map([['Y', { shape: [2, 3], data: [1, 5, -1, 4, 2, 3] }]]));
    const sentinel = plain(runReference(imputer(-1), X, rows).get('Y')!);
    expect('data' in sentinel && sentinel.data.slice(0, 3)).toEqual([NaN, 5, 3]);
  });
});

describe('LabelEncoder', () => {
  it('opsets 2–3: float keys to string values, unknown keys to default_string', async () => {
    const bytes = oneNodeModel({
      opType: 'LabelEncoder',
      mlOpset: 2,
      attributes: { keys_floats: { floats: [0, 1.5, -2] }, values_strings: { strings: ['zero', 'one and a half', 'minus two'] }, default_string: { string: '?' } },
      inputs: [{ name: X, type: 'float32', shape: ['N', 2] }],
      outputs: [{ name: 'Y', type: 'string' }],
    });
    const rows = [[1.5, 0], [-2, 7]];
    const expected = { shape: [2, 2], data: ['one and a half', 'zero', 'minus two', '?'] };
    expect(plain(runReference(bytes, X, rows).get('Y')!)).toEqual(expected);
    expect(await runOnnxruntime(bytes, X, rows, ['Y'])).toEqual(new Map([['Y', expected]]));
  });

  it('opsets 2–3: string keys to int64 values with default_int64', () => {
    const bytes = oneNodeModel({
      opType: 'LabelEncoder',
      mlOpset: 2,
      attributes: { keys_strings: { strings: ['a', 'b'] }, values_int64s: { ints: [10, 20] }, default_int64: { int: -7 } },
      inputs: [{ name: X, type: 'string', shape: ['N'] }],
      outputs: [{ name: 'Y', type: 'int64' }],
    });
    const y = runGraph(importModel(bytes), new Map([[X, strings([3], ['b', 'z', 'a'])]])).get('Y')!;
    expect(plain(y)).toEqual({ shape: [3], data: [20, -7, 10] });
  });

  it('opset 1: classes_strings maps strings to their index and back', () => {
    const model = (input: 'string' | 'int64', output: 'string' | 'int64') =>
      oneNodeModel({
        opType: 'LabelEncoder',
        attributes: { classes_strings: { strings: ['x', 'y', 'z'] }, default_int64: { int: 99 }, default_string: { string: 'none' } },
        inputs: [{ name: X, type: input, shape: ['N'] }],
        outputs: [{ name: 'Y', type: output }],
      });
    const toIndex = runGraph(importModel(model('string', 'int64')), new Map([[X, strings([2], ['z', 'w'])]])).get('Y')!;
    expect(plain(toIndex)).toEqual({ shape: [2], data: [2, 99] });
    const graph = importModel(model('int64', 'string'));
    expect(graph.outputs[0]!.type).toEqual({ kind: 'tensor', dtype: 'string', shape: ['N'] });
    const toString = runGraph(graph, new Map([[X, numeric('int64', [3], [1, 5, 0])]])).get('Y')!;
    expect(plain(toString)).toEqual({ shape: [3], data: ['y', 'none', 'x'] });
  });

  it('refuses keys and values of different lengths', () => {
    const bytes = oneNodeModel({
      opType: 'LabelEncoder',
      mlOpset: 2,
      attributes: { keys_strings: { strings: ['a', 'b'] }, values_int64s: { ints: [1] } },
      inputs: [{ name: X, type: 'string', shape: ['N'] }],
      outputs: [{ name: 'Y', type: 'int64' }],
    });
    expect(importRefusal(bytes).message).toMatch(/2 keys but 1 values/);
  });
});
