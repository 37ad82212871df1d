/**
 * Kernels for the ONNX operators the activation registry lists: each computes its record's
 * float64 function, with the parameters read from the node's attributes.
 */
import { ACTIVATIONS } from '../../activations/registry';
import type { OpKernel } from '../kernel';
import { attributedUnaryKernel } from './elementwise';

export const activationKernels: readonly OpKernel[] = ACTIVATIONS.flatMap((record) =>
  record.onnx.map((form) => attributedUnaryKernel(form.domain, form.opType, form.since, (view) => record.evaluate(form.params(view)), !form.integers)),
);
