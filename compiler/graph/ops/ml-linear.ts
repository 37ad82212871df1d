/**
 * The affine ai.onnx.ml operators scikit-learn exports: Scaler, Normalizer, LinearClassifier,
 * LinearRegressor. Semantics follow onnxruntime's CPU kernels, quirks included (see the notes on
 * the single-score cases), because that is what users and the fixtures compare against.
 */
import type { NodeView, OpKernel } from '../kernel';
import { numeric } from '../tensor';
import { argmaxFirst, asRows, classLabels, featureDim, featureStride, labelTensor, logistic, mlKernel, postTransform, rowDim, tensorType, transformScoreRows, type ClassLabels, type PostTransform } from './ml-common';

// ---------------------------------------------------------------------------------------------
// Scaler: y = (x - offset) * scale, per feature or with one shared pair.

interface ScalerParams {
  readonly offset: readonly number[];
  readonly scale: readonly number[];
}

function scalerParams(view: NodeView): ScalerParams {
  const scale = view.floats('scale');
  if (!scale || scale.length === 0) view.invalid('attribute "scale" is required and must not be empty');
  // A missing offset means "subtract nothing"; onnxruntime insists on it, the spec does not.
  const offset = view.floats('offset') ?? scale.map(() => 0);
  if (offset.length !== scale.length) view.invalid(`"offset" has ${offset.length} values but "scale" has ${scale.length}`);
  return { offset, scale };
}

const Scaler = mlKernel('Scaler', scalerParams, {
  infer: (_view, _p, x) => [tensorType('float32', x?.shape ?? null)],
  run: (view, { offset, scale }, x) => {
    const stride = featureStride(view, x);
    if (scale.length !== 1 && scale.length !== stride) {
      view.invalid(`"scale" and "offset" have ${scale.length} values; the input has ${stride} features (expected ${stride} or 1)`);
    }
    const out = new Float64Array(x.data.length);
    for (let i = 0; i < out.length; i++) {
      const f = scale.length === 1 ? 0 : i % stride;
      out[i] = (x.data[i]! - offset[f]!) * scale[f]!;
    }
    return [numeric('float32', x.shape, out)];
  },
});

// ---------------------------------------------------------------------------------------------
// Normalizer: each row divided by its max, L1 norm or L2 norm.

type NormKind = 'MAX' | 'L1' | 'L2';

function normKind(view: NodeView): NormKind {
  const norm = view.string('norm', 'MAX');
  if (norm !== 'MAX' && norm !== 'L1' && norm !== 'L2') view.unsupported(`norm "${norm}"`);
  return norm;
}

function normalizeRow(row: Float64Array, kind: NormKind): void {
  // A zero divisor leaves the row unchanged, as onnxruntime does.
  if (kind === 'MAX') {
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    if (max !== 0) for (let i = 0; i < row.length; i++) row[i] = row[i]! / max;
  } else if (kind === 'L1') {
    let sum = 0;
    for (const v of row) sum += Math.abs(v);
    if (sum !== 0) for (let i = 0; i < row.length; i++) row[i] = row[i]! / sum;
  } else {
    let sum = 0;
    for (const v of row) sum += v * v;
    if (sum !== 0) for (let i = 0; i < row.length; i++) row[i] = row[i]! / Math.sqrt(sum);
  }
}

const Normalizer = mlKernel('Normalizer', normKind, {
  infer: (view, _p, x) => {
    rowDim(view, x); // refuses rank > 2
    return [tensorType('float32', x?.shape ?? null)];
  },
  run: (view, kind, x) => {
    const m = asRows(view, x);
    const out = Float64Array.from(m.data);
    for (let r = 0; r < m.rows; r++) normalizeRow(out.subarray(r * m.cols, (r + 1) * m.cols), kind);
    return [numeric('float32', x.shape, out)];
  },
});

// ---------------------------------------------------------------------------------------------
// Shared by LinearClassifier and LinearRegressor: scores = X · Wᵀ + b.

function affineScores(view: NodeView, x: { rows: number; cols: number; data: Float64Array }, coefficients: readonly number[], intercepts: readonly number[] | undefined, targets: number): Float64Array {
  if (coefficients.length !== targets * x.cols) {
    view.invalid(`"coefficients" has ${coefficients.length} values; ${targets} target(s) × ${x.cols} input features needs ${targets * x.cols}`);
  }
  const out = new Float64Array(x.rows * targets);
  for (let r = 0; r < x.rows; r++) {
    for (let t = 0; t < targets; t++) {
      let s = intercepts ? intercepts[t]! : 0;
      for (let c = 0; c < x.cols; c++) s += x.data[r * x.cols + c]! * coefficients[t * x.cols + c]!;
      out[r * targets + t] = s;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// LinearClassifier

interface LinearClassifierParams {
  readonly coefficients: readonly number[];
  readonly intercepts: readonly number[];
  /** Number of score columns the affine map produces (one per intercept). */
  readonly classCount: number;
  readonly labels: ClassLabels;
  /** One score column but two labels: onnxruntime widens the scores to [1 - s, s]. */
  readonly addSecondClass: boolean;
  readonly transform: PostTransform;
}

function linearClassifierParams(view: NodeView): LinearClassifierParams {
  const coefficients = view.floats('coefficients');
  if (!coefficients || coefficients.length === 0) view.invalid('attribute "coefficients" is required');
  const intercepts = view.floats('intercepts');
  // onnxruntime sizes the class count from the intercepts; without them it has no defined output.
  if (!intercepts || intercepts.length === 0) view.unsupported('a LinearClassifier without "intercepts"');
  const classCount = intercepts.length;
  if (coefficients.length % classCount !== 0) {
    view.invalid(`"coefficients" has ${coefficients.length} values, not a multiple of the ${classCount} classes given by "intercepts"`);
  }
  const transform = postTransform(view);
  const given = classLabels(view, 'classlabels_ints', 'classlabels_strings', classCount > 1);
  let labels: ClassLabels;
  if (classCount === 1) {
    // A single score picks between two labels; without labels onnxruntime uses 0 / 1.
    if (given && given.values.length !== 2) view.invalid(`${given.values.length} class labels for a binary classifier with one score column (expected 2)`);
    labels = given ?? { kind: 'int64', values: [0, 1] };
  } else {
    if (given!.values.length !== classCount) view.invalid(`${given!.values.length} class labels for ${classCount} score columns`);
    labels = given!;
  }
  const addSecondClass = classCount === 1 && given !== undefined && given.values.length === 2;
  if (addSecondClass && transform === 'PROBIT') {
    view.unsupported('post_transform PROBIT on a binary LinearClassifier with one coefficient row (onnxruntime leaves its second score undefined)');
  }
  return { coefficients, intercepts, classCount, labels, addSecondClass, transform };
}

const LinearClassifier = mlKernel('LinearClassifier', linearClassifierParams, {
  infer: (view, p, x) => {
    const n = rowDim(view, x);
    const features = featureDim(x);
    if (typeof features === 'number' && features * p.classCount !== p.coefficients.length) {
      view.invalid(`"coefficients" has ${p.coefficients.length} values; ${p.classCount} class(es) × ${features} input features needs ${p.classCount * features}`);
    }
    return [tensorType(p.labels.kind, [n]), tensorType('float32', [n, p.addSecondClass ? 2 : p.classCount])];
  },
  run: (view, p, input) => {
    const x = asRows(view, input);
    const raw = affineScores(view, x, p.coefficients, p.intercepts, p.classCount);
    // Labels come from the raw scores, before any post-transform.
    const picks: (number | string)[] = [];
    for (let r = 0; r < x.rows; r++) {
      if (p.classCount === 1) picks.push(p.labels.values[raw[r]! > 0 ? 1 : 0]!);
      else picks.push(p.labels.values[argmaxFirst(raw.subarray(r * p.classCount, (r + 1) * p.classCount))]!);
    }
    let scores: Float64Array;
    if (p.addSecondClass) {
      // onnxruntime (1.30, checked) writes [1 - s, s] where s is the logistic of the raw score
      // under LOGISTIC and the raw score itself under every other transform (PROBIT refused).
      scores = new Float64Array(x.rows * 2);
      for (let r = 0; r < x.rows; r++) {
        const s = p.transform === 'LOGISTIC' ? logistic(raw[r]!) : raw[r]!;
        scores[2 * r] = 1 - s;
        scores[2 * r + 1] = s;
      }
    } else {
      scores = raw;
      transformScoreRows(scores, p.classCount, p.transform);
    }
    const width = p.addSecondClass ? 2 : p.classCount;
    return [labelTensor(p.labels, picks), numeric('float32', [x.rows, width], scores)];
  },
});

// ---------------------------------------------------------------------------------------------
// LinearRegressor

interface LinearRegressorParams {
  readonly coefficients: readonly number[];
  readonly intercepts: readonly number[] | undefined;
  readonly targets: number;
  readonly transform: PostTransform;
}

function linearRegressorParams(view: NodeView): LinearRegressorParams {
  const targets = view.int('targets', 1);
  if (!Number.isSafeInteger(targets) || targets < 1) view.invalid(`"targets" must be a positive integer, got ${targets}`);
  const coefficients = view.floats('coefficients');
  if (!coefficients || coefficients.length === 0) view.invalid('attribute "coefficients" is required');
  if (coefficients.length % targets !== 0) view.invalid(`"coefficients" has ${coefficients.length} values, not a multiple of ${targets} targets`);
  const given = view.floats('intercepts');
  // onnxruntime silently drops intercepts of the wrong length; a model like that is malformed.
  if (given && given.length > 0 && given.length !== targets) view.invalid(`"intercepts" has ${given.length} values for ${targets} targets`);
  return { coefficients, intercepts: given && given.length > 0 ? given : undefined, targets, transform: postTransform(view) };
}

const LinearRegressor = mlKernel('LinearRegressor', linearRegressorParams, {
  infer: (view, p, x) => {
    const features = featureDim(x);
    if (typeof features === 'number' && features * p.targets !== p.coefficients.length) {
      view.invalid(`"coefficients" has ${p.coefficients.length} values; ${p.targets} target(s) × ${features} input features needs ${p.targets * features}`);
    }
    return [tensorType('float32', [rowDim(view, x), p.targets])];
  },
  run: (view, p, input) => {
    const x = asRows(view, input);
    const scores = affineScores(view, x, p.coefficients, p.intercepts, p.targets);
    transformScoreRows(scores, p.targets, p.transform);
    return [numeric('float32', [x.rows, p.targets], scores)];
  },
});

export const mlLinearKernels: readonly OpKernel[] = [Scaler, Normalizer, LinearClassifier, LinearRegressor];
