/**
 * skl2onnx 1.15's graphs for the linear classifiers whose forms no fixture holds, written node by
 * node as its converters write them (Debian has no skl2onnx to run; onnx/sklearn-onnx at tag
 * 1.15.0, commit 3ef5e136ca2c02b7aae03d6879265a5691c661e2):
 *  - skl2onnx/operator_converters/sgd_classifier.py (SGDClassifier, and Perceptron and
 *    PassiveAggressiveClassifier, which _supported_operators.py maps to SklearnSGDClassifier):
 *    _decision_function (MatMul, Add), _predict_proba_log (opset < 13 or ≥ 3 classes: Mul −1,
 *    Exp, Add 1, Reciprocal; binary from 13: Sigmoid, Sub, Concat), _predict_proba_modified_huber
 *    (Clip, Add, Div), _normalise_proba and _handle_zeros (ReduceSum, Cast bool, Not, Cast, Add,
 *    Mul, Add, Div), the other losses (binary: Mul −1, Concat; multiclass: Identity), then ArgMax,
 *    ArrayFeatureExtractor on int32 classes, Reshape, Cast int64;
 *  - skl2onnx/operator_converters/linear_classifier.py (LogisticRegression, LinearSVC,
 *    RidgeClassifier): ai.onnx.ml LinearClassifier (binary: coefficients negated then as they are),
 *    + Normalizer L1 for LogisticRegression (multi_class > 0), + ArrayFeatureExtractor of column 1
 *    for a binary LinearSVC/RidgeClassifier;
 *    On a double input (no double LinearClassifier): MatMul, Add, ArgMax, the label through
 *    common/utils_classifier.py _finalize_converter_classes, Sigmoid and
 *    common/_apply_operation.py apply_normalizer(use_float=False): Abs, ReduceSum, Div;
 *    With options raw_scores=True (decision_function's scores in place of probabilities) the
 *    LinearClassifier has post_transform NONE and its scores are the output as they are (binary:
 *    two columns, −s and s; no ArrayFeatureExtractor); on a double input the Add's sum is the
 *    output. A multinomial LogisticRegression on a double input ends in Softmax (axis 1 before
 *    opset 13, −1 from 13: onnxconverter_common's apply_softmax);
 *  - skl2onnx/operator_converters/linear_regressor.py: LinearRegressor with `targets`; on a double
 *    input (no double LinearRegressor) MatMul, Add, Reshape(−1, targets);
 *  - skl2onnx/_parse.py _apply_zipmap and operator_converters/zip_map.py: with zipmap (the
 *    default) the label goes through Cast(int64) to output_label and the probabilities through
 *    ZipMap(classlabels_int64s) to output_probability; with zipmap 'columns'
 *    (convert_sklearn_zipmap_columns) each class's column is its own output, named i<class>
 *    (utils_classifier.get_label_classes), by Slice(axis 1) and Reshape(−1); without zipmap the
 *    outputs are label and probabilities.
 * Weights are the caller's (seeded); the test computes the expected outputs from them by
 * scikit-learn's formulas, independently of these graphs.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const A = onnx.AttributeProto.AttributeType;
const T = { float: 1, int32: 6, int64: 7, bool: 9, double: 11 } as const;

export type SgdLoss = 'log_loss' | 'modified_huber' | 'hinge';

export type LinearForm =
  /** SGDClassifier (loss); hinge stands for every loss without predict_proba: squared_hinge, perceptron, Perceptron, PassiveAggressiveClassifier. */
  | { readonly kind: 'sgd'; readonly loss: SgdLoss; readonly opset: number }
  /** LogisticRegression one-vs-rest (multi_class="ovr" or liblinear): LOGISTIC then Normalizer L1. */
  | { readonly kind: 'logreg-ovr'; readonly opset: number }
  /** LinearSVC / RidgeClassifier, multiclass: LinearClassifier with post_transform NONE; binary: + ArrayFeatureExtractor of the positive column. */
  | { readonly kind: 'linearsvc'; readonly opset: number }
  /** Any linear regressor with several targets: LinearRegressor(targets). */
  | { readonly kind: 'linreg-multi'; readonly opset: number }
  /**
   * LogisticRegression on a double input, binary: no LinearClassifier (it has no double form):
   * MatMul, Add, ArgMax, the label through _finalize_converter_classes (ArrayFeatureExtractor,
   * Cast, Reshape, Cast), then apply_logistic: Sigmoid and apply_normalizer(L1, use_float=False),
   * which is Abs, ReduceSum, Div.
   */
  | { readonly kind: 'logreg-double'; readonly opset: number; readonly raw?: boolean }
  /**
   * options raw_scores=True on a float input (the decision_function form): LinearClassifier with
   * post_transform NONE, its scores the output; multi_class 1 for a multinomial LogisticRegression.
   */
  | { readonly kind: 'raw-scores'; readonly opset: number; readonly multinomial: boolean }
  /** Any linear regressor on a double input: MatMul, Add, Reshape(−1, targets). */
  | { readonly kind: 'linreg-double'; readonly opset: number };

/** The input's element type: the double forms take float64 rows. */
export function inputType(form: LinearForm): 'float32' | 'float64' {
  return form.kind === 'logreg-double' || form.kind === 'linreg-double' ? 'float64' : 'float32';
}

/** zipmap option: true (ZipMap, the default), 'columns' (one output per class) or false. */
export type ZipmapOption = boolean | 'columns';

export interface LinearWeights {
  /** coef_ as scikit-learn holds it: one row per class (one row for a binary model), or per target. */
  readonly coef: readonly (readonly number[])[];
  readonly intercept: readonly number[];
  /** classes_ (ints); absent for a regressor. */
  readonly classes?: readonly number[];
}

type Attr = onnxProto.onnx.IAttributeProto;
const ints = (name: string, v: readonly number[]): Attr => ({ name, type: A.INTS, ints: [...v] });
const int = (name: string, v: number): Attr => ({ name, type: A.INT, i: v });
const floats = (name: string, v: readonly number[]): Attr => ({ name, type: A.FLOATS, floats: [...v] });
const float = (name: string, v: number): Attr => ({ name, type: A.FLOAT, f: v });
const str = (name: string, v: string): Attr => ({ name, type: A.STRING, s: new TextEncoder().encode(v) });

class GraphWriter {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private count = 0;

  node(opType: string, inputs: string[], outputs: string[], attrs: Attr[] = [], domain = ''): void {
    this.nodes.push({ name: `${opType}${this.count++}`, opType, domain, input: inputs, output: outputs, attribute: attrs });
  }

  floats(name: string, dims: number[], values: readonly number[]): string {
    this.initializers.push({ name, dataType: T.float, dims, floatData: [...values] });
    return name;
  }

  doubles(name: string, dims: number[], values: readonly number[]): string {
    this.initializers.push({ name, dataType: T.double, dims, doubleData: [...values] });
    return name;
  }

  ints(name: string, type: 'int32' | 'int64', dims: number[], values: readonly number[]): string {
    this.initializers.push(type === 'int64' ? { name, dataType: T.int64, dims, int64Data: [...values] } : { name, dataType: T.int32, dims, int32Data: [...values] });
    return name;
  }
}

/** sgd_classifier.py _normalise_proba (with _handle_zeros for 3+ classes) into `out`. */
function normaliseProba(g: GraphWriter, proba: string, classes: number, unity: string, out: string, opset: number): void {
  if (classes === 2) {
    g.node('Sub', [unity, proba], ['sub_result']);
    g.node('Concat', ['sub_result', proba], [out], [int('axis', 1)]);
    return;
  }
  if (opset < 13) g.node('ReduceSum', [proba], ['reduced_proba'], [ints('axes', [1])]);
  else g.node('ReduceSum', [proba, g.ints('axis', 'int64', [1], [1])], ['reduced_proba']);
  g.floats('num_classes', [], [classes]);
  g.node('Cast', ['reduced_proba'], ['bool_reduced_proba'], [int('to', T.bool)]);
  g.node('Not', ['bool_reduced_proba'], ['bool_not_reduced_proba']);
  g.node('Cast', ['bool_not_reduced_proba'], ['not_reduced_proba'], [int('to', T.float)]);
  g.node('Add', [proba, 'not_reduced_proba'], ['proba_updated']);
  g.node('Mul', ['not_reduced_proba', 'num_classes'], ['mask']);
  g.node('Add', ['reduced_proba', 'mask'], ['reduced_proba_updated']);
  g.node('Div', ['proba_updated', 'reduced_proba_updated'], [out]);
}

/** convert_sklearn_sgd_classifier: scores, the loss's probabilities, the label. */
function sgdGraph(g: GraphWriter, w: LinearWeights, loss: SgdLoss, opset: number, probabilities: string, label: string): void {
  const classes = w.classes!;
  const features = w.coef[0]!.length;
  g.ints('classes', 'int32', [classes.length], classes);
  // _decision_function: coef_.T (features × rows), intercept_ as it is.
  const coefT = Array.from({ length: features }, (_, f) => w.coef.map((row) => row[f]!)).flat();
  g.floats('coef', [features, w.coef.length], coefT);
  g.floats('intercept', [w.intercept.length], w.intercept);
  g.node('MatMul', ['X', 'coef'], ['matmul_result']);
  g.node('Add', ['matmul_result', 'intercept'], ['score']);
  if (loss === 'log_loss') {
    if (classes.length >= 3 || opset < 13) {
      g.floats('negate', [], [-1]);
      const unity = g.floats('unity', [], [1]);
      g.node('Mul', ['score', 'negate'], ['negated_scores']);
      g.node('Exp', ['negated_scores'], ['exp_result']);
      g.node('Add', ['exp_result', unity], ['add_result']);
      g.node('Reciprocal', ['add_result'], ['proba']);
      normaliseProba(g, 'proba', classes.length, unity, probabilities, opset);
    } else {
      g.node('Sigmoid', ['score'], ['sigmoid']);
      g.floats('unity', [1], [1]);
      g.node('Sub', ['unity', 'sigmoid'], ['sigmo_0']);
      g.node('Concat', ['sigmo_0', 'sigmoid'], [probabilities], [int('axis', 1)]);
    }
  } else if (loss === 'modified_huber') {
    const unity = g.floats('unity', [], [1]);
    g.floats('constant', [], [2]);
    // apply_clip: bounds as attributes before opset 11, as scalar inputs from 11.
    if (opset < 11) g.node('Clip', ['score'], ['clipped_scores'], [float('min', -1), float('max', 1)]);
    else g.node('Clip', ['score', g.floats('clip_min', [], [-1]), g.floats('clip_max', [], [1])], ['clipped_scores']);
    g.node('Add', ['clipped_scores', unity], ['add_result']);
    g.node('Div', ['add_result', 'constant'], ['proba']);
    normaliseProba(g, 'proba', classes.length, unity, probabilities, opset);
  } else if (classes.length === 2) {
    g.floats('negate', [], [-1]);
    g.node('Mul', ['score', 'negate'], ['negated_scores']);
    g.node('Concat', ['negated_scores', 'score'], [probabilities], [int('axis', 1)]);
  } else {
    g.node('Identity', ['score'], [probabilities]);
  }
  g.node('ArgMax', [probabilities], ['predicted_label'], [int('axis', 1), int('keepdims', 1)]);
  g.node('ArrayFeatureExtractor', ['classes', 'predicted_label'], ['final_label'], [], 'ai.onnx.ml');
  g.node('Reshape', ['final_label', g.ints('shape', 'int64', [1], [-1])], ['reshaped_final_label']);
  g.node('Cast', ['reshaped_final_label'], [label], [int('to', T.int64)]);
}

/** convert_sklearn_linear_classifier, float inputs (the ai.onnx.ml LinearClassifier path). */
function linearClassifierGraph(g: GraphWriter, w: LinearWeights, form: Extract<LinearForm, { kind: 'logreg-ovr' | 'linearsvc' | 'raw-scores' }>, probabilities: string, label: string): void {
  const classes = w.classes!;
  let coefficients = w.coef.flat();
  let intercepts = [...w.intercept];
  if (classes.length === 2) {
    coefficients = [...coefficients.map((x) => -x), ...coefficients];
    intercepts = [...intercepts.map((x) => -x), ...intercepts];
  }
  const attrs = [
    floats('coefficients', coefficients),
    floats('intercepts', intercepts),
    // multi_class: 1 only for a multinomial LogisticRegression (multi_class == 2 in the converter).
    int('multi_class', form.kind === 'raw-scores' && form.multinomial ? 1 : 0),
    str('post_transform', form.kind === 'logreg-ovr' ? 'LOGISTIC' : 'NONE'),
    ints('classlabels_ints', classes),
  ];
  if (form.kind === 'raw-scores') {
    // use_raw_scores: the LinearClassifier's scores are the output, whatever the model.
    g.node('LinearClassifier', ['X'], [label, probabilities], attrs, 'ai.onnx.ml');
  } else if (form.kind === 'linearsvc' && classes.length <= 2) {
    g.ints('positive_class_index', 'int64', [], [1]);
    g.node('LinearClassifier', ['X'], [label, 'raw_scores_tensor'], attrs, 'ai.onnx.ml');
    g.node('ArrayFeatureExtractor', ['raw_scores_tensor', 'positive_class_index'], [probabilities], [], 'ai.onnx.ml');
  } else if (form.kind === 'logreg-ovr') {
    g.node('LinearClassifier', ['X'], [label, 'probability_tensor'], attrs, 'ai.onnx.ml');
    g.node('Normalizer', ['probability_tensor'], [probabilities], [str('norm', 'L1')], 'ai.onnx.ml');
  } else {
    g.node('LinearClassifier', ['X'], [label, probabilities], attrs, 'ai.onnx.ml');
  }
}

/**
 * convert_sklearn_linear_classifier's double path for a LogisticRegression: LOGISTIC (binary,
 * one-vs-rest) or SOFTMAX (multinomial), or the raw scores (raw_scores=True).
 */
function logregDoubleGraph(g: GraphWriter, w: LinearWeights, opset: number, raw: boolean, probabilities: string, label: string): void {
  const classes = w.classes!;
  const features = w.coef[0]!.length;
  const binary = classes.length === 2;
  // coefficients (binary: [−coef, coef]) reshaped (classes, F) then transposed to (F, classes); intercepts to (1, classes).
  const rows = binary ? [w.coef[0]!.map((c) => -c), w.coef[0]!] : w.coef;
  const intercepts = binary ? [-w.intercept[0]!, w.intercept[0]!] : w.intercept;
  g.doubles('coef', [features, classes.length], Array.from({ length: features }, (_, f) => rows.map((r) => r[f]!)).flat());
  g.doubles('intercept', [1, classes.length], intercepts);
  g.node('MatMul', ['X', 'coef'], ['multiplied']);
  const scores = raw ? probabilities : 'raw_scores';
  g.node('Add', ['multiplied', 'intercept'], [scores]);
  g.node('ArgMax', [scores], ['label_argmax'], [int('axis', 1)]);
  g.ints('classes', 'int32', [classes.length], classes);
  g.node('ArrayFeatureExtractor', ['classes', 'label_argmax'], ['array_feature_extractor_result'], [], 'ai.onnx.ml');
  g.node('Cast', ['array_feature_extractor_result'], ['cast2_result'], [int('to', T.double)]);
  g.node('Reshape', ['cast2_result', g.ints('shape', 'int64', [1], [-1])], ['reshaped_result']);
  g.node('Cast', ['reshaped_result'], [label], [int('to', T.int64)]);
  if (raw) return;
  if (binary) {
    // post_transform LOGISTIC: apply_logistic, Sigmoid then apply_normalizer(L1, use_float=False).
    g.node('Sigmoid', ['raw_scores'], ['raw_scoressig']);
    g.node('Abs', ['raw_scoressig'], ['norm_abs']);
    g.node('ReduceSum', ['norm_abs', g.ints('axis', 'int64', [1], [1])], ['norm'], [int('keepdims', 1)]);
    g.node('Div', ['raw_scoressig', 'norm'], [probabilities]);
  } else {
    g.node('Softmax', ['raw_scores'], [probabilities], [int('axis', opset < 13 ? 1 : -1)]);
  }
}

/** convert_sklearn_linear_regressor's double path: MatMul, Add, Reshape(−1, targets). */
function linregDoubleGraph(g: GraphWriter, w: LinearWeights, out: string): void {
  const features = w.coef[0]!.length;
  const targets = w.coef.length;
  g.doubles('coef', [features, targets], Array.from({ length: features }, (_, f) => w.coef.map((r) => r[f]!)).flat());
  g.doubles('intercept', [targets], w.intercept);
  g.node('MatMul', ['X', 'coef'], ['multiplied']);
  g.node('Add', ['multiplied', 'intercept'], ['resh']);
  g.node('Reshape', ['resh', g.ints('shape', 'int64', [2], [-1, targets])], [out]);
}

/** convert_sklearn_zipmap_columns: the label through Cast(int64), each class's column as output i<class>. */
function zipmapColumns(g: GraphWriter, classes: readonly number[], probabilities: string, label: string): string[] {
  g.node('Cast', [label], ['output_label'], [int('to', T.int64)]);
  return classes.map((c, i) => {
    const out = `i${c}`;
    // apply_slice from opset 10: starts, ends and axes as int64 inputs.
    const at = (name: string, v: number) => g.ints(`${name}${i}`, 'int64', [1], [v]);
    g.node('Slice', [probabilities, at('starts', i), at('ends', i + 1), at('axes', 1)], [`${out}_flat`]);
    g.node('Reshape', [`${out}_flat`, g.ints(`shape_${out}`, 'int64', [1], [-1])], [out]);
    return out;
  });
}

export interface BuiltModel {
  readonly bytes: Uint8Array;
  /** Output names: the label (absent for a regressor) and the scores/probabilities (or the regression values). */
  readonly label: string | null;
  /** The values' output; under zipmap 'columns' the probabilities the column outputs are sliced from (not a graph output). */
  readonly values: string;
  /** True when the values are ZipMap's sequence of maps. */
  readonly zipmap: boolean;
  /** zipmap 'columns': one output per class (i<class>), in class order; null otherwise. */
  readonly columns: readonly string[] | null;
}

/** The ModelProto skl2onnx 1.15 writes for `form` with these weights, for `features` inputs of the form's type. */
export function buildLinearModel(form: LinearForm, w: LinearWeights, options: { zipmap?: ZipmapOption } = {}): BuiltModel {
  const g = new GraphWriter();
  const features = w.coef[0]!.length;
  const regressor = form.kind === 'linreg-multi' || form.kind === 'linreg-double';
  const zipmap: ZipmapOption = regressor ? false : (options.zipmap ?? false);
  const elemType = inputType(form) === 'float64' ? T.double : T.float;
  const rawLabel = 'label';
  const rawProba = 'probabilities';
  let outputs: onnxProto.onnx.IValueInfoProto[];
  let columns: string[] | null = null;
  const tensor = (name: string, elemType: number, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  if (form.kind === 'linreg-multi') {
    g.node('LinearRegressor', ['X'], ['variable'], [floats('coefficients', w.coef.flat()), floats('intercepts', w.intercept), int('targets', w.coef.length)], 'ai.onnx.ml');
    outputs = [tensor('variable', T.float, ['N', w.coef.length])];
  } else if (form.kind === 'linreg-double') {
    linregDoubleGraph(g, w, 'variable');
    outputs = [tensor('variable', T.double, ['N', w.coef.length])];
  } else {
    if (form.kind === 'sgd') sgdGraph(g, w, form.loss, form.opset, rawProba, rawLabel);
    else if (form.kind === 'logreg-double') logregDoubleGraph(g, w, form.opset, form.raw === true, rawProba, rawLabel);
    else linearClassifierGraph(g, w, form, rawProba, rawLabel);
    const classes = w.classes!.length;
    if (zipmap === true) {
      g.node('Cast', [rawLabel], ['output_label'], [int('to', T.int64)]);
      g.node('ZipMap', [rawProba], ['output_probability'], [ints('classlabels_int64s', w.classes!)], 'ai.onnx.ml');
      outputs = [
        tensor('output_label', T.int64, ['N']),
        { name: 'output_probability', type: { sequenceType: { elemType: { mapType: { keyType: T.int64, valueType: { tensorType: { elemType: T.float } } } } } } },
      ];
    } else if (zipmap === 'columns') {
      columns = zipmapColumns(g, w.classes!, rawProba, rawLabel);
      outputs = [tensor('output_label', T.int64, ['N']), ...columns.map((c) => tensor(c, elemType, ['N']))];
    } else {
      const width = form.kind === 'linearsvc' && classes === 2 ? 1 : classes;
      outputs = [tensor(rawLabel, T.int64, ['N']), tensor(rawProba, elemType, ['N', width])];
    }
  }
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'skl2onnx',
    producerVersion: '1.15.0',
    domain: 'ai.onnx',
    opsetImport: [
      { domain: '', version: form.opset },
      { domain: 'ai.onnx.ml', version: 1 },
    ],
    graph: {
      name: `${form.kind}${form.kind === 'sgd' ? `_${form.loss}` : ''}`,
      node: g.nodes,
      input: [tensor('X', elemType, ['N', features])],
      output: outputs,
      initializer: g.initializers,
    },
  });
  return {
    bytes: onnx.ModelProto.encode(model).finish(),
    label: regressor ? null : zipmap === false ? rawLabel : 'output_label',
    values: regressor ? 'variable' : zipmap === true ? 'output_probability' : rawProba,
    zipmap: zipmap === true,
    columns,
  };
}
