/**
 * Kernels for the ONNX operators the activation registry lists with a generated kernel: each
 * computes its record's float64 function on input 0, with the parameters read from the node's
 * attributes. Operators with further inputs (Clip, PRelu) have their own kernels in elementwise.ts.
 */
import { ACTIVATIONS } from '../../activations/registry';
import type { OpKernel } from '../kernel';
import { attributedUnaryKernel } from './elementwise';

export const activationKernels: readonly OpKernel[] = ACTIVATIONS.flatMap((record) =>
  record.onnx.flatMap((form) =>
    form.kernel === 'generated' ? [attributedUnaryKernel(form.domain, form.opType, form.since, (view) => record.evaluate(form.params(view)), !form.integers)] : [],
  ),
);
