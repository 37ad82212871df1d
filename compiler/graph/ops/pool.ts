import type { Dim } from '../graph';
import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { isFloatType, numeric, sizeOf, type NumericTensor } from '../tensor';
import { numericOf, requireNumericType, stridesOf, tensorType, typeOf, type TensorType } from './operands';
import { resolveWindow, validateWindowAttributes, windowDims, type Window } from './window';

function ceilMode(view: NodeView): boolean {
  return view.int('ceil_mode', 0) !== 0;
}

function pooledType(view: NodeView, x: TensorType, dtype: TensorType['dtype']): TensorType {
  if (!x.shape) return tensorType(dtype, null);
  if (x.shape.length < 3) view.invalid(`input must be [N, C, D1, …], got rank ${x.shape.length}`);
  return tensorType(dtype, [x.shape[0]!, x.shape[1]!, ...windowDims(view, x.shape.slice(2), { ceilMode: ceilMode(view) })]);
}

interface Tap {
  /** Offset of the tap inside one (n, c) plane, or -1 when it falls in the padding. */
  readonly offset: number;
  /** Whether the tap is inside the padded input (counts for count_include_pad). */
  readonly inPadded: boolean;
}

/**
 * MaxPool's windows over one [C, D1…] input flattened: per output element (channel-major, then the
 * output positions in row-major order), the flat input indices of its taps inside the input.
 * Padding (and ceil_mode's overhang) holds no index: it counts as −∞ in a max. The encrypted
 * body's client step (compiler/passes/trace.ts) takes its max over exactly these.
 */
export function maxPoolWindows(view: NodeView, channels: number, spatial: readonly number[]): { windows: number[][]; output: number[]; win: Window } {
  const win = resolveWindow(view, spatial, { ceilMode: ceilMode(view) });
  const { taps } = planTaps(spatial, win);
  const inSize = sizeOf(spatial);
  const windows: number[][] = [];
  for (let c = 0; c < channels; c++) for (const row of taps) windows.push(row.filter((t) => t.offset >= 0).map((t) => c * inSize + t.offset));
  return { windows, output: [...win.output], win };
}

/** Every kernel tap of every output position of one [D1…] plane. */
function planTaps(spatial: readonly number[], win: Window): { taps: Tap[][]; coords: number[][][] } {
  const rank = spatial.length;
  const outSize = sizeOf(win.output);
  const kSize = sizeOf(win.kernel);
  const outStrides = stridesOf(win.output);
  const kStrides = stridesOf(win.kernel);
  const inStrides = stridesOf(spatial);
  const taps: Tap[][] = [];
  const coords: number[][][] = [];
  for (let o = 0; o < outSize; o++) {
    const row: Tap[] = [];
    const rowCoords: number[][] = [];
    for (let k = 0; k < kSize; k++) {
      let offset = 0;
      let inside = true;
      let inPadded = true;
      const coord: number[] = [];
      for (let d = 0; d < rank; d++) {
        const od = Math.floor(o / outStrides[d]!) % win.output[d]!;
        const kd = Math.floor(k / kStrides[d]!) % win.kernel[d]!;
        const pos = od * win.strides[d]! - win.padBegin[d]! + kd * win.dilations[d]!;
        if (pos < -win.padBegin[d]! || pos >= spatial[d]! + win.padEnd[d]!) inPadded = false;
        if (pos < 0 || pos >= spatial[d]!) inside = false;
        offset += pos * inStrides[d]!;
        coord.push(pos);
      }
      row.push({ offset: inside ? offset : -1, inPadded });
      rowCoords.push(coord);
    }
    taps.push(row);
    coords.push(rowCoords);
  }
  return { taps, coords };
}

function poolInput(view: NodeView, values: Parameters<OpKernel['run']>[1]): { x: NumericTensor; spatial: number[]; win: Window } {
  const x = numericOf(view, values, 0);
  if (x.shape.length < 3) view.invalid(`input must be [N, C, D1, …], got shape [${x.shape.join(', ')}]`);
  const spatial = x.shape.slice(2);
  return { x, spatial, win: resolveWindow(view, spatial, { ceilMode: ceilMode(view) }) };
}

/**
 * AveragePool: the mean over each window, dividing by the taps inside the input, or with
 * count_include_pad by the taps inside the padded input (not beyond it, which ceil_mode can reach).
 */
const AveragePool = onnxKernel('AveragePool', 1, {
  validate: (view) => validateWindowAttributes(view, true),
  infer: (view, types) => {
    const x = requireNumericType(view, typeOf(view, types, 0), 0);
    if (!isFloatType(x.dtype)) view.invalid(`AveragePool needs a floating-point input, got ${x.dtype}`);
    return [pooledType(view, x, x.dtype)];
  },
  run: (view, values) => {
    const { x, spatial, win } = poolInput(view, values);
    const includePad = view.int('count_include_pad', 0) !== 0;
    const planes = x.shape[0]! * x.shape[1]!;
    const inSize = sizeOf(spatial);
    const { taps } = planTaps(spatial, win);
    const out = new Float64Array(planes * taps.length);
    for (let p = 0; p < planes; p++) {
      const base = p * inSize;
      taps.forEach((row, o) => {
        let sum = 0;
        let count = 0;
        for (const t of row) {
          if (t.offset >= 0) sum += x.data[base + t.offset]!;
          if (includePad ? t.inPadded : t.offset >= 0) count++;
        }
        out[p * taps.length + o] = count > 0 ? sum / count : NaN;
      });
    }
    return [numeric(x.dtype, [x.shape[0]!, x.shape[1]!, ...win.output], out)];
  },
});

/**
 * MaxPool, with the optional Indices output: flat indices into the whole input tensor, over the
 * spatial axes in row-major (storage_order 0) or column-major (storage_order 1) order.
 */
const MaxPool = onnxKernel('MaxPool', 1, {
  validate: (view) => {
    validateWindowAttributes(view, true);
    const order = view.int('storage_order', 0);
    if (order !== 0 && order !== 1) view.unsupported(`storage_order ${order}`);
  },
  infer: (view, types) => {
    const x = requireNumericType(view, typeOf(view, types, 0), 0);
    return [pooledType(view, x, x.dtype), pooledType(view, x, 'int64')];
  },
  run: (view, values) => {
    const { x, spatial, win } = poolInput(view, values);
    const columnMajor = view.int('storage_order', 0) === 1;
    const planes = x.shape[0]! * x.shape[1]!;
    const inSize = sizeOf(spatial);
    const { taps, coords } = planTaps(spatial, win);
    // Column-major strides over the spatial axes, for storage_order 1.
    const colStrides = spatial.map((_d, i) => sizeOf(spatial.slice(0, i)));
    const out = new Float64Array(planes * taps.length);
    const indices = new Float64Array(planes * taps.length);
    for (let p = 0; p < planes; p++) {
      const base = p * inSize;
      taps.forEach((row, o) => {
        let best = -Infinity;
        let bestTap = -1;
        row.forEach((t, k) => {
          if (t.offset < 0) return;
          const v = x.data[base + t.offset]!;
          if (bestTap < 0 || v > best) {
            best = v;
            bestTap = k;
          }
        });
        out[p * taps.length + o] = best;
        if (bestTap >= 0) {
          const local = columnMajor ? coords[o]![bestTap]!.reduce((s, c, d) => s + c * colStrides[d]!, 0) : row[bestTap]!.offset;
          indices[p * taps.length + o] = base + local;
        }
      });
    }
    const shape = [x.shape[0]!, x.shape[1]!, ...win.output];
    return [numeric(x.dtype, shape, out), numeric('int64', shape, indices)];
  },
});

/** Mean over all spatial axes, which stay as size-1 dims. */
const GlobalAveragePool = onnxKernel('GlobalAveragePool', 1, {
  infer: (view, types) => {
    const x = requireNumericType(view, typeOf(view, types, 0), 0);
    if (!x.shape) return [x];
    if (x.shape.length < 3) view.invalid(`input must be [N, C, D1, …], got rank ${x.shape.length}`);
    return [tensorType(x.dtype, [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map((): Dim => 1)])];
  },
  run: (view, values) => {
    const x = numericOf(view, values, 0);
    if (x.shape.length < 3) view.invalid(`input must be [N, C, D1, …], got shape [${x.shape.join(', ')}]`);
    const planes = x.shape[0]! * x.shape[1]!;
    const inSize = sizeOf(x.shape.slice(2));
    const out = new Float64Array(planes);
    for (let p = 0; p < planes; p++) {
      let sum = 0;
      for (let i = 0; i < inSize; i++) sum += x.data[p * inSize + i]!;
      out[p] = sum / inSize;
    }
    return [numeric(x.dtype, [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map(() => 1)], out)];
  },
});

export const poolKernels: readonly OpKernel[] = [AveragePool, MaxPool, GlobalAveragePool];
