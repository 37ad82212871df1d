import { ONNX_DOMAIN } from '../graph';
import type { OpKernel } from '../kernel';
import { numeric, type NumericTensor, type Value } from '../tensor';

function numericInput(v: Value | undefined, what: string): NumericTensor {
  if (!v || v.kind !== 'numeric') throw new TypeError(`${what} must be a numeric tensor`);
  return v;
}

const Identity: OpKernel = {
  opType: 'Identity',
  domain: ONNX_DOMAIN,
  minOpset: 1,
  infer: (_n, [x]) => [x!],
  run: (_n, [x]) => [x!],
};

const Relu: OpKernel = {
  opType: 'Relu',
  domain: ONNX_DOMAIN,
  minOpset: 1,
  infer: (_n, [x]) => [x!],
  run: (_n, [x]) => {
    const t = numericInput(x, 'Relu input');
    return [numeric(t.dtype, t.shape, t.data.map((v) => (v > 0 ? v : 0)))];
  },
};

export const basicKernels: readonly OpKernel[] = [Identity, Relu];
