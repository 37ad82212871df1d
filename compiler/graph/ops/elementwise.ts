import { clip, leakyRelu } from '../../activations/functions';
import { fail } from '../../errors';
import { ONNX_DOMAIN } from '../graph';
import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { isIntegerType, numeric, sizeOf, strings, type NumericTensor } from '../tensor';
import { broadcastBinary, broadcastDims, broadcastIndices, broadcastShapes } from './broadcast';
import { finishArithmetic, wrapProduct } from './dtype';
import { numericOf, numericPairType, optionalNumericOf, optionalTypeOf, requireNumericType, scalarOf, tensorOf, tensorType, typeOf } from './operands';

type Binary = (x: number, y: number) => number;

/**
 * Add/Sub/Mul/Div with numpy broadcasting (opset ≥ 7; older versions used `broadcast`/`axis`
 * attributes). Integer results wrap like the hardware types; Div on integers truncates toward zero.
 */
function binaryKernel(opType: string, float: Binary, integer: (view: NodeView, dtype: NumericTensor['dtype']) => Binary): OpKernel {
  return onnxKernel(opType, 7, {
    infer: (view, types) => {
      const [a, b] = numericPairType(view, types);
      return [tensorType(a.dtype, broadcastDims(view, [a.shape, b.shape]))];
    },
    run: (view, values) => {
      const a = numericOf(view, values, 0);
      const b = numericOf(view, values, 1);
      const f = isIntegerType(a.dtype) ? integer(view, a.dtype) : float;
      const { shape, data } = broadcastBinary(view, a, b, f);
      return [finishArithmetic(a.dtype, shape, data)];
    },
  });
}

const Add = binaryKernel('Add', (x, y) => x + y, () => (x, y) => x + y);
const Sub = binaryKernel('Sub', (x, y) => x - y, () => (x, y) => x - y);
const Mul = binaryKernel('Mul', (x, y) => x * y, (_v, dtype) => (x, y) => wrapProduct(x, y, dtype));
const Div = binaryKernel(
  'Div',
  (x, y) => x / y,
  (view) => (x, y) => {
    if (y === 0) fail('BAD_DATA', `${view.describe()}: integer division by zero`);
    return Math.trunc(x / y);
  },
);

/**
 * An elementwise function of one input whose form may depend on the node's attributes (read, and
 * so checked, at import). `floatOnly` refuses integer and bool inputs at import, as ONNX types them.
 */
export function attributedUnaryKernel(domain: string, opType: string, minOpset: number, f: (view: NodeView) => (x: number) => number, floatOnly: boolean): OpKernel {
  return {
    opType,
    domain,
    minOpset,
    validate: (view) => {
      f(view);
    },
    infer: (view, types) => {
      const t = requireNumericType(view, typeOf(view, types, 0), 0);
      if (floatOnly && (isIntegerType(t.dtype) || t.dtype === 'bool')) view.invalid(`${opType} needs a floating-point input, got ${t.dtype}`);
      return [t];
    },
    run: (view, values) => {
      const x = numericOf(view, values, 0);
      const fx = f(view);
      const out = new Float64Array(x.data.length);
      for (let i = 0; i < out.length; i++) out[i] = fx(x.data[i]!);
      return [finishArithmetic(x.dtype, x.shape, out)];
    },
  };
}

function unaryKernel(opType: string, f: (x: number) => number, floatOnly: boolean): OpKernel {
  return attributedUnaryKernel(ONNX_DOMAIN, opType, 1, () => f, floatOnly);
}

const Neg = unaryKernel('Neg', (x) => -x, false);
/** Abs: skl2onnx's L1 normalisation of double outputs (apply_normalizer with use_float false) divides by ReduceSum(Abs(p)). */
const Abs = unaryKernel('Abs', Math.abs, false);
const Exp = unaryKernel('Exp', Math.exp, true);
const Sqrt = unaryKernel('Sqrt', Math.sqrt, true);
const Reciprocal = unaryKernel('Reciprocal', (x) => 1 / x, true);

/** Equal with numpy broadcasting: a bool tensor (1 where the inputs are equal; NaN equals nothing). */
const Equal = onnxKernel('Equal', 7, {
  infer: (view, types) => {
    const [a, b] = numericPairType(view, types);
    return [tensorType('bool', broadcastDims(view, [a.shape, b.shape]))];
  },
  run: (view, values) => {
    const { shape, data } = broadcastBinary(view, numericOf(view, values, 0), numericOf(view, values, 1), (x, y) => (x === y ? 1 : 0));
    return [numeric('bool', shape, data)];
  },
});

/**
 * Not: logical negation of a bool tensor. skl2onnx's SGDClassifier converter (multiclass log_loss
 * and modified_huber, _handle_zeros) writes Cast(bool) → Not → Cast(float) to guard a division.
 */
const Not = onnxKernel('Not', 1, {
  infer: (view, types) => {
    const x = requireNumericType(view, typeOf(view, types, 0), 0);
    if (x.dtype !== 'bool') view.invalid(`Not needs a bool input, got ${x.dtype}`);
    return [x];
  },
  run: (view, values) => {
    const x = numericOf(view, values, 0);
    return [numeric('bool', x.shape, x.data.map((v) => (v !== 0 ? 0 : 1)))];
  },
});

/**
 * Clip: bounds are attributes before opset 11 and optional scalar inputs from 11 on. A missing
 * bound means no bound (ONNX: the type's lowest/highest value).
 */
const Clip = onnxKernel('Clip', 1, {
  infer: (view, types) => {
    const x = requireNumericType(view, typeOf(view, types, 0), 0);
    if (view.opset >= 11) {
      for (const i of [1, 2]) {
        const bound = optionalTypeOf(view, types, i);
        if (bound && bound.dtype !== x.dtype) view.invalid(`bound input ${i} is ${bound.dtype}, the input is ${x.dtype}`);
      }
    }
    return [x];
  },
  run: (view, values) => {
    const x = numericOf(view, values, 0);
    let lo = -Infinity;
    let hi = Infinity;
    if (view.opset >= 11) {
      const min = optionalNumericOf(view, values, 1);
      const max = optionalNumericOf(view, values, 2);
      if (min) lo = scalarOf(view, min, 'min');
      if (max) hi = scalarOf(view, max, 'max');
    } else {
      lo = view.float('min', -Infinity);
      hi = view.float('max', Infinity);
    }
    return [numeric(x.dtype, x.shape, x.data.map(clip(lo, hi)))];
  },
});

/**
 * Pow with numpy broadcasting. From opset 12 the exponent may have another numeric type than the
 * base; the result has the base's type (integer results wrap). torch.onnx writes Pow(x, 2) for the
 * variance of a LayerNorm exported below opset 17.
 */
const Pow = onnxKernel('Pow', 7, {
  infer: (view, types) => {
    const a = requireNumericType(view, typeOf(view, types, 0), 0);
    const b = requireNumericType(view, typeOf(view, types, 1), 1);
    if (a.dtype === 'bool' || b.dtype === 'bool') view.invalid('Pow needs numeric inputs, not bool');
    if (view.opset < 12 && a.dtype !== b.dtype) view.invalid(`inputs have different types (${a.dtype} and ${b.dtype})`);
    return [tensorType(a.dtype, broadcastDims(view, [a.shape, b.shape]))];
  },
  run: (view, values) => {
    const a = numericOf(view, values, 0);
    const { shape, data } = broadcastBinary(view, a, numericOf(view, values, 1), (x, y) => x ** y);
    if (isIntegerType(a.dtype)) for (let i = 0; i < data.length; i++) data[i] = Math.trunc(data[i]!);
    return [finishArithmetic(a.dtype, shape, data)];
  },
});

/**
 * Where(condition, X, Y): X where the bool condition holds, else Y, all three broadcast together
 * (numpy rules, opset 9). torch.onnx writes it for masked_fill and for `expand` with -1 sizes.
 */
const Where = onnxKernel('Where', 9, {
  infer: (view, types) => {
    const c = typeOf(view, types, 0);
    if (c.dtype !== 'bool') view.invalid(`the condition must be bool, got ${c.dtype}`);
    const x = typeOf(view, types, 1);
    const y = typeOf(view, types, 2);
    if (x.dtype !== y.dtype) view.invalid(`X and Y have different types (${x.dtype} and ${y.dtype})`);
    return [tensorType(x.dtype, broadcastDims(view, [c.shape, x.shape, y.shape]))];
  },
  run: (view, values) => {
    const c = numericOf(view, values, 0);
    const x = tensorOf(view, values, 1);
    const y = tensorOf(view, values, 2);
    if (x.kind !== y.kind) view.invalid('X and Y have different types');
    const shape = broadcastShapes(view, [c.shape, x.shape, y.shape]);
    const ci = broadcastIndices(c.shape, shape);
    const xi = broadcastIndices(x.shape, shape);
    const yi = broadcastIndices(y.shape, shape);
    const n = sizeOf(shape);
    if (x.kind === 'string' && y.kind === 'string') {
      const data = Array.from({ length: n }, (_v, i) => (c.data[ci[i]!] !== 0 ? x.data[xi[i]!]! : y.data[yi[i]!]!));
      return [strings(shape, data)];
    }
    const xd = x.data as ArrayLike<number>;
    const yd = y.data as ArrayLike<number>;
    const data = new Float64Array(n);
    for (let i = 0; i < n; i++) data[i] = c.data[ci[i]!] !== 0 ? xd[xi[i]!]! : yd[yi[i]!]!;
    return [numeric(x.dtype as NumericTensor['dtype'], shape, data)];
  },
});

/** PRelu: x below 0 times the slope, which broadcasts to x (numpy rules from opset 7). */
const PRelu = binaryKernel('PRelu', (x, slope) => leakyRelu(slope)(x), (_v, dtype) => (x, slope) => (x >= 0 ? x : wrapProduct(x, slope, dtype)));

export const elementwiseKernels: readonly OpKernel[] = [Add, Sub, Mul, Div, Pow, Neg, Abs, Exp, Sqrt, Reciprocal, Equal, Not, Clip, PRelu, Where];
