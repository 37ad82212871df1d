import type { Dim } from '../graph';
import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { numeric, sizeOf, type NumericTensor, type Tensor } from '../tensor';
import { broadcastDims, broadcastIndices, broadcastShapes, takeElements } from './broadcast';
import { intsOf, numericOf, tensorOf, tensorType, typeOf, type TensorType } from './operands';

/** A 1-D int64 shape tensor as dims; negative or fractional sizes are a model error. */
function shapeInput(view: NodeView, t: NumericTensor, what: string): number[] {
  if (t.shape.length !== 1) view.invalid(`${what} must be a 1-D tensor, got shape [${t.shape.join(', ')}]`);
  const dims = intsOf(view, t, what);
  if (dims.some((d) => d < 0)) view.invalid(`${what} [${dims.join(', ')}] holds a negative size`);
  return dims;
}

/** Static dims of a shape input: its values when constant, else only its length when known. */
function shapeInputDims(view: NodeView, type: TensorType, constant: Tensor | undefined, what: string): readonly Dim[] | null {
  if (type.dtype !== 'int64') view.invalid(`${what} must be int64, got ${type.dtype}`);
  if (constant?.kind === 'numeric') return shapeInput(view, constant, what);
  const length = type.shape?.[0];
  return typeof length === 'number' ? new Array<Dim>(length).fill(null) : null;
}

// ---------------------------------------------------------------- ConstantOfShape

/** The fill value: the one-element `value` attribute, or float32 0 when it is absent (opset 9). */
function fillValue(view: NodeView): NumericTensor {
  const value = view.tensor('value');
  if (!value) return numeric('float32', [1], [0]);
  if (value.kind !== 'numeric') view.unsupported('a string fill value');
  if (value.data.length !== 1) view.invalid(`attribute "value" must hold one element, got shape [${value.shape.join(', ')}]`);
  return value;
}

/** ConstantOfShape: a tensor of the given shape filled with one value. torch.onnx writes it for `expand` and `ones_like`. */
const ConstantOfShape = onnxKernel('ConstantOfShape', 9, {
  validate: (view) => {
    fillValue(view);
  },
  infer: (view, types, constants) => [tensorType(fillValue(view).dtype, shapeInputDims(view, typeOf(view, types, 0), constants[0], 'shape'))],
  run: (view, values) => {
    const shape = shapeInput(view, numericOf(view, values, 0), 'shape');
    const value = fillValue(view);
    return [numeric(value.dtype, shape, new Float64Array(sizeOf(shape)).fill(value.data[0]!))];
  },
});

// ---------------------------------------------------------------- Expand

/**
 * Expand (opset 8): broadcast the input against `shape` by numpy's rules in both directions, so a
 * 1 in `shape` keeps the input's dim and the result may have more dims than `shape` asks.
 */
const Expand = onnxKernel('Expand', 8, {
  infer: (view, types, constants) => {
    const x = typeOf(view, types, 0);
    const target = shapeInputDims(view, typeOf(view, types, 1), constants[1], 'shape');
    if (!x.shape || !target) return [tensorType(x.dtype, null)];
    return [tensorType(x.dtype, broadcastDims(view, [x.shape, target]))];
  },
  run: (view, values) => {
    const x = tensorOf(view, values, 0);
    const shape = broadcastShapes(view, [x.shape, shapeInput(view, numericOf(view, values, 1), 'shape')]);
    return [takeElements(x, broadcastIndices(x.shape, shape), shape)];
  },
});

export const fillKernels: readonly OpKernel[] = [ConstantOfShape, Expand];
