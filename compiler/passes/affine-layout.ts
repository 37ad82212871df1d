/**
 * Layout operators on the encrypted sample: reshapes that keep the flattened order (Identity,
 * Cast to a float type, Flatten, Reshape, Squeeze, Unsqueeze) are identity maps with a new shape;
 * Transpose, Concat and ArrayFeatureExtractor (constant indices) are gathers. None may move the
 * batch axis.
 *
 * Before → after:
 *   y = Flatten(x)   (x per sample [2, 3])      y = x, shape [6]
 *   y = Transpose(x, perm=[0, 2, 1])            y = P·x, P the permutation of the 6 elements
 */
import { stridesOf } from '../graph/ops/operands';
import { isFloatType, sizeOf, type DType } from '../graph/tensor';
import { LocalMapBuilder } from './affine-map';
import { bodyShape, constantInput, intsOf, notAffine, requiredConstant, type AffineContext, type AffineRule } from './affine-rule';

export const identityRule: AffineRule = (ctx) => ({ kind: 'reshape', input: 0, shape: bodyShape(ctx, 0) });

const CAST_TYPES: Record<number, DType | undefined> = { 1: 'float32', 10: 'float16', 11: 'float64', 16: 'bfloat16' };

/**
 * A cast to a float type keeps the value: the encrypted body computes in (approximate) real
 * arithmetic, so float32 rounding inside the body is not reproduced.
 */
export const castRule: AffineRule = (ctx) => {
  const to = CAST_TYPES[ctx.view.int('to', 0)];
  if (!to || !isFloatType(to)) notAffine('a cast to a non-float type inside the network');
  return { kind: 'reshape', input: 0, shape: bodyShape(ctx, 0) };
};

/** An axis of the full [batch, …sample] tensor, normalised; 0 (the batch) is refused. */
function sampleAxis(ctx: AffineContext, axis: number, fullRank: number): number {
  const a = axis < 0 ? axis + fullRank : axis;
  if (a < 0 || a >= fullRank) ctx.view.invalid(`axis ${axis} is out of range for rank ${fullRank}`);
  if (a === 0) notAffine('an operation along the batch axis');
  return a - 1;
}

export const flattenRule: AffineRule = (ctx) => {
  const s = bodyShape(ctx, 0);
  const rank = s.length + 1;
  const axis = ctx.view.int('axis', 1);
  const a = axis < 0 ? axis + rank : axis;
  if (a < 1 || a > rank) notAffine(`Flatten axis ${axis}, which merges the batch axis`);
  if (sizeOf(s.slice(0, a - 1)) !== 1) notAffine(`Flatten axis ${axis} on per-sample shape [${s.join(', ')}], which merges sample values into the batch axis`);
  return { kind: 'reshape', input: 0, shape: [sizeOf(s.slice(a - 1))] };
};

export const reshapeRule: AffineRule = (ctx) => {
  const s = bodyShape(ctx, 0);
  const target = intsOf(requiredConstant(ctx, 1, 'shape'));
  if (ctx.view.int('allowzero', 0) !== 0 && target.includes(0)) notAffine('allowzero with a zero in the target shape');
  const size = sizeOf(s);
  const full = [ctx.batch ?? -1, ...s];
  if (target.length === 0) notAffine('a reshape to a scalar');
  const first = target[0]!;
  const keepsBatch = first === 0 || (ctx.batch !== null && first === ctx.batch) || (first === -1 && !target.slice(1).includes(-1));
  if (!keepsBatch) notAffine(`Reshape to [${target.join(', ')}], which does not keep the batch axis first`);
  const rest = target.slice(1).map((d, i) => (d === 0 ? full[i + 1]! : d));
  const known = rest.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
  const wild = rest.indexOf(-1);
  if (wild >= 0) {
    if (known === 0 || size % known !== 0) ctx.view.invalid(`cannot reshape [${s.join(', ')}] per sample to [${target.join(', ')}]`);
    rest[wild] = size / known;
  }
  if (sizeOf(rest) !== size) notAffine(`Reshape to [${target.join(', ')}], which moves values between samples`);
  return { kind: 'reshape', input: 0, shape: rest };
};

function axesOf(ctx: AffineContext, inputIndex: number): number[] | undefined {
  if (ctx.view.opset >= 13) {
    const t = constantInput(ctx, inputIndex, 'axes');
    return t ? intsOf(t) : undefined;
  }
  const a = ctx.view.ints('axes');
  return a ? [...a] : undefined;
}

export const squeezeRule: AffineRule = (ctx) => {
  const s = bodyShape(ctx, 0);
  const axes = axesOf(ctx, 1);
  if (!axes) {
    if (ctx.batch === 1) notAffine('Squeeze without axes on a batch of one (it would drop the batch axis)');
    return { kind: 'reshape', input: 0, shape: s.filter((d) => d !== 1) };
  }
  const drop = new Set(axes.map((a) => sampleAxis(ctx, a, s.length + 1)));
  for (const a of drop) if (s[a] !== 1) ctx.view.invalid(`cannot squeeze axis ${a + 1} of size ${s[a]}`);
  return { kind: 'reshape', input: 0, shape: s.filter((_d, i) => !drop.has(i)) };
};

export const unsqueezeRule: AffineRule = (ctx) => {
  const s = bodyShape(ctx, 0);
  const axes = axesOf(ctx, 1) ?? ctx.view.invalid('axes are required');
  const outRank = s.length + 1 + axes.length;
  const inserted = new Set(axes.map((a) => sampleAxis(ctx, a, outRank)));
  const shape: number[] = [];
  let next = 0;
  for (let i = 0; i < outRank - 1; i++) shape.push(inserted.has(i) ? 1 : s[next++]!);
  return { kind: 'reshape', input: 0, shape };
};

export const transposeRule: AffineRule = (ctx) => {
  const s = bodyShape(ctx, 0);
  const rank = s.length + 1;
  const perm = ctx.view.ints('perm') ?? Array.from({ length: rank }, (_v, i) => rank - 1 - i);
  if (perm.length !== rank) ctx.view.invalid(`perm has ${perm.length} entries for rank ${rank}`);
  if (perm[0] !== 0) notAffine(`Transpose perm [${perm.join(', ')}], which moves the batch axis`);
  const p = perm.slice(1).map((a) => a - 1);
  const out = p.map((a) => s[a]!);
  const inStrides = stridesOf(s);
  const n = sizeOf(s);
  const builder = new LocalMapBuilder(n, [n]);
  const index = new Array<number>(out.length).fill(0);
  for (let o = 0; o < n; o++) {
    let src = 0;
    for (let d = 0; d < out.length; d++) src += index[d]! * inStrides[p[d]!]!;
    builder.add(o, src, 1);
    for (let d = out.length - 1; d >= 0; d--) {
      if (++index[d]! < out[d]!) break;
      index[d] = 0;
    }
  }
  return { kind: 'map', inputs: [0], map: builder.build(), shape: out };
};

/** Concat of encrypted values along a sample axis: a gather over their stacked vectors. */
export const concatRule: AffineRule = (ctx) => {
  const shapes = ctx.view.node.inputs.map((_x, i) => ctx.body[i]);
  if (shapes.some((s) => !s)) notAffine('Concat of an encrypted value with a constant');
  const ss = shapes as (readonly number[])[];
  const rank = ss[0]!.length + 1;
  const axis = sampleAxis(ctx, ctx.view.int('axis', 1), rank);
  const out = [...ss[0]!];
  out[axis] = ss.reduce((t, s) => t + s[axis]!, 0);
  const outer = sizeOf(out.slice(0, axis));
  const inSizes = ss.map((s) => sizeOf(s));
  const builder = new LocalMapBuilder(sizeOf(out), inSizes);
  let row = 0;
  for (let o = 0; o < outer; o++) {
    let offset = 0;
    ss.forEach((s, k) => {
      const block = sizeOf(s.slice(axis));
      for (let j = 0; j < block; j++) builder.add(row++, offset + o * block + j, 1);
      offset += inSizes[k]!;
    });
  }
  return { kind: 'map', inputs: ss.map((_s, i) => i), map: builder.build(), shape: out };
};

/** ai.onnx.ml ArrayFeatureExtractor with constant indices: picks entries of the last axis. */
export const arrayFeatureExtractorRule: AffineRule = (ctx) => {
  const s = bodyShape(ctx, 0);
  const indices = intsOf(requiredConstant(ctx, 1, 'indices'));
  if (s.length === 0) notAffine('a scalar input');
  const last = s[s.length - 1]!;
  if (indices.some((i) => i < 0 || i >= last)) ctx.view.invalid(`an index is out of range for ${last} features`);
  const outer = sizeOf(s.slice(0, -1));
  const builder = new LocalMapBuilder(outer * indices.length, [sizeOf(s)]);
  for (let o = 0; o < outer; o++) indices.forEach((i, j) => builder.add(o * indices.length + j, o * last + i, 1));
  return { kind: 'map', inputs: [0], map: builder.build(), shape: [...s.slice(0, -1), indices.length] };
};
