import { fail } from '../../errors';
import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { numeric, ONNX_DATA_TYPES, strings, type DType, type NumericTensor, type Tensor } from '../tensor';
import { convertNumber } from './dtype';
import { tensorOf, tensorType, typeOf } from './operands';

function targetType(view: NodeView): DType {
  const code = view.int('to');
  if (code === undefined) view.invalid('attribute "to" is required');
  const dtype = ONNX_DATA_TYPES[code];
  if (!dtype) view.unsupported(`cast to element type ${code}`);
  return dtype;
}

/**
 * Shortest decimal that reads back as the same float32, laid out like numpy's str() — the form
 * the ONNX test data uses for float→string casts.
 */
function float32ToString(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  let digits = '';
  for (let p = 1; p <= 9; p++) {
    digits = x.toPrecision(p);
    if (Math.fround(Number(digits)) === x) break;
  }
  const value = Number(digits);
  const a = Math.abs(value);
  if (a >= 1e-4 && a < 1e16) {
    const s = String(value);
    return /[.e]/.test(s) ? s : `${s}.0`;
  }
  const [mantissa, exp] = value.toExponential().split('e') as [string, string];
  const e = Number(exp);
  return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

function numberToString(x: number, dtype: NumericTensor['dtype']): string {
  if (dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16') return float32ToString(x);
  if (dtype === 'bool') return x ? 'True' : 'False';
  if (dtype === 'float64') return Number.isNaN(x) ? 'nan' : !Number.isFinite(x) ? (x > 0 ? 'inf' : '-inf') : String(x);
  return String(x);
}

/** Decimal text, or NaN/INF spellings in any case; anything else is bad data, not silently NaN. */
function parseNumber(view: NodeView, s: string): number {
  const t = s.trim();
  const special = /^([+-]?)(nan|inf|infinity)$/i.exec(t);
  if (special) return special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  const v = t === '' ? NaN : Number(t);
  if (Number.isNaN(v)) fail('BAD_DATA', `${view.describe()}: cannot cast the string "${s}" to a number`);
  return v;
}

function cast(view: NodeView, x: Tensor, to: DType): Tensor {
  if (to === 'string') {
    if (x.kind === 'string') return x;
    return strings(x.shape, Array.from(x.data, (v) => numberToString(v, x.dtype)));
  }
  const source = x.kind === 'string' ? Float64Array.from(x.data, (s) => parseNumber(view, s)) : x.data;
  const out = new Float64Array(source.length);
  for (let i = 0; i < out.length; i++) out[i] = convertNumber(source[i]!, to);
  return numeric(to, x.shape, out);
}

/** Cast (opset ≥ 6, where `to` became an integer code). */
const Cast = onnxKernel('Cast', 6, {
  validate: (view) => {
    targetType(view);
    // `saturate` (opset 19) only changes float8 targets, which the reference does not hold.
  },
  infer: (view, types) => [tensorType(targetType(view), typeOf(view, types, 0).shape)],
  run: (view, values) => [cast(view, tensorOf(view, values, 0), targetType(view))],
});

export const castKernels: readonly OpKernel[] = [Cast];
