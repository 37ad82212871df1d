import { ONNX_DOMAIN } from '../graph';
import type { NodeView, OpKernel } from '../kernel';
import { numeric, sizeOf } from '../tensor';
import { numericOf, requireNumericType, tensorType, typeOf } from './operands';

/**
 * Inference-mode BatchNormalization over channel axis 1:
 * y = scale · (x − mean) / √(var + ε) + B. Training mode (batch statistics, the running-mean
 * outputs) is refused: the reference runs trained models, it does not train them.
 */
const BatchNormalization: OpKernel = {
  opType: 'BatchNormalization',
  domain: ONNX_DOMAIN,
  minOpset: 6,
  validate: (view: NodeView) => {
    if (view.opset >= 14 && view.int('training_mode', 0) !== 0) view.unsupported('training_mode 1');
    // Before opset 7, is_test 0 (the default) meant batch statistics: a training computation.
    if (view.opset < 7 && view.int('is_test', 0) === 0) view.unsupported('is_test 0 (training)');
    if (view.opset < 9 && view.int('spatial', 1) !== 1) view.unsupported('spatial 0 (per-activation statistics)');
    if (view.node.outputs.slice(1).some(Boolean)) view.unsupported('the training outputs (running mean/var, saved mean/var)');
  },
  infer: (view, types) => {
    const x = requireNumericType(view, typeOf(view, types, 0), 0);
    for (let i = 1; i <= 4; i++) {
      const p = typeOf(view, types, i);
      if (p.shape && x.shape && x.shape.length >= 2) {
        const c = x.shape[1];
        if (p.shape.length !== 1 || (typeof p.shape[0] === 'number' && typeof c === 'number' && p.shape[0] !== c)) {
          view.invalid(`input ${i} of shape [${p.shape.join(', ')}] does not match ${c} channels`);
        }
      }
    }
    return [tensorType(x.dtype, x.shape)];
  },
  run: (view, values) => {
    const x = numericOf(view, values, 0);
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => numericOf(view, values, i));
    if (x.shape.length < 2) view.invalid(`input must be [N, C, …], got shape [${x.shape.join(', ')}]`);
    const channels = x.shape[1]!;
    for (const p of [scale!, bias!, mean!, variance!]) {
      if (p.data.length !== channels) view.invalid(`a parameter of shape [${p.shape.join(', ')}] does not match ${channels} channels`);
    }
    const epsilon = view.float('epsilon', 1e-5);
    const inner = sizeOf(x.shape.slice(2));
    const out = new Float64Array(x.data.length);
    for (let i = 0; i < out.length; i++) {
      const c = Math.floor(i / inner) % channels;
      out[i] = (scale!.data[c]! * (x.data[i]! - mean!.data[c]!)) / Math.sqrt(variance!.data[c]! + epsilon) + bias!.data[c]!;
    }
    return [numeric(x.dtype, x.shape, out)];
  },
};

export const normalizationKernels: readonly OpKernel[] = [BatchNormalization];
