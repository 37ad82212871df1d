import type { Dim } from '../graph';
import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { sizeOf, type Tensor, type Value } from '../tensor';
import { intsOf, normalizeAxes, numericOf, optionalNumericOf, scalarOf, stridesOf, tensorOf, tensorType, typeOf } from './operands';

const MODES = ['constant', 'reflect', 'edge', 'wrap'] as const;
export type PadMode = (typeof MODES)[number];

function padMode(view: NodeView): PadMode {
  const mode = view.string('mode', 'constant');
  if (!(MODES as readonly string[]).includes(mode) || (mode === 'wrap' && view.opset < 19)) view.unsupported(`mode "${mode}"`);
  return mode as PadMode;
}

/**
 * Per-axis (begin, end) padding, negative meaning crop. Pads are an attribute before opset 11,
 * an int64 input from 11, and from 18 may name only some `axes`.
 */
function padAmounts(view: NodeView, rank: number, padsInput: Tensor | undefined, axesInput: Tensor | undefined): { begin: number[]; end: number[] } {
  let pads: number[];
  if (view.opset < 11) {
    const attr = view.ints('pads');
    if (!attr) view.invalid('attribute "pads" is required');
    pads = [...attr];
  } else {
    if (!padsInput || padsInput.kind !== 'numeric') view.invalid('input "pads" must be an integer tensor');
    pads = intsOf(view, padsInput, 'pads');
  }
  let axes = Array.from({ length: rank }, (_v, i) => i);
  if (axesInput) {
    if (axesInput.kind !== 'numeric') view.invalid('input "axes" must be an integer tensor');
    axes = normalizeAxes(view, intsOf(view, axesInput, 'axes'), rank);
  }
  if (pads.length !== 2 * axes.length) view.invalid(`pads has ${pads.length} values, expected ${2 * axes.length}`);
  const begin = new Array<number>(rank).fill(0);
  const end = new Array<number>(rank).fill(0);
  axes.forEach((a, i) => {
    begin[a] = pads[i]!;
    end[a] = pads[i + axes.length]!;
  });
  return { begin, end };
}

/** Where output coordinate `i - begin` reads from in an axis of `size`, or -1 for the constant. */
export function padSource(i: number, size: number, mode: PadMode): number {
  if (i >= 0 && i < size) return i;
  switch (mode) {
    case 'constant':
      return -1;
    case 'edge':
      return i < 0 ? 0 : size - 1;
    case 'wrap':
      return ((i % size) + size) % size;
    case 'reflect': {
      if (size === 1) return 0;
      const period = 2 * (size - 1);
      const r = ((i % period) + period) % period;
      return r < size ? r : period - r;
    }
  }
}

function padded(view: NodeView, values: ReadonlyArray<Value | undefined>): Tensor {
  const x = tensorOf(view, values, 0);
  const mode = padMode(view);
  const rank = x.shape.length;
  const padsInput = view.opset >= 11 ? numericOf(view, values, 1) : undefined;
  const axesInput = view.opset >= 18 ? optionalNumericOf(view, values, 3) : undefined;
  const { begin, end } = padAmounts(view, rank, padsInput, axesInput);
  const shape = x.shape.map((d, i) => d + begin[i]! + end[i]!);
  if (shape.some((d) => d < 0)) view.invalid(`pads crop [${x.shape.join(', ')}] below zero`);
  if (mode !== 'constant') {
    x.shape.forEach((d, i) => {
      if (d === 0 && (begin[i]! > 0 || end[i]! > 0)) view.invalid(`cannot ${mode}-pad an empty axis ${i}`);
    });
  }
  let fill = 0;
  if (view.opset < 11) fill = view.float('value', 0);
  else {
    const c = optionalNumericOf(view, values, 2);
    if (c) fill = scalarOf(view, c, 'constant_value');
  }
  const n = sizeOf(shape);
  const strides = stridesOf(x.shape);
  const sources = new Float64Array(n);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < n; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) {
      const s = padSource(index[d]! - begin[d]!, x.shape[d]!, mode);
      if (s < 0) {
        src = -1;
        break;
      }
      src += s * strides[d]!;
    }
    sources[o] = src;
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d]! < shape[d]!) break;
      index[d] = 0;
    }
  }
  if (x.kind === 'string') {
    return { kind: 'string', dtype: 'string', shape, data: Array.from(sources, (s) => (s < 0 ? '' : x.data[s]!)) };
  }
  return { kind: 'numeric', dtype: x.dtype, shape, data: Float64Array.from(sources, (s) => (s < 0 ? fill : x.data[s]!)) };
}

const Pad = onnxKernel('Pad', 2, {
  validate: (view) => {
    padMode(view);
    if (view.opset >= 11 && !view.node.inputs[1]) view.invalid('input "pads" is required');
  },
  infer: (view, types, constants) => {
    const x = typeOf(view, types, 0);
    if (!x.shape) return [x];
    const padsConst = view.opset >= 11 ? constants[1] : undefined;
    const axesKnown = view.opset < 18 || !view.node.inputs[3] || constants[3];
    if ((view.opset >= 11 && !padsConst) || !axesKnown) return [tensorType(x.dtype, x.shape.map((): Dim => null))];
    const { begin, end } = padAmounts(view, x.shape.length, padsConst, view.opset >= 18 ? constants[3] : undefined);
    return [tensorType(x.dtype, x.shape.map((d, i) => (typeof d === 'number' ? d + begin[i]! + end[i]! : begin[i] === 0 && end[i] === 0 ? d : null)))];
  },
  run: (view, values) => [padded(view, values)],
});

export const padKernels: readonly OpKernel[] = [Pad];
