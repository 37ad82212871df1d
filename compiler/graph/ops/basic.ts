import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { numeric, strings, type Tensor } from '../tensor';
import { tensorType } from './operands';

const Identity = onnxKernel('Identity', 1, {
  infer: (view, [x]) => {
    if (!x) return view.invalid('the type of input 0 is unknown');
    return [x];
  },
  run: (view, [x]) => {
    if (!x) return view.invalid('input 0 is required');
    return [x];
  },
});

/** The one value a Constant node carries: `value` (any opset) or, from opset 12, the typed shorthands. */
const CONSTANT_ATTRIBUTES = ['value', 'value_float', 'value_floats', 'value_int', 'value_ints', 'value_string', 'value_strings', 'sparse_value'];

function constantValue(view: NodeView): Tensor {
  const present = CONSTANT_ATTRIBUTES.filter((a) => view.has(a));
  if (present.length !== 1) view.invalid(`needs exactly one value attribute, found ${present.length ? present.join(', ') : 'none'}`);
  const which = present[0]!;
  switch (which) {
    case 'value':
      return view.tensor('value')!;
    case 'value_float':
      return numeric('float32', [], [view.float('value_float')!]);
    case 'value_floats':
      return numeric('float32', [view.floats('value_floats')!.length], view.floats('value_floats')!);
    case 'value_int':
      return numeric('int64', [], [view.int('value_int')!]);
    case 'value_ints':
      return numeric('int64', [view.ints('value_ints')!.length], view.ints('value_ints')!);
    case 'value_string':
      return strings([], [view.string('value_string')!]);
    case 'value_strings':
      return strings([view.strings('value_strings')!.length], view.strings('value_strings')!);
    default:
      view.unsupported(`attribute "${which}"`);
  }
}

const Constant = onnxKernel('Constant', 1, {
  validate: (view) => {
    constantValue(view);
  },
  infer: (view) => {
    const t = constantValue(view);
    return [tensorType(t.dtype, t.shape)];
  },
  run: (view) => [constantValue(view)],
});

export const basicKernels: readonly OpKernel[] = [Identity, Constant];
