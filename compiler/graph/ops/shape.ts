import type { Dim } from '../graph';
import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { numeric, sizeOf, type Shape, type Tensor } from '../tensor';
import { stridedIndices, takeElements, withShape } from './broadcast';
import {
  intsOf,
  knownSize,
  normalizeAxes,
  normalizeAxis,
  numericOf,
  optionalNumericOf,
  stridesOf,
  tensorOf,
  tensorType,
  typeOf,
  type Dims,
} from './operands';

// ---------------------------------------------------------------- Flatten

function flattenAxis(view: NodeView, rank: number): number {
  const axis = view.int('axis', 1);
  // Flatten's axis ranges over [-rank, rank]: axis = rank gives [size, 1].
  if (axis < -rank || axis > rank) view.invalid(`axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

function product(dims: readonly Dim[]): Dim {
  const n = knownSize(dims);
  if (n !== null) return n;
  return dims.length === 1 ? dims[0]! : null;
}

const Flatten = onnxKernel('Flatten', 1, {
  infer: (view, types) => {
    const x = typeOf(view, types, 0);
    if (!x.shape) return [tensorType(x.dtype, [null, null])];
    const axis = flattenAxis(view, x.shape.length);
    return [tensorType(x.dtype, [product(x.shape.slice(0, axis)), product(x.shape.slice(axis))])];
  },
  run: (view, values) => {
    const x = tensorOf(view, values, 0);
    const axis = flattenAxis(view, x.shape.length);
    const rows = sizeOf(x.shape.slice(0, axis));
    return [withShape(x, [rows, sizeOf(x.shape.slice(axis))])];
  },
});

// ---------------------------------------------------------------- Reshape

/**
 * Output dims of Reshape. 0 copies the input dim (unless allowzero, opset 14), -1 takes what is
 * left. Symbolic input dims copied by a 0 cancel out, so `[0, -1]` on `[N, 3, 4]` gives `[N, 12]`.
 */
function reshapeDims(view: NodeView, input: readonly Dim[] | null, requested: readonly number[]): Dim[] {
  const allowZero = view.opset >= 14 && view.int('allowzero', 0) !== 0;
  if (requested.filter((d) => d === -1).length > 1) view.invalid('the shape has more than one -1');
  if (requested.some((d) => d < -1)) view.invalid(`invalid target shape [${requested.join(', ')}]`);
  if (allowZero && requested.includes(0) && requested.includes(-1)) view.invalid('with allowzero a shape cannot hold both 0 and -1');
  const out: Dim[] = requested.map((d, i) => {
    if (d !== 0 || allowZero) return d;
    if (!input) return null;
    if (i >= input.length) view.invalid(`shape [${requested.join(', ')}] copies dim ${i} of a rank-${input.length} input`);
    return input[i]!;
  });
  const hole = requested.indexOf(-1);
  if (!input) {
    if (hole >= 0) out[hole] = null;
    return out;
  }
  // Cancel the dims copied verbatim, then see what size is left for -1.
  const remaining = [...input];
  const others: Dim[] = [];
  out.forEach((d, i) => {
    if (i === hole) return;
    if (requested[i] === 0 && !allowZero && remaining[i] === input[i]) remaining[i] = 1;
    else others.push(d);
  });
  const inSize = knownSize(remaining);
  const outSize = knownSize(others);
  if (hole >= 0) {
    if (inSize === null || outSize === null) out[hole] = null;
    else {
      if (outSize === 0 || inSize % outSize !== 0) view.invalid(`cannot reshape [${input.join(', ')}] to [${requested.join(', ')}]`);
      out[hole] = inSize / outSize;
    }
  } else if (inSize !== null && outSize !== null && inSize !== outSize) {
    view.invalid(`cannot reshape [${input.join(', ')}] (${inSize} elements) to [${requested.join(', ')}]`);
  }
  return out;
}

const Reshape = onnxKernel('Reshape', 5, {
  infer: (view, types, constants) => {
    const x = typeOf(view, types, 0);
    const shape = typeOf(view, types, 1);
    const target = constants[1];
    if (target && target.kind === 'numeric') return [tensorType(x.dtype, reshapeDims(view, x.shape, intsOf(view, target, 'shape')))];
    const rank = shape.shape?.[0];
    return [tensorType(x.dtype, typeof rank === 'number' ? new Array<Dim>(rank).fill(null) : null)];
  },
  run: (view, values) => {
    const x = tensorOf(view, values, 0);
    const dims = reshapeDims(view, x.shape, intsOf(view, numericOf(view, values, 1), 'shape')) as number[];
    return [withShape(x, dims)];
  },
});

// ---------------------------------------------------------------- Transpose

function permutation(view: NodeView, rank: number): number[] {
  const perm = view.ints('perm') ?? Array.from({ length: rank }, (_v, i) => rank - 1 - i);
  if (perm.length !== rank) view.invalid(`perm [${perm.join(', ')}] does not match rank ${rank}`);
  return normalizeAxes(view, perm, rank, 'perm');
}

export function transposeTensor(x: Tensor, perm: readonly number[]): Tensor {
  const shape = perm.map((p) => x.shape[p]!);
  const inStrides = stridesOf(x.shape);
  return takeElements(x, stridedIndices(shape, perm.map((p) => inStrides[p]!)), shape);
}

const Transpose = onnxKernel('Transpose', 1, {
  infer: (view, types) => {
    const x = typeOf(view, types, 0);
    if (!x.shape) return [x];
    const perm = permutation(view, x.shape.length);
    return [tensorType(x.dtype, perm.map((p) => x.shape![p]!))];
  },
  run: (view, values) => {
    const x = tensorOf(view, values, 0);
    return [transposeTensor(x, permutation(view, x.shape.length))];
  },
});

// ---------------------------------------------------------------- Squeeze / Unsqueeze

/** Axes: an attribute before opset 13, an (optional for Squeeze) int64 input from 13. */
function axesArgument(view: NodeView, axesInput: Tensor | undefined): number[] | undefined {
  if (view.opset < 13) return view.ints('axes') ? [...view.ints('axes')!] : undefined;
  if (!axesInput) return undefined;
  if (axesInput.kind !== 'numeric') view.invalid('axes must be an integer tensor');
  return intsOf(view, axesInput, 'axes');
}

function squeezeDims(view: NodeView, dims: readonly Dim[], axes: readonly number[] | undefined): Dims {
  if (!axes) {
    if (dims.some((d) => typeof d !== 'number')) return null;
    return dims.filter((d) => d !== 1);
  }
  const drop = normalizeAxes(view, axes, dims.length);
  for (const a of drop) {
    const d = dims[a];
    if (typeof d === 'number' && d !== 1) view.invalid(`cannot squeeze axis ${a} of size ${d}`);
  }
  return dims.filter((_d, i) => !drop.includes(i));
}

const Squeeze = onnxKernel('Squeeze', 1, {
  infer: (view, types, constants) => {
    const x = typeOf(view, types, 0);
    if (view.opset >= 13 && view.node.inputs[1] && !constants[1]) {
      return [tensorType(x.dtype, null)];
    }
    return [tensorType(x.dtype, x.shape ? squeezeDims(view, x.shape, axesArgument(view, constants[1])) : null)];
  },
  run: (view, values) => {
    const x = tensorOf(view, values, 0);
    const axes = axesArgument(view, view.opset >= 13 ? optionalNumericOf(view, values, 1) : undefined);
    return [withShape(x, squeezeDims(view, x.shape, axes) as number[])];
  },
});

function unsqueezeDims(view: NodeView, dims: readonly Dim[], axes: readonly number[] | undefined): Dim[] {
  if (!axes) view.invalid('axes are required');
  const rank = dims.length + axes.length;
  const inserted = normalizeAxes(view, axes, rank);
  const out: Dim[] = [];
  let next = 0;
  for (let i = 0; i < rank; i++) out.push(inserted.includes(i) ? 1 : dims[next++]!);
  return out;
}

const Unsqueeze = onnxKernel('Unsqueeze', 1, {
  validate: (view) => {
    if (view.opset < 13 && !view.ints('axes')) view.invalid('attribute "axes" is required');
    if (view.opset >= 13 && !view.node.inputs[1]) view.invalid('input "axes" is required');
  },
  infer: (view, types, constants) => {
    const x = typeOf(view, types, 0);
    if (view.opset >= 13 && !constants[1]) {
      const axesShape = typeOf(view, types, 1).shape;
      const count = axesShape?.[0];
      return [tensorType(x.dtype, x.shape && typeof count === 'number' ? new Array<Dim>(x.shape.length + count).fill(null) : null)];
    }
    return [tensorType(x.dtype, x.shape ? unsqueezeDims(view, x.shape, axesArgument(view, constants[1])) : null)];
  },
  run: (view, values) => {
    const x = tensorOf(view, values, 0);
    const axes = axesArgument(view, view.opset >= 13 ? numericOf(view, values, 1) : undefined);
    return [withShape(x, unsqueezeDims(view, x.shape, axes) as number[])];
  },
});

// ---------------------------------------------------------------- Concat

function concatAxis(view: NodeView, rank: number): number {
  // `axis` became required at opset 4; version 1 defaulted to 1.
  const axis = view.int('axis') ?? (view.opset < 4 ? 1 : view.invalid('attribute "axis" is required'));
  return normalizeAxis(view, axis, rank);
}

const Concat = onnxKernel('Concat', 1, {
  infer: (view, types) => {
    if (view.node.inputs.length === 0) view.invalid('needs at least one input');
    const inputs = view.node.inputs.map((_x, i) => typeOf(view, types, i));
    const dtype = inputs[0]!.dtype;
    if (inputs.some((t) => t.dtype !== dtype)) view.invalid(`inputs have different types (${inputs.map((t) => t.dtype).join(', ')})`);
    const shapes = inputs.map((t) => t.shape);
    if (shapes.some((s) => s === null)) return [tensorType(dtype, null)];
    const known = shapes as (readonly Dim[])[];
    const rank = known[0]!.length;
    if (known.some((s) => s.length !== rank)) view.invalid('inputs have different ranks');
    const axis = concatAxis(view, rank);
    const out: Dim[] = [...known[0]!];
    for (let d = 0; d < rank; d++) {
      if (d === axis) {
        out[d] = knownSize(known.map((s) => s[d]!)) === null ? null : known.reduce((sum, s) => sum + (s[d] as number), 0);
        continue;
      }
      for (const s of known) {
        const v = s[d]!;
        if (typeof v === 'number' && typeof out[d] === 'number' && v !== out[d]) view.invalid(`inputs differ in dimension ${d} (${out[d]} and ${v})`);
        if (typeof out[d] !== 'number') out[d] = typeof v === 'number' ? v : out[d] === v ? v : null;
      }
    }
    return [tensorType(dtype, out)];
  },
  run: (view, values) => {
    const inputs = view.node.inputs.map((_x, i) => tensorOf(view, values, i));
    const first = inputs[0]!;
    const rank = first.shape.length;
    const axis = concatAxis(view, rank);
    for (const t of inputs) {
      if (t.shape.length !== rank || t.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
        view.invalid(`cannot concatenate shapes ${inputs.map((x) => `[${x.shape.join(', ')}]`).join(', ')} on axis ${axis}`);
      }
      if (t.kind !== first.kind || t.dtype !== first.dtype) view.invalid('inputs have different types');
    }
    const outer = sizeOf(first.shape.slice(0, axis));
    const shape = [...first.shape];
    shape[axis] = inputs.reduce((s, t) => s + t.shape[axis]!, 0);
    // Each input contributes a contiguous block of (its axis length × inner) per outer index.
    const blocks = inputs.map((t) => sizeOf(t.shape.slice(axis)));
    const total = blocks.reduce((a, b) => a + b, 0);
    if (first.kind === 'string') {
      const data: string[] = [];
      for (let o = 0; o < outer; o++) inputs.forEach((t, j) => data.push(...(t.data as readonly string[]).slice(o * blocks[j]!, (o + 1) * blocks[j]!)));
      return [{ kind: 'string', dtype: 'string', shape, data }];
    }
    const data = new Float64Array(outer * total);
    let at = 0;
    for (let o = 0; o < outer; o++) {
      inputs.forEach((t, j) => {
        data.set((t.data as Float64Array).subarray(o * blocks[j]!, (o + 1) * blocks[j]!), at);
        at += blocks[j]!;
      });
    }
    return [numeric(first.dtype as Exclude<typeof first.dtype, 'string'>, shape, data)];
  },
});

// ---------------------------------------------------------------- Shape

/** Shape's [start, end) window (opset 15), clamped like Python slicing. */
function shapeWindow(view: NodeView, rank: number): [number, number] {
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  return [clamp(view.int('start', 0)), clamp(view.int('end', rank))];
}

const ShapeOp = onnxKernel('Shape', 1, {
  infer: (view, types) => {
    const x = typeOf(view, types, 0);
    if (!x.shape) return [tensorType('int64', [null])];
    const [start, end] = shapeWindow(view, x.shape.length);
    return [tensorType('int64', [Math.max(end - start, 0)])];
  },
  run: (view, values) => {
    const x = tensorOf(view, values, 0);
    const [start, end] = shapeWindow(view, x.shape.length);
    const dims = x.shape.slice(start, Math.max(start, end));
    return [numeric('int64', [dims.length], dims)];
  },
});

/** Size: the element count as an int64 scalar (the expanded LayerNormalization of the ONNX tests divides by it). */
const Size = onnxKernel('Size', 1, {
  infer: (view, types) => {
    typeOf(view, types, 0);
    return [tensorType('int64', [])];
  },
  run: (view, values) => [numeric('int64', [], [sizeOf(tensorOf(view, values, 0).shape)])],
});

// ---------------------------------------------------------------- Gather

const Gather = onnxKernel('Gather', 1, {
  infer: (view, types) => {
    const data = typeOf(view, types, 0);
    const indices = typeOf(view, types, 1);
    if (indices.dtype !== 'int32' && indices.dtype !== 'int64') view.invalid(`indices must be int32 or int64, got ${indices.dtype}`);
    if (!data.shape || !indices.shape) return [tensorType(data.dtype, null)];
    const axis = normalizeAxis(view, view.int('axis', 0), data.shape.length);
    return [tensorType(data.dtype, [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)])];
  },
  run: (view, values) => {
    const data = tensorOf(view, values, 0);
    const indices = numericOf(view, values, 1);
    const axis = normalizeAxis(view, view.int('axis', 0), data.shape.length);
    const length = data.shape[axis]!;
    const outer = sizeOf(data.shape.slice(0, axis));
    const inner = sizeOf(data.shape.slice(axis + 1));
    const picks = Array.from(indices.data, (i) => {
      if (!Number.isInteger(i) || i < -length || i >= length) view.invalid(`index ${i} is out of range for axis ${axis} of size ${length}`);
      return i < 0 ? i + length : i;
    });
    const sources = new Float64Array(outer * picks.length * inner);
    let at = 0;
    for (let o = 0; o < outer; o++) {
      for (const p of picks) {
        for (let i = 0; i < inner; i++) sources[at++] = (o * length + p) * inner + i;
      }
    }
    return [takeElements(data, sources, [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)])];
  },
});

// ---------------------------------------------------------------- Slice

interface SliceArguments {
  starts: number[];
  ends: number[];
  axes: number[] | undefined;
  steps: number[] | undefined;
}

/** Before opset 10 the arguments are attributes (no steps); from 10 they are int tensors. */
function sliceArguments(view: NodeView, tensors: ReadonlyArray<Tensor | undefined>): SliceArguments | undefined {
  if (view.opset < 10) {
    const starts = view.ints('starts');
    const ends = view.ints('ends');
    if (!starts || !ends) view.invalid('attributes "starts" and "ends" are required');
    return { starts: [...starts], ends: [...ends], axes: view.ints('axes') ? [...view.ints('axes')!] : undefined, steps: undefined };
  }
  const read = (i: number, what: string): number[] | undefined => {
    const t = tensors[i];
    if (!t) return undefined;
    if (t.kind !== 'numeric') view.invalid(`${what} must be an integer tensor`);
    return intsOf(view, t, what);
  };
  const starts = read(1, 'starts');
  const ends = read(2, 'ends');
  if (!starts || !ends) return undefined;
  return { starts, ends, axes: read(3, 'axes'), steps: read(4, 'steps') };
}

interface AxisSlice {
  start: number;
  step: number;
  count: number;
}

/** Per-axis start, step and element count, with ONNX's clamping of out-of-range starts and ends. */
function slicePlan(view: NodeView, shape: Shape, args: SliceArguments): AxisSlice[] {
  const rank = shape.length;
  const n = args.starts.length;
  if (args.ends.length !== n || (args.axes && args.axes.length !== n) || (args.steps && args.steps.length !== n)) {
    view.invalid('starts, ends, axes and steps must have the same length');
  }
  const axes = normalizeAxes(view, args.axes ?? Array.from({ length: n }, (_v, i) => i), rank);
  const plan: AxisSlice[] = shape.map((d) => ({ start: 0, step: 1, count: d }));
  axes.forEach((axis, i) => {
    const dim = shape[axis]!;
    const step = args.steps?.[i] ?? 1;
    if (step === 0) view.invalid('slice step cannot be 0');
    let start = args.starts[i]!;
    let end = args.ends[i]!;
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (step > 0) {
      start = Math.min(Math.max(start, 0), dim);
      end = Math.min(Math.max(end, 0), dim);
    } else {
      start = Math.min(Math.max(start, 0), dim - 1);
      end = Math.min(Math.max(end, -1), dim - 1);
    }
    const count = Math.max(0, Math.ceil((end - start) / step));
    plan[axis] = { start, step, count };
  });
  return plan;
}

const Slice = onnxKernel('Slice', 1, {
  infer: (view, types, constants) => {
    const x = typeOf(view, types, 0);
    if (!x.shape) return [x];
    const args = sliceArguments(view, constants);
    if (!args || (view.opset >= 10 && view.node.inputs.slice(3).some((name, i) => name && !constants[3 + i]))) {
      return [tensorType(x.dtype, new Array<Dim>(x.shape.length).fill(null))];
    }
    if (x.shape.every((d) => typeof d === 'number')) {
      return [tensorType(x.dtype, slicePlan(view, x.shape as number[], args).map((p) => p.count))];
    }
    // Only the sliced axes depend on sizes; others keep their (possibly symbolic) dims.
    const sliced = new Set(normalizeAxes(view, args.axes ?? args.starts.map((_v, i) => i), x.shape.length));
    return [tensorType(x.dtype, x.shape.map((d, i) => (sliced.has(i) ? null : d)))];
  },
  run: (view, values) => {
    const x = tensorOf(view, values, 0);
    const tensors = values.map((v) => (v && v.kind !== 'sequence-of-maps' ? v : undefined));
    const args = sliceArguments(view, tensors);
    if (!args) return view.invalid('inputs "starts" and "ends" are required');
    const plan = slicePlan(view, x.shape, args);
    const shape = plan.map((p) => p.count);
    const strides = stridesOf(x.shape);
    // Element i along axis d reads start + i·step there: a strided walk from the first start.
    const base = plan.reduce((sum, p, d) => sum + p.start * strides[d]!, 0);
    return [takeElements(x, stridedIndices(shape, plan.map((p, d) => p.step * strides[d]!), base), shape)];
  },
});

export const shapeKernels: readonly OpKernel[] = [Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Concat, ShapeOp, Size, Gather, Slice];
