/**
 * TreeEnsembleRegressor and TreeEnsembleClassifier: per row, every tree's reached leaf votes
 * into per-target (per-class) scores, which are then aggregated, offset by base_values and
 * post-transformed. The aggregation follows onnxruntime's tree_ensemble_aggregator.h exactly,
 * including its treatment of scores no leaf voted for (they read as 0) and the binary
 * classifier whose weights name a single class (scores become [1 - s, s] or [-s, s]).
 */
import type { NodeView, OpKernel } from '../kernel';
import { numeric } from '../tensor';
import { asRows, classLabels, featureDim, floatList, labelTensor, logistic, mlKernel, postTransform, rowDim, tensorType, transformRow, transformScoreRows, type ClassLabels, type PostTransform, type RowMatrix } from './ml-common';
import { leafFor, treeEnsembleOf, type TreeEnsemble } from './ml-tree-ensemble';

function checkFeatures(view: NodeView, e: TreeEnsemble, columns: number): void {
  if (e.maxFeature >= columns) view.invalid(`a branch reads feature ${e.maxFeature} but the input has ${columns} features`);
}

// ---------------------------------------------------------------------------------------------
// TreeEnsembleRegressor

type Aggregate = 'SUM' | 'AVERAGE' | 'MIN' | 'MAX';

interface RegressorParams {
  readonly ensemble: TreeEnsemble;
  readonly targets: number;
  readonly aggregate: Aggregate;
  readonly baseValues: readonly number[];
  readonly transform: PostTransform;
}

function regressorParams(view: NodeView): RegressorParams {
  const targets = view.int('n_targets', 1);
  if (!Number.isSafeInteger(targets) || targets < 1) view.invalid(`"n_targets" must be a positive integer, got ${targets}`);
  const aggregate = view.string('aggregate_function', 'SUM');
  if (aggregate !== 'SUM' && aggregate !== 'AVERAGE' && aggregate !== 'MIN' && aggregate !== 'MAX') view.unsupported(`aggregate_function "${aggregate}"`);
  const baseValues = floatList(view, 'base_values') ?? [];
  // onnxruntime silently ignores base values of any other length; such a model is malformed.
  if (baseValues.length !== 0 && baseValues.length !== targets) view.invalid(`"base_values" has ${baseValues.length} values for ${targets} targets`);
  const ensemble = treeEnsembleOf(view, 'target', targets);
  return { ensemble, targets, aggregate, baseValues, transform: postTransform(view) };
}

function regressRow(p: RegressorParams, x: RowMatrix, r: number, out: Float64Array): void {
  const { ensemble: e, targets, aggregate } = p;
  const offset = r * x.cols;
  const trees = e.roots.length;
  if (targets === 1) {
    // One target: onnxruntime reads only each leaf's first weight.
    let score = 0;
    let has = false;
    for (const root of e.roots) {
      const w = leafFor(e, root, x.data, offset).weights[0]!.value;
      if (aggregate === 'MIN') score = !has || w < score ? w : score;
      else if (aggregate === 'MAX') score = !has || w > score ? w : score;
      else score += w;
      has = true;
    }
    const origin = p.baseValues.length === 1 ? p.baseValues[0]! : 0;
    out[r] = aggregate === 'AVERAGE' ? score / trees + origin : score + origin;
    return;
  }
  const scores = new Float64Array(targets);
  const has = new Uint8Array(targets);
  for (const root of e.roots) {
    for (const { index, value } of leafFor(e, root, x.data, offset).weights) {
      if (aggregate === 'MIN') scores[index] = !has[index] || value < scores[index]! ? value : scores[index]!;
      else if (aggregate === 'MAX') scores[index] = !has[index] || value > scores[index]! ? value : scores[index]!;
      else scores[index] += value;
      has[index] = 1;
    }
  }
  const row = out.subarray(r * targets, (r + 1) * targets);
  for (let t = 0; t < targets; t++) {
    const base = p.baseValues.length === targets ? p.baseValues[t]! : 0;
    // A target no leaf voted for comes out as 0 in onnxruntime, base value or not.
    row[t] = has[t] ? (aggregate === 'AVERAGE' ? scores[t]! / trees : scores[t]!) + base : 0;
  }
}

const TreeEnsembleRegressor = mlKernel('TreeEnsembleRegressor', regressorParams, {
  infer: (view, p, x) => {
    const features = featureDim(x);
    if (typeof features === 'number') checkFeatures(view, p.ensemble, features);
    return [tensorType('float32', [rowDim(view, x), p.targets])];
  },
  run: (view, p, input) => {
    const x = asRows(view, input);
    checkFeatures(view, p.ensemble, x.cols);
    const out = new Float64Array(x.rows * p.targets);
    for (let r = 0; r < x.rows; r++) regressRow(p, x, r, out);
    transformScoreRows(out, p.targets, p.transform);
    return [numeric('float32', [x.rows, p.targets], out)];
  },
});

// ---------------------------------------------------------------------------------------------
// TreeEnsembleClassifier

interface ClassifierParams {
  readonly ensemble: TreeEnsemble;
  readonly labels: ClassLabels;
  readonly classes: number;
  readonly baseValues: readonly number[];
  readonly transform: PostTransform;
  /** Two classes and every weight names the same one: scores are derived from one number. */
  readonly binaryCase: boolean;
}

function classifierParams(view: NodeView): ClassifierParams {
  const labels = classLabels(view, 'classlabels_int64s', 'classlabels_strings', true)!;
  const classes = labels.values.length;
  if (classes < 2) view.unsupported(`a classifier with ${classes} class label (at least 2 are needed)`);
  const transform = postTransform(view);
  const ensemble = treeEnsembleOf(view, 'class', classes);
  const baseValues = floatList(view, 'base_values') ?? [];
  const binaryCase = classes === 2 && ensemble.distinctWeightIndices === 1;
  if (classes === 2) {
    // onnxruntime leaves the second score unwritten in these cases: refuse rather than guess.
    if (transform === 'PROBIT') view.unsupported('post_transform PROBIT on a two-class tree classifier');
    if (baseValues.length === 1 && !binaryCase) view.unsupported('one base value for two classes that both have weights');
    if (baseValues.length > 2) view.invalid(`"base_values" has ${baseValues.length} values for 2 classes`);
  } else if (baseValues.length !== 0 && baseValues.length !== classes) {
    view.invalid(`"base_values" has ${baseValues.length} values for ${classes} classes`);
  }
  return { ensemble, labels, classes, baseValues, transform, binaryCase };
}

/** Label and scores of one row of a classifier with three or more classes. */
function classifyMulti(p: ClassifierParams, scores: Float64Array, has: Uint8Array, out: Float64Array): string | number {
  p.baseValues.forEach((b, k) => {
    scores[k] = has[k] ? scores[k]! + b : b;
    has[k] = 1;
  });
  let best = -1;
  for (let k = 0; k < p.classes; k++) if (has[k] && (best === -1 || scores[k]! > scores[best]!)) best = k;
  for (let k = 0; k < p.classes; k++) out[k] = has[k] ? scores[k]! : 0;
  transformRow(out, p.transform);
  // Every leaf carries a weight, so some class always has a score.
  return p.labels.values[best]!;
}

/** onnxruntime's two-class finalization (FinalizeScores' binary branch and _set_score_binary). */
function classifyBinary(p: ClassifierParams, scores: Float64Array, has: Uint8Array, out: Float64Array): string | number {
  let [s0, s1] = [scores[0]!, scores[1]!];
  let h1 = has[1] === 1;
  const h0 = has[0] === 1;
  let single = false; // the second class was dropped: one score stands for both
  let secondClass: 'complement' | 'negated' | 'none' = 'none';
  if (p.baseValues.length === 2) {
    if (h1) {
      // onnxruntime builds both scores from class 0's sum and base_values[1] here.
      s1 = p.baseValues[1]! + s0;
      s0 = -s1;
      h1 = true;
    } else {
      s1 += p.baseValues[1]!;
      s0 += p.baseValues[0]!;
    }
  } else if (p.baseValues.length === 1) {
    s0 += p.baseValues[0]!;
    single = !h1;
  } else {
    secondClass = 'negated';
    single = !h1;
  }

  const positive = !single && h1 ? s1 : h0 ? s0 : 0;
  let pick: number;
  let labelIsIndex = true;
  if (p.binaryCase) {
    const allPositive = p.ensemble.allWeightsNonNegative;
    pick = allPositive ? (positive > 0.5 ? 1 : 0) : positive > 0 ? 1 : 0;
    secondClass = allPositive ? 'complement' : 'negated';
  } else {
    pick = positive > 0 ? 1 : 0;
    // Outside the binary case onnxruntime returns the literal integers 1 / 0 as labels.
    labelIsIndex = false;
  }
  const label = p.labels.kind === 'string' || labelIsIndex ? p.labels.values[pick]! : pick;

  if (!single) {
    // A class without votes reads as 0 even where a base value was added to it.
    out[0] = h0 ? s0 : 0;
    out[1] = h1 ? s1 : 0;
    transformRow(out, p.transform);
    return label;
  }
  const v = h0 ? s0 : 0;
  if (secondClass === 'complement') {
    out[0] = 1 - v;
    out[1] = v;
  } else if (p.transform === 'LOGISTIC') {
    out[0] = logistic(-v);
    out[1] = logistic(v);
  } else {
    out[0] = -v;
    out[1] = v;
  }
  return label;
}

const TreeEnsembleClassifier = mlKernel('TreeEnsembleClassifier', classifierParams, {
  infer: (view, p, x) => {
    const features = featureDim(x);
    if (typeof features === 'number') checkFeatures(view, p.ensemble, features);
    const n = rowDim(view, x);
    return [tensorType(p.labels.kind, [n]), tensorType('float32', [n, p.classes])];
  },
  run: (view, p, input) => {
    const x = asRows(view, input);
    checkFeatures(view, p.ensemble, x.cols);
    const e = p.ensemble;
    const out = new Float64Array(x.rows * p.classes);
    const picks: (string | number)[] = [];
    const scores = new Float64Array(p.classes);
    const has = new Uint8Array(p.classes);
    for (let r = 0; r < x.rows; r++) {
      scores.fill(0);
      has.fill(0);
      for (const root of e.roots) {
        for (const { index, value } of leafFor(e, root, x.data, r * x.cols).weights) {
          scores[index] += value;
          has[index] = 1;
        }
      }
      const row = out.subarray(r * p.classes, (r + 1) * p.classes);
      picks.push(p.classes > 2 ? classifyMulti(p, scores, has, row) : classifyBinary(p, scores, has, row));
    }
    return [labelTensor(p.labels, picks), numeric('float32', [x.rows, p.classes], out)];
  },
});

export const mlTreeKernels: readonly OpKernel[] = [TreeEnsembleRegressor, TreeEnsembleClassifier];
