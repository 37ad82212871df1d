/**
 * Affine rules for the arithmetic operators: Gemm, MatMul, Add/Sub/Mul/Div/Neg with constants
 * (broadcast), Scaler (ai.onnx.ml) and inference-mode BatchNormalization. Weights are read from the
 * graph's constants, never probed.
 *
 * Before → after:
 *   y = Gemm(x, W, b, transB=1)      y = W·x + b
 *   y = Div(Sub(x, μ), σ)            y = diag(1/σ)·x − μ/σ
 */
import { sizeOf, type NumericTensor } from '../graph/tensor';
import { LocalMapBuilder } from './affine-map';
import {
  bodyShape,
  broadcastPair,
  broadcastSource,
  constantInput,
  notAffine,
  perSampleConstantShape,
  requiredConstant,
  type AffineOutcome,
  type AffineRule,
} from './affine-rule';

/** Y = alpha·A·B' + beta·C with A encrypted ([batch, K]) and B, C constant. */
export const gemmRule: AffineRule = (ctx) => {
  const { view } = ctx;
  const a = bodyShape(ctx, 0);
  const b = requiredConstant(ctx, 1, 'B operand');
  const c = constantInput(ctx, 2, 'C operand');
  if (view.int('transA', 0) !== 0) notAffine('transA on the encrypted operand (the batch would become the inner dimension)');
  if (a.length !== 1 || b.shape.length !== 2) notAffine(`A of per-sample shape [${a.join(', ')}] with B [${b.shape.join(', ')}]`);
  const transB = view.int('transB', 0) !== 0;
  const alpha = view.float('alpha', 1);
  const beta = view.float('beta', 1);
  const k = a[0]!;
  const [kb, n] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (k !== kb) view.invalid(`inner dimensions differ: A has ${k} columns, B' has ${kb} rows`);
  const builder = new LocalMapBuilder(n, [k]);
  for (let j = 0; j < n; j++) {
    for (let p = 0; p < k; p++) builder.add(j, p, alpha * b.data[transB ? j * k + p : p * n + j]!);
  }
  if (c && beta !== 0) {
    const cs = perSampleConstantShape(c, 1);
    if (!broadcastPair([n], cs) || sizeOf(broadcastPair([n], cs)!) !== n) notAffine(`C of shape [${c.shape.join(', ')}]`);
    const src = broadcastSource(cs, [n]);
    for (let j = 0; j < n; j++) builder.addBias(j, beta * c.data[src[j]!]!);
  }
  return { kind: 'map', inputs: [0], map: builder.build(), shape: [n] };
};

/** MatMul with one constant operand: x·B (x's last axis contracted) or A·x (x per sample a matrix). */
export const matmulRule: AffineRule = (ctx) => {
  if (ctx.body[0] && ctx.body[1]) notAffine('the product of two encrypted values');
  if (ctx.body[0]) {
    const s = ctx.body[0];
    const b = requiredConstant(ctx, 1, 'right operand');
    if (s.length === 0) notAffine('a scalar encrypted operand');
    const lead = b.shape.slice(0, -2);
    if (lead.some((d) => d !== 1) || b.shape.length > s.length + 1) notAffine(`a batched constant right operand [${b.shape.join(', ')}]`);
    const k = s[s.length - 1]!;
    const rowsB = b.shape.length === 1 ? b.shape[0]! : b.shape[b.shape.length - 2]!;
    const n = b.shape.length === 1 ? 1 : b.shape[b.shape.length - 1]!;
    if (rowsB !== k) ctx.view.invalid(`inner dimensions differ: ${k} and ${rowsB}`);
    const blocks = sizeOf(s.slice(0, -1));
    const builder = new LocalMapBuilder(blocks * n, [sizeOf(s)]);
    for (let r = 0; r < blocks; r++) {
      for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) builder.add(r * n + j, r * k + p, b.data[p * n + j]!);
    }
    const shape = b.shape.length === 1 ? s.slice(0, -1) : [...s.slice(0, -1), n];
    return { kind: 'map', inputs: [0], map: builder.build(), shape };
  }
  const s = bodyShape(ctx, 1);
  const a = requiredConstant(ctx, 0, 'left operand');
  // With x per sample a vector, the batch axis would be the contracted one.
  if (s.length < 2) notAffine('an encrypted right operand that is a vector per sample');
  if (a.shape.length > 2) notAffine(`a batched constant left operand [${a.shape.join(', ')}]`);
  const k = s[s.length - 2]!;
  const n = s[s.length - 1]!;
  const m = a.shape.length === 1 ? 1 : a.shape[0]!;
  const ka = a.shape[a.shape.length - 1]!;
  if (ka !== k) ctx.view.invalid(`inner dimensions differ: ${ka} and ${k}`);
  const blocks = sizeOf(s.slice(0, -2));
  const builder = new LocalMapBuilder(blocks * m * n, [sizeOf(s)]);
  for (let r = 0; r < blocks; r++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) builder.add((r * m + i) * n + j, r * k * n + p * n + j, a.data[i * k + p]!);
    }
  }
  const shape = a.shape.length === 1 ? [...s.slice(0, -2), n] : [...s.slice(0, -2), m, n];
  return { kind: 'map', inputs: [1], map: builder.build(), shape };
};

type Arithmetic = 'Add' | 'Sub' | 'Mul' | 'Div';

/** Binary arithmetic where the result is affine: either operand constant, or a sum/difference of two encrypted values. */
function arithmeticRule(op: Arithmetic): AffineRule {
  return (ctx) => {
    const [sa, sb] = ctx.body;
    if (sa && sb) return twoEncrypted(op, sa, sb);
    const x = sa ? 0 : 1;
    const s = ctx.body[x]!;
    const c = requiredConstant(ctx, 1 - x, 'operand');
    if (op === 'Div' && x === 1) notAffine('division by an encrypted value');
    const cs = perSampleConstantShape(c, s.length);
    const out = broadcastPair(s, cs) ?? ctx.view.invalid(`shapes [${s.join(', ')}] and [${cs.join(', ')}] do not broadcast`);
    const xs = broadcastSource(s, out);
    const ks = broadcastSource(cs, out);
    const builder = new LocalMapBuilder(sizeOf(out), [sizeOf(s)]);
    for (let i = 0; i < xs.length; i++) {
      const v = c.data[ks[i]!]!;
      switch (op) {
        case 'Add':
          builder.add(i, xs[i]!, 1);
          builder.addBias(i, v);
          break;
        case 'Sub':
          builder.add(i, xs[i]!, x === 0 ? 1 : -1);
          builder.addBias(i, x === 0 ? -v : v);
          break;
        case 'Mul':
          builder.add(i, xs[i]!, v);
          break;
        case 'Div':
          builder.add(i, xs[i]!, 1 / v);
          break;
      }
    }
    return { kind: 'map', inputs: [x], map: builder.build(), shape: out };
  };
}

function twoEncrypted(op: Arithmetic, sa: readonly number[], sb: readonly number[]): AffineOutcome {
  if (op === 'Mul' || op === 'Div') notAffine(`${op === 'Mul' ? 'the product' : 'the quotient'} of two encrypted values`);
  const out = broadcastPair(sa, sb);
  if (!out) notAffine(`encrypted operands of shapes [${sa.join(', ')}] and [${sb.join(', ')}] that do not broadcast`);
  const ia = broadcastSource(sa, out);
  const ib = broadcastSource(sb, out);
  const offset = sizeOf(sa);
  const builder = new LocalMapBuilder(sizeOf(out), [sizeOf(sa), sizeOf(sb)]);
  for (let i = 0; i < ia.length; i++) {
    builder.add(i, ia[i]!, 1);
    builder.add(i, offset + ib[i]!, op === 'Add' ? 1 : -1);
  }
  return { kind: 'map', inputs: [0, 1], map: builder.build(), shape: out };
}

export const addRule = arithmeticRule('Add');
export const subRule = arithmeticRule('Sub');
export const mulRule = arithmeticRule('Mul');
export const divRule = arithmeticRule('Div');

export const negRule: AffineRule = (ctx) => {
  const s = bodyShape(ctx, 0);
  const n = sizeOf(s);
  const builder = new LocalMapBuilder(n, [n]);
  for (let i = 0; i < n; i++) builder.add(i, i, -1);
  return { kind: 'map', inputs: [0], map: builder.build(), shape: s };
};

/** ai.onnx.ml Scaler: y = (x − offset)·scale per feature (or one shared pair). */
export const scalerRule: AffineRule = (ctx) => {
  const s = bodyShape(ctx, 0);
  if (s.length !== 1) notAffine(`a Scaler input of per-sample shape [${s.join(', ')}] (expected [features])`);
  const scale = ctx.view.floats('scale') ?? [];
  const offset = ctx.view.floats('offset') ?? scale.map(() => 0);
  const f = s[0]!;
  if ((scale.length !== 1 && scale.length !== f) || offset.length !== scale.length) {
    ctx.view.invalid(`"scale"/"offset" have ${scale.length}/${offset.length} values for ${f} features`);
  }
  const builder = new LocalMapBuilder(f, [f]);
  for (let i = 0; i < f; i++) {
    const k = scale.length === 1 ? 0 : i;
    builder.add(i, i, scale[k]!);
    builder.addBias(i, -offset[k]! * scale[k]!);
  }
  return { kind: 'map', inputs: [0], map: builder.build(), shape: s };
};

/** Inference BatchNormalization over axis 1: a per-channel scale and shift. */
export const batchNormRule: AffineRule = (ctx) => {
  const { view } = ctx;
  const s = bodyShape(ctx, 0);
  if (view.opset >= 14 && view.int('training_mode', 0) !== 0) notAffine('training mode');
  if (s.length < 1) notAffine('an input without a channel axis');
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => requiredConstant(ctx, i, ['scale', 'bias', 'mean', 'variance'][i - 1]!)) as [NumericTensor, NumericTensor, NumericTensor, NumericTensor];
  const { a, b } = batchNormCoefficients(view.float('epsilon', 1e-5), scale, bias, mean, variance);
  const channels = s[0]!;
  if (a.length !== channels) view.invalid(`${a.length} parameters for ${channels} channels`);
  const inner = sizeOf(s.slice(1));
  const n = channels * inner;
  const builder = new LocalMapBuilder(n, [n]);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(i / inner);
    builder.add(i, i, a[c]!);
    builder.addBias(i, b[c]!);
  }
  return { kind: 'map', inputs: [0], map: builder.build(), shape: s };
};

/** BatchNormalization as y = a·x + b per channel. */
export function batchNormCoefficients(epsilon: number, scale: NumericTensor, bias: NumericTensor, mean: NumericTensor, variance: NumericTensor): { a: Float64Array; b: Float64Array } {
  const n = scale.data.length;
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    a[c] = scale.data[c]! / Math.sqrt(variance.data[c]! + epsilon);
    b[c] = bias.data[c]! - a[c]! * mean.data[c]!;
  }
  return { a, b };
}
