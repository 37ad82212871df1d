import type { Dim } from '../graph';
import type { NodeView } from '../kernel';

/**
 * The sliding-window geometry shared by Conv, AveragePool and MaxPool: kernel, strides,
 * dilations, pads (begin…, end…) and output sizes, with auto_pad and ceil_mode resolved.
 */
export interface Window {
  readonly kernel: readonly number[];
  readonly strides: readonly number[];
  readonly dilations: readonly number[];
  /** Padding before each spatial axis. */
  readonly padBegin: readonly number[];
  /** Padding after each spatial axis. */
  readonly padEnd: readonly number[];
  readonly output: readonly number[];
}

export interface WindowOptions {
  /** Pools may round output sizes up (ceil_mode); Conv never does. */
  readonly ceilMode: boolean;
  /** Kernel shape from the weights (Conv) when the attribute is absent. */
  readonly kernelFallback?: readonly Dim[];
}

const AUTO_PADS = ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'];

/** Attribute checks that need no shapes: run from `validate`, at import time. */
export function validateWindowAttributes(view: NodeView, requireKernel: boolean): void {
  const autoPad = view.string('auto_pad', 'NOTSET');
  if (!AUTO_PADS.includes(autoPad)) view.unsupported(`auto_pad "${autoPad}"`);
  const kernel = view.ints('kernel_shape');
  if (requireKernel && !kernel) view.invalid('attribute "kernel_shape" is required');
  const n = kernel?.length;
  const check = (name: string, expected: number | undefined, positive: boolean) => {
    const v = view.ints(name);
    if (!v) return;
    if (expected !== undefined && v.length !== expected) view.invalid(`${name} has ${v.length} values, expected ${expected}`);
    if (v.some((x) => !Number.isInteger(x) || (positive ? x < 1 : x < 0))) view.invalid(`${name} [${v.join(', ')}] must be ${positive ? 'positive' : 'non-negative'}`);
  };
  check('kernel_shape', undefined, true);
  check('strides', n, true);
  check('dilations', n, true);
  check('pads', n === undefined ? undefined : 2 * n, false);
}

/** Output sizes along each axis; a symbolic input size gives an unknown output size. */
export function windowDims(view: NodeView, spatial: readonly Dim[], options: WindowOptions): Dim[] {
  // Axes are independent, so a placeholder for a symbolic size does not disturb the others.
  const w = resolveWindow(view, spatial.map((d) => (typeof d === 'number' ? d : 1 << 20)), options);
  return spatial.map((d, i) => (typeof d === 'number' ? w.output[i]! : null));
}

export function resolveWindow(view: NodeView, spatial: readonly number[], options: WindowOptions): Window {
  const n = spatial.length;
  const kernelAttr = view.ints('kernel_shape');
  const kernel = kernelAttr ? [...kernelAttr] : options.kernelFallback?.map((d) => (typeof d === 'number' ? d : NaN));
  if (!kernel || kernel.length !== n || kernel.some((k) => !Number.isInteger(k))) {
    view.invalid(`kernel shape [${kernel?.join(', ') ?? ''}] does not match ${n} spatial dimensions`);
  }
  const strides = view.ints('strides') ?? new Array<number>(n).fill(1);
  const dilations = view.ints('dilations') ?? new Array<number>(n).fill(1);
  if (strides.length !== n || dilations.length !== n) view.invalid(`strides/dilations do not match ${n} spatial dimensions`);
  const autoPad = view.string('auto_pad', 'NOTSET');
  const padBegin = new Array<number>(n).fill(0);
  const padEnd = new Array<number>(n).fill(0);
  const output = new Array<number>(n);
  const pads = view.ints('pads');
  if (pads && pads.length !== 2 * n) view.invalid(`pads has ${pads.length} values, expected ${2 * n}`);
  for (let i = 0; i < n; i++) {
    const span = dilations[i]! * (kernel[i]! - 1) + 1;
    const size = spatial[i]!;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      output[i] = Math.ceil(size / strides[i]!);
      const total = Math.max(0, (output[i]! - 1) * strides[i]! + span - size);
      const small = Math.floor(total / 2);
      padBegin[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      padEnd[i] = total - padBegin[i]!;
      continue;
    }
    if (autoPad === 'NOTSET' && pads) {
      padBegin[i] = pads[i]!;
      padEnd[i] = pads[i + n]!;
    }
    const room = size + padBegin[i]! + padEnd[i]! - span;
    if (room < 0) view.invalid(`the window (${span}) is larger than the padded input (${size + padBegin[i]! + padEnd[i]!}) on spatial axis ${i}`);
    if (options.ceilMode) {
      let out = Math.ceil(room / strides[i]!) + 1;
      // A window may not start inside the end padding (ONNX, PyTorch and onnxruntime agree).
      if ((out - 1) * strides[i]! >= size + padBegin[i]!) out--;
      output[i] = out;
    } else {
      output[i] = Math.floor(room / strides[i]!) + 1;
    }
  }
  return { kernel, strides, dilations, padBegin, padEnd, output };
}
