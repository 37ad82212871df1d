/**
 * Scaler, Normalizer, LinearClassifier and LinearRegressor on small hand-made models: values
 * worked out by hand, and onnxruntime-node's answer on the same model where its behaviour is the
 * point (the single-score post-transform cases).
 */
import { describe, expect, it } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import { expectAgreesWithOrt as agreesWithOrt, importRefusal, oneNodeModel, plain, runReference, type Attr, type Plain } from '../helpers/ml-model';

const X = 'X';

function numbersOf(p: Plain | undefined): number[] {
  if (!p || !('data' in p)) throw new Error('expected a tensor');
  return p.data as number[];
}

function expectClose(actual: readonly number[], expected: readonly number[], tol = 1e-6): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `value ${i}: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(expected[i]!))));
}

/** Reference and onnxruntime agree on every output: labels exactly, scores to float32 precision. */
const expectAgreesWithOrt = (bytes: Uint8Array, rows: number[][], outputs: string[]): Promise<void> => agreesWithOrt(bytes, X, rows, outputs);

describe('Scaler', () => {
  const model = (scale: number[], offset: number[]) =>
    oneNodeModel({
      opType: 'Scaler',
      attributes: { scale: { floats: scale }, offset: { floats: offset } },
      inputs: [{ name: X, type: 'float32', shape: ['N', 3] }],
      outputs: [{ name: 'Y', type: 'float32', shape: ['N', 3] }],
    });

  it('subtracts the offset then multiplies by the scale, per feature', async () => {
    const bytes = model([2, 0.5, -1], [1, 2, 3]);
    const y = plain(runReference(bytes, X, [[1, 2, 3], [2, 4, 0]]).get('Y')!);
    expect(y).toEqual({ shape: [2, 3], data: [0, 0, -0, 2, 1, 3] });
    await expectAgreesWithOrt(bytes, [[1.5, -2, 7]], ['Y']);
  });

  it('shares a single scale/offset pair across features', () => {
    const bytes = model([10], [1]);
    expect(numbersOf(plain(runReference(bytes, X, [[1, 2, 3]]).get('Y')!))).toEqual([0, 10, 20]);
  });

  it('refuses a scale whose length is neither 1 nor the feature count', () => {
    const bytes = model([1, 2], [0, 0]);
    expect(() => runReference(bytes, X, [[1, 2, 3]])).toThrow(/2 values; the input has 3 features/);
  });
});

describe('Normalizer', () => {
  const model = (norm: string) =>
    oneNodeModel({
      opType: 'Normalizer',
      attributes: { norm: { string: norm } },
      inputs: [{ name: X, type: 'float32', shape: ['N', 3] }],
      outputs: [{ name: 'Y', type: 'float32', shape: ['N', 3] }],
    });
  const rows = [
    [3, -4, 0],
    [0, 0, 0],
    [1, 2, 2],
  ];

  it('L1 divides by the sum of absolute values', async () => {
    const y = numbersOf(plain(runReference(model('L1'), X, rows).get('Y')!));
    expectClose(y, [3 / 7, -4 / 7, 0, 0, 0, 0, 0.2, 0.4, 0.4]);
    await expectAgreesWithOrt(model('L1'), rows, ['Y']);
  });

  it('L2 divides by the Euclidean norm, keeping signs', async () => {
    const y = numbersOf(plain(runReference(model('L2'), X, rows).get('Y')!));
    expectClose(y, [0.6, -0.8, 0, 0, 0, 0, 1 / 3, 2 / 3, 2 / 3]);
    await expectAgreesWithOrt(model('L2'), rows, ['Y']);
  });

  it('MAX divides by the (signed) maximum', async () => {
    const y = numbersOf(plain(runReference(model('MAX'), X, rows).get('Y')!));
    expectClose(y, [1, -4 / 3, 0, 0, 0, 0, 0.5, 1, 1]);
    await expectAgreesWithOrt(model('MAX'), rows, ['Y']);
  });

  it('refuses an unknown norm at import', () => {
    expect(importRefusal(model('L3')).message).toMatch(/norm "L3" is not supported/);
  });
});

describe('LinearClassifier', () => {
  // Three classes over two features: scores = [x0 + 1, x1 - 1, x0 + x1].
  const multiclass = (transform: string, labels: Attr) =>
    oneNodeModel({
      opType: 'LinearClassifier',
      attributes: {
        coefficients: { floats: [1, 0, 0, 1, 1, 1] },
        intercepts: { floats: [1, -1, 0] },
        post_transform: { string: transform },
        multi_class: { int: 1 },
        ...('strings' in labels ? { classlabels_strings: labels } : { classlabels_ints: labels }),
      },
      inputs: [{ name: X, type: 'float32', shape: ['N', 2] }],
      outputs: [
        { name: 'label', type: 'strings' in labels ? 'string' : 'int64', shape: ['N'] },
        { name: 'scores', type: 'float32', shape: ['N', 3] },
      ],
    });
  const rows = [
    [0, 0],
    [2, 3],
    [-1, 5],
  ];

  it('labels by the largest raw score and leaves scores raw under NONE', () => {
    const out = runReference(multiclass('NONE', { strings: ['a', 'b', 'c'] }), X, rows);
    expect(plain(out.get('label')!)).toEqual({ shape: [3], data: ['a', 'c', 'b'] });
    expect(numbersOf(plain(out.get('scores')!))).toEqual([1, -1, 0, 3, 2, 5, 0, 4, 4]);
  });

  it('keeps the first class on a tie', () => {
    // Row [-1, 5]: classes 1 and 2 both score 4.
    const out = runReference(multiclass('NONE', { ints: [7, 8, 9] }), X, rows);
    expect(plain(out.get('label')!)).toEqual({ shape: [3], data: [7, 9, 8] });
  });

  it('SOFTMAX normalizes each row', async () => {
    const bytes = multiclass('SOFTMAX', { ints: [0, 1, 2] });
    const scores = numbersOf(plain(runReference(bytes, X, rows).get('scores')!));
    const z = Math.exp(1) + Math.exp(-1) + 1;
    expectClose(scores.slice(0, 3), [Math.exp(1) / z, Math.exp(-1) / z, 1 / z]);
    await expectAgreesWithOrt(bytes, rows, ['label', 'scores']);
  });

  it('LOGISTIC is elementwise and SOFTMAX_ZERO skips exact zeros, as in onnxruntime', async () => {
    await expectAgreesWithOrt(multiclass('LOGISTIC', { strings: ['a', 'b', 'c'] }), rows, ['label', 'scores']);
    const bytes = multiclass('SOFTMAX_ZERO', { ints: [0, 1, 2] });
    const scores = numbersOf(plain(runReference(bytes, X, [[0, 0]]).get('scores')!));
    // The zero score stays 0; the others share the mass.
    const z = Math.exp(1) + Math.exp(-1);
    expectClose(scores, [Math.exp(1) / z, Math.exp(-1) / z, 0]);
    await expectAgreesWithOrt(bytes, rows, ['label', 'scores']);
  });

  it('PROBIT matches onnxruntime (its erfinv approximation)', async () => {
    const bytes = multiclass('PROBIT', { ints: [0, 1, 2] });
    // Scores inside (0, 1), where the probit is defined.
    await expectAgreesWithOrt(bytes, [[-0.5, 1.2], [-0.8, 1.5]], ['label', 'scores']);
  });

  // One coefficient row, two labels: the binary export of a LogisticRegression/LinearSVC.
  const binary = (transform: string) =>
    oneNodeModel({
      opType: 'LinearClassifier',
      attributes: {
        coefficients: { floats: [2, -1] },
        intercepts: { floats: [0.5] },
        post_transform: { string: transform },
        classlabels_ints: { ints: [3, 5] },
      },
      inputs: [{ name: X, type: 'float32', shape: ['N', 2] }],
      outputs: [
        { name: 'label', type: 'int64', shape: ['N'] },
        { name: 'scores', type: 'float32', shape: ['N', 2] },
      ],
    });

  it('binary with one coefficient row gives two scores [1 - s, s] and labels by s > 0', async () => {
    const out = runReference(binary('NONE'), X, [[1, 1], [0, 2]]);
    expect(plain(out.get('label')!)).toEqual({ shape: [2], data: [5, 3] });
    expect(numbersOf(plain(out.get('scores')!))).toEqual([-0.5, 1.5, 2.5, -1.5]);
    await expectAgreesWithOrt(binary('NONE'), [[1, 1], [0, 2]], ['label', 'scores']);
  });

  it('binary with one coefficient row: LOGISTIC gives [1 - σ(s), σ(s)], the softmaxes change nothing', async () => {
    const out = runReference(binary('LOGISTIC'), X, [[1, 1]]);
    const sigma = 1 / (1 + Math.exp(-1.5));
    expectClose(numbersOf(plain(out.get('scores')!)), [1 - sigma, sigma]);
    for (const t of ['LOGISTIC', 'SOFTMAX', 'SOFTMAX_ZERO']) {
      await expectAgreesWithOrt(binary(t), [[1, 1], [0, 2], [-3, 0.25]], ['label', 'scores']);
    }
  });

  it('one score column without labels: labels 0/1, scores raw unless PROBIT', async () => {
    const bytes = (transform: string) =>
      oneNodeModel({
        opType: 'LinearClassifier',
        attributes: { coefficients: { floats: [0.2, -0.1] }, intercepts: { floats: [0.05] }, post_transform: { string: transform } },
        inputs: [{ name: X, type: 'float32', shape: ['N', 2] }],
        outputs: [
          { name: 'label', type: 'int64' },
          { name: 'scores', type: 'float32' },
        ],
      });
    const out = runReference(bytes('LOGISTIC'), X, [[1, 1], [-1, 1]]);
    expect(plain(out.get('label')!)).toEqual({ shape: [2], data: [1, 0] });
    expectClose(numbersOf(plain(out.get('scores')!)), [0.15, -0.25]);
    // Rows whose scores lie in (0, 1), where the probit is defined.
    for (const t of ['LOGISTIC', 'SOFTMAX', 'PROBIT']) await expectAgreesWithOrt(bytes(t), [[1, 1], [2, 0.5], [3, 1]], ['label', 'scores']);
  });

  it('refuses PROBIT on the one-row binary form, whose second score onnxruntime leaves undefined', () => {
    expect(importRefusal(binary('PROBIT')).message).toMatch(/PROBIT.*not supported/);
  });

  it('refuses three labels for one score column, as onnxruntime does', () => {
    const bytes = oneNodeModel({
      opType: 'LinearClassifier',
      attributes: { coefficients: { floats: [2, -1] }, intercepts: { floats: [0.5] }, classlabels_ints: { ints: [3, 5, 7] } },
      inputs: [{ name: X, type: 'float32', shape: ['N', 2] }],
      outputs: [
        { name: 'label', type: 'int64' },
        { name: 'scores', type: 'float32' },
      ],
    });
    expect(importRefusal(bytes).message).toMatch(/3 class labels for a binary classifier/);
  });

  it('refuses a label count that does not match the score columns', () => {
    const bytes = oneNodeModel({
      opType: 'LinearClassifier',
      attributes: { coefficients: { floats: [1, 0, 0, 1, 1, 1] }, intercepts: { floats: [0, 0, 0] }, classlabels_ints: { ints: [0, 1] } },
      inputs: [{ name: X, type: 'float32', shape: ['N', 2] }],
      outputs: [
        { name: 'label', type: 'int64' },
        { name: 'scores', type: 'float32' },
      ],
    });
    expect(importRefusal(bytes).message).toMatch(/2 class labels for 3 score columns/);
  });

  it('refuses coefficients that do not fit the input width', () => {
    const bytes = multiclass('NONE', { ints: [0, 1, 2] });
    expect(() => runReference(bytes, X, [[1, 2, 3]])).toThrow(DeepPowersError);
  });
});

describe('LinearRegressor', () => {
  const model = (targets: number, coefficients: number[], intercepts: number[], transform = 'NONE') =>
    oneNodeModel({
      opType: 'LinearRegressor',
      attributes: { targets: { int: targets }, coefficients: { floats: coefficients }, intercepts: { floats: intercepts }, post_transform: { string: transform } },
      inputs: [{ name: X, type: 'float32', shape: ['N', 2] }],
      outputs: [{ name: 'Y', type: 'float32', shape: ['N', targets] }],
    });

  it('computes X · Wᵀ + b for each target', async () => {
    const bytes = model(2, [1, 2, -1, 0.5], [10, 0]);
    const y = plain(runReference(bytes, X, [[1, 1], [2, -2]]).get('Y')!);
    expect(y).toEqual({ shape: [2, 2], data: [13, -0.5, 8, -3] });
    await expectAgreesWithOrt(bytes, [[1, 1], [2, -2]], ['Y']);
  });

  it('applies a post-transform across 2+ targets but (like onnxruntime) not LOGISTIC to one', async () => {
    await expectAgreesWithOrt(model(2, [1, 2, -1, 0.5], [0.1, 0], 'SOFTMAX'), [[1, 1], [0.2, -2]], ['Y']);
    const single = model(1, [1, 2], [0.5], 'LOGISTIC');
    expect(numbersOf(plain(runReference(single, X, [[1, 1]]).get('Y')!))).toEqual([3.5]);
    await expectAgreesWithOrt(single, [[1, 1], [-4, 0.5]], ['Y']);
  });

  it('refuses intercepts of the wrong length', () => {
    expect(importRefusal(model(2, [1, 2, 3, 4], [1])).message).toMatch(/"intercepts" has 1 values for 2 targets/);
  });
});
