/**
 * Affine rules for the sliding-window operators — Conv (any pads, strides, dilations, groups),
 * AveragePool, GlobalAveragePool — and Pad, as sparse maps over the flattened [C, D1, …] sample.
 * Window geometry (auto_pad, ceil_mode, output sizes) comes from the interpreter's own resolver so
 * the two can never disagree on shapes.
 *
 * Before → after:
 *   y = AveragePool(x, kernel 2, stride 2)   (x per sample [1, 4])
 *   y = A·x, A = [[½ ½ 0 0], [0 0 ½ ½]] (sparse rows; Conv the same with its weights, plus the bias)
 */
import { stridesOf } from '../graph/ops/operands';
import { padSource, type PadMode } from '../graph/ops/pad';
import { resolveWindow, type Window } from '../graph/ops/window';
import { sizeOf } from '../graph/tensor';
import { LocalMapBuilder } from './affine-map';
import { bodyShape, constantInput, intsOf, notAffine, requiredConstant, type AffineRule } from './affine-rule';

interface Tap {
  /** Offset inside one channel plane, or -1 in the padding. */
  readonly offset: number;
  /** Inside the padded input (what count_include_pad counts). */
  readonly inPadded: boolean;
}

/** For every output position of a plane, the input offsets its window taps. */
function windowTaps(spatial: readonly number[], win: Window): Tap[][] {
  const outStrides = stridesOf(win.output);
  const kStrides = stridesOf(win.kernel);
  const inStrides = stridesOf(spatial);
  const kSize = sizeOf(win.kernel);
  const rows: Tap[][] = [];
  for (let o = 0; o < sizeOf(win.output); o++) {
    const row: Tap[] = [];
    for (let k = 0; k < kSize; k++) {
      let offset = 0;
      let inside = true;
      let inPadded = true;
      for (let d = 0; d < spatial.length; d++) {
        const od = Math.floor(o / outStrides[d]!) % win.output[d]!;
        const kd = Math.floor(k / kStrides[d]!) % win.kernel[d]!;
        const pos = od * win.strides[d]! - win.padBegin[d]! + kd * win.dilations[d]!;
        if (pos < 0 || pos >= spatial[d]!) inside = false;
        if (pos < -win.padBegin[d]! || pos >= spatial[d]! + win.padEnd[d]!) inPadded = false;
        offset += pos * inStrides[d]!;
      }
      row.push({ offset: inside ? offset : -1, inPadded });
    }
    rows.push(row);
  }
  return rows;
}

function channelsAndSpatial(s: readonly number[], op: string): { channels: number; spatial: number[] } {
  if (s.length < 2) notAffine(`${op} over a per-sample shape [${s.join(', ')}] without spatial axes`);
  return { channels: s[0]!, spatial: s.slice(1) };
}

export const convRule: AffineRule = (ctx) => {
  const { view } = ctx;
  const s = bodyShape(ctx, 0);
  const w = requiredConstant(ctx, 1, 'weight');
  const bias = constantInput(ctx, 2, 'bias');
  const { channels, spatial } = channelsAndSpatial(s, 'Conv');
  const group = view.int('group', 1);
  if (w.shape.length !== s.length + 1) view.invalid(`W [${w.shape.join(', ')}] does not match the input rank`);
  const [m, cg] = w.shape as [number, number];
  if (channels !== cg * group || m % group !== 0) view.invalid(`${channels} input channels, W [${w.shape.join(', ')}] with ${group} groups`);
  const win = resolveWindow(view, spatial, { ceilMode: false, kernelFallback: w.shape.slice(2) });
  const taps = windowTaps(spatial, win);
  const kSize = sizeOf(win.kernel);
  const inPlane = sizeOf(spatial);
  const outPlane = taps.length;
  const mPerGroup = m / group;
  const builder = new LocalMapBuilder(m * outPlane, [sizeOf(s)]);
  for (let oc = 0; oc < m; oc++) {
    const g = Math.floor(oc / mPerGroup);
    for (let o = 0; o < outPlane; o++) {
      const row = oc * outPlane + o;
      for (let c = 0; c < cg; c++) {
        const plane = (g * cg + c) * inPlane;
        const wBase = (oc * cg + c) * kSize;
        taps[o]!.forEach((t, k) => {
          if (t.offset >= 0) builder.add(row, plane + t.offset, w.data[wBase + k]!);
        });
      }
      if (bias) builder.addBias(row, bias.data[oc]!);
    }
  }
  return { kind: 'map', inputs: [0], map: builder.build(), shape: [m, ...win.output] };
};

export const averagePoolRule: AffineRule = (ctx) => {
  const { view } = ctx;
  const s = bodyShape(ctx, 0);
  const { channels, spatial } = channelsAndSpatial(s, 'AveragePool');
  const win = resolveWindow(view, spatial, { ceilMode: view.int('ceil_mode', 0) !== 0 });
  const includePad = view.int('count_include_pad', 0) !== 0;
  const taps = windowTaps(spatial, win);
  const inPlane = sizeOf(spatial);
  const builder = new LocalMapBuilder(channels * taps.length, [sizeOf(s)]);
  for (let c = 0; c < channels; c++) {
    taps.forEach((row, o) => {
      const count = row.filter((t) => (includePad ? t.inPadded : t.offset >= 0)).length;
      if (count === 0) notAffine('a pooling window that lies entirely in the padding');
      for (const t of row) if (t.offset >= 0) builder.add(c * taps.length + o, c * inPlane + t.offset, 1 / count);
    });
  }
  return { kind: 'map', inputs: [0], map: builder.build(), shape: [channels, ...win.output] };
};

export const globalAveragePoolRule: AffineRule = (ctx) => {
  const s = bodyShape(ctx, 0);
  const { channels, spatial } = channelsAndSpatial(s, 'GlobalAveragePool');
  const inPlane = sizeOf(spatial);
  const builder = new LocalMapBuilder(channels, [sizeOf(s)]);
  for (let c = 0; c < channels; c++) for (let i = 0; i < inPlane; i++) builder.add(c, c * inPlane + i, 1 / inPlane);
  return { kind: 'map', inputs: [0], map: builder.build(), shape: [channels, ...spatial.map(() => 1)] };
};

/** Pad in any mode: every output reads one input (or the constant), so all modes are affine. */
export const padRule: AffineRule = (ctx) => {
  const { view } = ctx;
  const s = bodyShape(ctx, 0);
  const rank = s.length + 1;
  const mode = view.string('mode', 'constant') as PadMode;
  let pads: number[];
  let fill = 0;
  let axes = Array.from({ length: rank }, (_v, i) => i);
  if (view.opset < 11) {
    pads = [...(view.ints('pads') ?? view.invalid('attribute "pads" is required'))];
    fill = view.float('value', 0);
  } else {
    pads = intsOf(requiredConstant(ctx, 1, 'pads'));
    const value = constantInput(ctx, 2, 'constant_value');
    if (value && value.data.length > 0) fill = value.data[0]!;
    const axesInput = view.opset >= 18 ? constantInput(ctx, 3, 'axes') : undefined;
    if (axesInput) axes = intsOf(axesInput).map((a) => (a < 0 ? a + rank : a));
  }
  if (pads.length !== 2 * axes.length) view.invalid(`pads has ${pads.length} values for ${axes.length} axes`);
  const begin = new Array<number>(rank).fill(0);
  const end = new Array<number>(rank).fill(0);
  axes.forEach((a, i) => {
    begin[a] = pads[i]!;
    end[a] = pads[i + axes.length]!;
  });
  if (begin[0] !== 0 || end[0] !== 0) notAffine('padding along the batch axis');
  const b = begin.slice(1);
  const out = s.map((d, i) => d + b[i]! + end[i + 1]!);
  if (out.some((d) => d < 0)) view.invalid(`pads crop [${s.join(', ')}] below zero`);
  const inStrides = stridesOf(s);
  const n = sizeOf(out);
  const builder = new LocalMapBuilder(n, [sizeOf(s)]);
  const index = new Array<number>(out.length).fill(0);
  for (let o = 0; o < n; o++) {
    let src = 0;
    for (let d = 0; d < out.length && src >= 0; d++) {
      const p = padSource(index[d]! - b[d]!, s[d]!, mode);
      src = p < 0 ? -1 : src + p * inStrides[d]!;
    }
    if (src >= 0) builder.add(o, src, 1);
    else builder.addBias(o, fill);
    for (let d = out.length - 1; d >= 0; d--) {
      if (++index[d]! < out[d]!) break;
      index[d] = 0;
    }
  }
  return { kind: 'map', inputs: [0], map: builder.build(), shape: out };
};
