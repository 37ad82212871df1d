/**
 * Linear operators on one encrypted input whose other inputs are constants (ReduceMean and
 * ReduceSum over sample axes, Gather and Slice with constant indices): their map is read off the
 * reference kernel itself, run on a batch of one-hot samples — row j of that batch is the j-th
 * unit vector, so output row j is column j of the map. One kernel, one meaning: the rule cannot
 * disagree with the interpreter on axes, negative indices, steps or keepdims. The operator must
 * keep the batch axis: when its output does not have one row per probe it mixes samples and is
 * refused.
 */
import { findKernel } from '../graph/ops/index';
import { runKernel } from '../graph/kernel';
import { numeric, sizeOf, type Value } from '../graph/tensor';
import { LocalMapBuilder } from './affine-map';
import { bodyShape, notAffine, type AffineRule } from './affine-rule';

/** Probing costs size² values; larger inputs are refused rather than slow. */
const MAX_PROBE = 1 << 12;

export const probedLinearRule: AffineRule = (ctx) => {
  const s = bodyShape(ctx, 0);
  if (ctx.body.some((b, i) => i > 0 && b)) notAffine(`${ctx.view.opType} with an encrypted ${ctx.view.opType === 'Gather' ? 'index' : 'argument'}`);
  const others = ctx.view.node.inputs.map((x, i) => (i === 0 || !x ? undefined : ctx.constants[i]));
  if (ctx.view.node.inputs.some((x, i) => i > 0 && x && !others[i])) notAffine(`${ctx.view.opType} with an argument that is not a constant`);
  const n = sizeOf(s);
  if (n > MAX_PROBE) notAffine(`${ctx.view.opType} of ${n} values per sample (more than ${MAX_PROBE})`);
  // Two probes at least, so that an operator along the batch axis cannot keep one row by chance.
  const probes = Math.max(n, 2);
  const data = new Float64Array(probes * n);
  for (let j = 0; j < n; j++) data[j * n + j] = 1;
  const kernel = findKernel(ctx.view.node.domain, ctx.view.opType)!;
  const inputs: (Value | undefined)[] = [numeric('float64', [probes, ...s], data), ...others.slice(1)];
  const out = runKernel(kernel, ctx.view, inputs)[0];
  if (!out || out.kind !== 'numeric') return ctx.view.invalid('no numeric output');
  if (out.shape[0] !== probes) notAffine(`${ctx.view.opType} along the batch axis`);
  const shape = out.shape.slice(1);
  const m = sizeOf(shape);
  const builder = new LocalMapBuilder(m, [n]);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) builder.add(i, j, out.data[j * m + i]!);
  return { kind: 'map', inputs: [0], map: builder.build(), shape };
};
