import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { isFloatType, numeric, ONNX_DATA_TYPES, sizeOf } from '../tensor';
import { broadcastDims, broadcastIndices, broadcastShapes } from './broadcast';
import { normalizeAxis, numericOf, optionalNumericOf, optionalTypeOf, requireNumericType, tensorType, typeOf } from './operands';

/**
 * Inference-mode BatchNormalization over channel axis 1:
 * y = scale · (x − mean) / √(var + ε) + B. Training mode (batch statistics, the running-mean
 * outputs) is refused: the reference runs trained models, it does not train them.
 */
const BatchNormalization = onnxKernel('BatchNormalization', 6, {
  validate: (view: NodeView) => {
    if (view.opset >= 14 && view.int('training_mode', 0) !== 0) view.unsupported('training_mode 1');
    // Before opset 7, is_test 0 (the default) meant batch statistics: a training computation.
    if (view.opset < 7 && view.int('is_test', 0) === 0) view.unsupported('is_test 0 (training)');
    if (view.opset < 9 && view.int('spatial', 1) !== 1) view.unsupported('spatial 0 (per-activation statistics)');
    if (view.node.outputs.slice(1).some(Boolean)) view.unsupported('the training outputs (running mean/var, saved mean/var)');
  },
  infer: (view, types) => {
    const x = requireNumericType(view, typeOf(view, types, 0), 0);
    for (let i = 1; i <= 4; i++) {
      const p = typeOf(view, types, i);
      if (p.shape && x.shape && x.shape.length >= 2) {
        const c = x.shape[1];
        if (p.shape.length !== 1 || (typeof p.shape[0] === 'number' && typeof c === 'number' && p.shape[0] !== c)) {
          view.invalid(`input ${i} of shape [${p.shape.join(', ')}] does not match ${c} channels`);
        }
      }
    }
    return [tensorType(x.dtype, x.shape)];
  },
  run: (view, values) => {
    const x = numericOf(view, values, 0);
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => numericOf(view, values, i));
    if (x.shape.length < 2) view.invalid(`input must be [N, C, …], got shape [${x.shape.join(', ')}]`);
    const channels = x.shape[1]!;
    for (const p of [scale!, bias!, mean!, variance!]) {
      if (p.data.length !== channels) view.invalid(`a parameter of shape [${p.shape.join(', ')}] does not match ${channels} channels`);
    }
    const epsilon = view.float('epsilon', 1e-5);
    const inner = sizeOf(x.shape.slice(2));
    const out = new Float64Array(x.data.length);
    for (let i = 0; i < out.length; i++) {
      const c = Math.floor(i / inner) % channels;
      out[i] = (scale!.data[c]! * (x.data[i]! - mean!.data[c]!)) / Math.sqrt(variance!.data[c]! + epsilon) + bias!.data[c]!;
    }
    return [numeric(x.dtype, x.shape, out)];
  },
});

/** The element type of LayerNormalization's Mean and InvStdDev outputs: `stash_type` (default 1, float32). */
function stashType(view: NodeView): 'float32' | 'float64' | 'float16' | 'bfloat16' {
  const code = view.int('stash_type', 1);
  const dtype = ONNX_DATA_TYPES[code];
  if (dtype !== 'float32' && dtype !== 'float64' && dtype !== 'float16' && dtype !== 'bfloat16') view.unsupported(`stash_type ${code}`);
  return dtype;
}

/**
 * LayerNormalization (opset 17): over the axes from `axis` (default -1) to the last,
 * Y = (X − mean) · InvStdDev · Scale + B with InvStdDev = 1/√(var + ε), var the biased
 * variance. Scale and B broadcast to X's trailing (normalized) shape. The optional outputs Mean
 * and InvStdDev have X's shape with the normalized axes set to 1, in `stash_type`. The reference
 * computes in float64 whatever stash_type says.
 */
const LayerNormalization = onnxKernel('LayerNormalization', 17, {
  validate: (view) => {
    stashType(view);
  },
  infer: (view, types) => {
    const x = requireNumericType(view, typeOf(view, types, 0), 0);
    if (!isFloatType(x.dtype)) view.invalid(`LayerNormalization needs a floating-point input, got ${x.dtype}`);
    const scale = typeOf(view, types, 1);
    const bias = optionalTypeOf(view, types, 2);
    for (const [p, name] of [[scale, 'Scale'], [bias, 'B']] as const) {
      if (p && p.dtype !== x.dtype) view.invalid(`${name} is ${p.dtype}, X is ${x.dtype}`);
    }
    if (!x.shape) return [x, tensorType(stashType(view), null), tensorType(stashType(view), null)];
    const axis = normalizeAxis(view, view.int('axis', -1), x.shape.length);
    const normalized = x.shape.slice(axis);
    for (const [p, name] of [[scale, 'Scale'], [bias, 'B']] as const) {
      if (p?.shape) broadcastDims(view, [normalized, p.shape]);
      if (p?.shape && p.shape.length > normalized.length) view.invalid(`${name} has rank ${p.shape.length}, more than the ${normalized.length} normalized axes`);
    }
    const stats = tensorType(stashType(view), x.shape.map((d, i) => (i >= axis ? 1 : d)));
    return [x, stats, stats];
  },
  run: (view, values) => {
    const x = numericOf(view, values, 0);
    const scale = numericOf(view, values, 1);
    const bias = optionalNumericOf(view, values, 2);
    const axis = normalizeAxis(view, view.int('axis', -1), x.shape.length);
    const epsilon = view.float('epsilon', 1e-5);
    const normalized = x.shape.slice(axis);
    const length = sizeOf(normalized);
    const groups = sizeOf(x.shape.slice(0, axis));
    const scaleAt = broadcastIndices(scale.shape, broadcastShapes(view, [normalized, scale.shape]));
    const biasAt = bias ? broadcastIndices(bias.shape, broadcastShapes(view, [normalized, bias.shape])) : undefined;
    if (scaleAt.length !== length || (biasAt && biasAt.length !== length)) view.invalid(`Scale or B does not broadcast to the normalized shape [${normalized.join(', ')}]`);
    const y = new Float64Array(x.data.length);
    const means = new Float64Array(groups);
    const invStd = new Float64Array(groups);
    for (let g = 0; g < groups; g++) {
      const base = g * length;
      let sum = 0;
      for (let i = 0; i < length; i++) sum += x.data[base + i]!;
      const mean = sum / length;
      let squares = 0;
      for (let i = 0; i < length; i++) squares += (x.data[base + i]! - mean) ** 2;
      const inv = 1 / Math.sqrt(squares / length + epsilon);
      means[g] = mean;
      invStd[g] = inv;
      for (let i = 0; i < length; i++) {
        const b = biasAt ? bias!.data[biasAt[i]!]! : 0;
        y[base + i] = (x.data[base + i]! - mean) * inv * scale.data[scaleAt[i]!]! + b;
      }
    }
    const statsShape = x.shape.map((d, i) => (i >= axis ? 1 : d));
    return [numeric(x.dtype, x.shape, y), numeric(stashType(view), statsShape, means), numeric(stashType(view), statsShape, invStd)];
  },
});

export const normalizationKernels: readonly OpKernel[] = [BatchNormalization, LayerNormalization];
