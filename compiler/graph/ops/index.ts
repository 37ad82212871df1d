import { kernelKey, type OpKernel } from '../kernel';
import { activationKernels } from './activations';
import { basicKernels } from './basic';
import { mlLinearKernels } from './ml-linear';
import { mlMiscKernels } from './ml-misc';
import { mlTreeKernels } from './ml-tree';
import { castKernels } from './cast';
import { convKernels } from './conv';
import { elementwiseKernels } from './elementwise';
import { fillKernels } from './fill';
import { linalgKernels } from './linalg';
import { normalizationKernels } from './normalization';
import { padKernels } from './pad';
import { poolKernels } from './pool';
import { reduceKernels } from './reduce';
import { scanKernels } from './scan';
import { shapeKernels } from './shape';
import { softmaxKernels } from './softmax';
import { topkKernels } from './topk';

/** Every operator the importer accepts. Each ops/*.ts file exports an array of kernels. */
const ALL: readonly OpKernel[] = [
  ...basicKernels,
  ...elementwiseKernels,
  ...activationKernels,
  ...linalgKernels,
  ...softmaxKernels,
  ...reduceKernels,
  ...topkKernels,
  ...scanKernels,
  ...shapeKernels,
  ...fillKernels,
  ...castKernels,
  ...convKernels,
  ...poolKernels,
  ...padKernels,
  ...normalizationKernels,
  ...mlLinearKernels,
  ...mlMiscKernels,
  ...mlTreeKernels,
];

export const kernels: ReadonlyMap<string, OpKernel> = new Map(ALL.map((k) => [kernelKey(k.domain, k.opType), k]));

export function findKernel(domain: string, opType: string): OpKernel | undefined {
  return kernels.get(kernelKey(domain, opType));
}
