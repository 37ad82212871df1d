/**
 * The small ai.onnx.ml operators around classifiers: ZipMap (scores → one map per row),
 * ArrayFeatureExtractor (column gather), Binarizer and Imputer. onnxruntime's CPU kernels are the
 * reference for shapes and edge cases.
 */
import { fail } from '../../errors';
import type { Dim } from '../graph';
import { onnxMlKernel, type NodeView, type OpKernel } from '../kernel';
import { numeric, strings, type MapSequence, type Tensor } from '../tensor';
import {
  asRows,
  classLabels,
  featureStride,
  floatList,
  inputType,
  intList,
  mlKernel,
  numericInput,
  numericInputType,
  tensorType,
  type ClassLabels,
} from './ml-common';

// ---------------------------------------------------------------------------------------------
// ZipMap

function zipMapLabels(view: NodeView): ClassLabels {
  return classLabels(view, 'classlabels_int64s', 'classlabels_strings', true)!;
}

const ZipMap = onnxMlKernel('ZipMap', 1, {
  validate: (view) => {
    const labels = zipMapLabels(view);
    if (new Set<string | number>(labels.values).size !== labels.values.length) view.invalid('class labels repeat a key');
  },
  infer: (view, types) => {
    const labels = zipMapLabels(view);
    const x = numericInputType(view, types, 0);
    const width = x?.shape?.[x.shape.length - 1];
    if (typeof width === 'number' && width !== labels.values.length) view.invalid(`input has ${width} columns but ${labels.values.length} class labels`);
    return [{ kind: 'sequence-of-maps', keyType: labels.kind, valueType: 'float32' }];
  },
  run: (view, values) => {
    const labels = zipMapLabels(view);
    const m = asRows(view, numericInput(view, values, 0));
    if (m.cols !== labels.values.length) view.invalid(`input has ${m.cols} columns but ${labels.values.length} class labels`);
    const maps: Map<string | number, number>[] = [];
    for (let r = 0; r < m.rows; r++) {
      const map = new Map<string | number, number>();
      labels.values.forEach((key, j) => map.set(key, m.data[r * m.cols + j]!));
      maps.push(map);
    }
    const result: MapSequence = { kind: 'sequence-of-maps', keyType: labels.kind, maps };
    return [result];
  },
});

// ---------------------------------------------------------------------------------------------
// ArrayFeatureExtractor: Z[..., j] = X[..., Y[j]] over the last axis.

function extractedShape(xShape: readonly Dim[], count: Dim): Dim[] {
  // A vector input gives a [1, count] matrix (onnxruntime's backwards-compatible special case).
  if (xShape.length === 1) return [1, count];
  return [...xShape.slice(0, -1), count];
}

const ArrayFeatureExtractor = onnxMlKernel('ArrayFeatureExtractor', 1, {
  infer: (view, types, constants) => {
    const x = inputType(view, types, 0);
    const y = inputType(view, types, 1);
    if (y && y.dtype !== 'int64' && y.dtype !== 'int32') view.invalid(`indices must be int64, got ${y.dtype}`);
    if (!x || !x.shape) return [tensorType(x?.dtype ?? 'float32', null)];
    if (x.shape.length === 0) view.invalid('input X must have at least one dimension');
    let count: Dim = null;
    const yConst = constants[1];
    if (yConst) count = yConst.data.length;
    else if (y?.shape && y.shape.every((d) => typeof d === 'number')) count = (y.shape as number[]).reduce((a, b) => a * b, 1);
    return [tensorType(x.dtype, extractedShape(x.shape, count))];
  },
  run: (view: NodeView, values) => {
    const x = values[0];
    if (!x || x.kind === 'sequence-of-maps') view.invalid('input X must be a tensor');
    if (x.shape.length === 0) view.invalid('input X must have at least one dimension');
    const indices = numericInput(view, values, 1).data;
    if (indices.length === 0) view.invalid('indices are empty');
    const stride = x.shape[x.shape.length - 1]!;
    for (const j of indices) {
      if (!Number.isInteger(j) || j < 0 || j >= stride) fail('BAD_DATA', `${view.describe()}: index ${j} is out of range for a last axis of ${stride}`);
    }
    const outer = stride === 0 ? 0 : x.data.length / stride;
    const shape = extractedShape(x.shape, indices.length) as number[];
    if (x.kind === 'string') {
      const out: string[] = [];
      for (let r = 0; r < outer; r++) for (const j of indices) out.push(x.data[r * stride + j]!);
      return [strings(shape, out)];
    }
    const out = new Float64Array(outer * indices.length);
    let k = 0;
    for (let r = 0; r < outer; r++) for (const j of indices) out[k++] = x.data[r * stride + j]!;
    const result: Tensor = numeric(x.dtype, shape, out);
    return [result];
  },
});

// ---------------------------------------------------------------------------------------------
// Binarizer: 1 where x > threshold, else 0.

function binarizerThreshold(view: NodeView): number {
  // The spec's default is 0 but onnxruntime's is 1; a model that relies on either is ambiguous.
  const threshold = view.float('threshold');
  if (threshold === undefined) view.unsupported('a Binarizer without an explicit "threshold" (the ONNX spec and onnxruntime disagree on its default)');
  return threshold;
}

const Binarizer = mlKernel('Binarizer', binarizerThreshold, {
  infer: (_view, _p, x) => [x ?? tensorType('float32', null)],
  run: (view, threshold, x) => {
    const out = new Float64Array(x.data.length);
    x.data.forEach((v, i) => {
      if (Number.isNaN(v)) fail('BAD_DATA', `${view.describe()}: input element ${i} is NaN`);
      out[i] = v > threshold ? 1 : 0;
    });
    return [numeric(x.dtype, x.shape, out)];
  },
});

// ---------------------------------------------------------------------------------------------
// Imputer: replace a sentinel (or NaN) with a per-feature or shared value.

interface ImputerParams {
  readonly imputed: readonly number[];
  readonly replaced: number;
  readonly kind: 'float' | 'int64';
}

function imputerParams(view: NodeView): ImputerParams {
  const floats = floatList(view, 'imputed_value_floats');
  const ints = intList(view, 'imputed_value_int64s');
  const hasFloats = !!floats && floats.length > 0;
  const hasInts = !!ints && ints.length > 0;
  if (hasFloats === hasInts) view.invalid('exactly one of "imputed_value_floats" and "imputed_value_int64s" must be set');
  if (hasFloats) return { imputed: floats!, replaced: view.float('replaced_value_float', 0), kind: 'float' };
  return { imputed: ints!, replaced: view.int('replaced_value_int64', 0), kind: 'int64' };
}

const Imputer = mlKernel('Imputer', imputerParams, {
  infer: (view, p, x) => {
    if (x && (p.kind === 'int64') !== (x.dtype === 'int64' || x.dtype === 'int32')) {
      view.invalid(`${p.kind} imputed values for a ${x.dtype} input`);
    }
    return [x ?? tensorType(p.kind === 'float' ? 'float32' : 'int64', null)];
  },
  run: (view, p, x) => {
    const stride = featureStride(view, x);
    const perFeature = p.imputed.length === stride;
    if (!perFeature && p.imputed.length !== 1) view.invalid(`${p.imputed.length} imputed values for ${stride} features (expected ${stride} or 1)`);
    const replaceNaN = Number.isNaN(p.replaced);
    const out = new Float64Array(x.data.length);
    x.data.forEach((v, i) => {
      const hit = replaceNaN ? Number.isNaN(v) : v === p.replaced;
      out[i] = hit ? p.imputed[perFeature ? i % stride : 0]! : v;
    });
    return [numeric(x.dtype, x.shape, out)];
  },
});

// ---------------------------------------------------------------------------------------------
// LabelEncoder: a lookup table from keys to values with a default for unknown keys.

type Key = string | number;
interface LabelTable {
  readonly table: ReadonlyMap<Key, Key>;
  readonly keyType: 'string' | 'int64' | 'float32';
  readonly valueType: 'string' | 'int64' | 'float32';
  readonly fallback: Key;
}

/** ai.onnx.ml opset 1: classes_strings maps string ↔ index; the direction follows the input type. */
function labelTableV1(view: NodeView, inputIsString: boolean): LabelTable {
  const classes = view.strings('classes_strings') ?? [];
  const table = new Map<Key, Key>();
  classes.forEach((c, i) => (inputIsString ? table.set(c, i) : table.set(i, c)));
  return inputIsString
    ? { table, keyType: 'string', valueType: 'int64', fallback: view.int('default_int64', -1) }
    : { table, keyType: 'int64', valueType: 'string', fallback: view.string('default_string', '_Unused') };
}

/** ai.onnx.ml opsets 2–3: keys_* and values_* lists of one type each. */
function labelTableV2(view: NodeView): LabelTable {
  const pick = (prefix: 'keys' | 'values'): [LabelTable['keyType'], readonly Key[]] => {
    const options: Array<[LabelTable['keyType'], readonly Key[] | undefined]> = [
      ['string', view.strings(`${prefix}_strings`)],
      ['int64', intList(view, `${prefix}_int64s`)],
      ['float32', view.floats(`${prefix}_floats`)],
    ];
    const set = options.filter(([, v]) => v !== undefined && v.length > 0);
    if (set.length !== 1) view.invalid(`exactly one non-empty ${prefix}_strings / ${prefix}_int64s / ${prefix}_floats is required`);
    return [set[0]![0], set[0]![1]!];
  };
  const [keyType, keys] = pick('keys');
  const [valueType, vals] = pick('values');
  if (keys.length !== vals.length) view.invalid(`${keys.length} keys but ${vals.length} values`);
  const table = new Map<Key, Key>();
  keys.forEach((k, i) => table.set(k, vals[i]!));
  const fallback = valueType === 'string' ? view.string('default_string', '_Unused') : valueType === 'int64' ? view.int('default_int64', -1) : view.float('default_float', -0);
  return { table, keyType, valueType, fallback };
}

function labelTable(view: NodeView, inputIsString: boolean | undefined): LabelTable | undefined {
  if (view.opset >= 2) return labelTableV2(view);
  return inputIsString === undefined ? undefined : labelTableV1(view, inputIsString);
}

const LabelEncoder = onnxMlKernel('LabelEncoder', 1, {
  validate: (view) => void labelTable(view, undefined),
  infer: (view, types) => {
    const x = inputType(view, types, 0);
    const t = labelTable(view, x ? x.dtype === 'string' : undefined);
    if (!t) return [tensorType('string', x?.shape ?? null)];
    if (x && (x.dtype === 'string') !== (t.keyType === 'string')) view.invalid(`${t.keyType} keys for a ${x.dtype} input`);
    return [tensorType(t.valueType, x?.shape ?? null)];
  },
  run: (view: NodeView, values) => {
    const x = values[0];
    if (!x || x.kind === 'sequence-of-maps') view.invalid('input must be a tensor');
    const t = labelTable(view, x.kind === 'string')!;
    if ((x.kind === 'string') !== (t.keyType === 'string')) view.invalid(`${t.keyType} keys for a ${x.dtype} input`);
    const out: Key[] = [];
    for (const k of x.data) out.push(t.table.get(k) ?? t.fallback);
    if (t.valueType === 'string') return [strings(x.shape, out as string[])];
    return [numeric(t.valueType, x.shape, out as number[])];
  },
});

export const mlMiscKernels: readonly OpKernel[] = [ZipMap, ArrayFeatureExtractor, Binarizer, Imputer, LabelEncoder];
