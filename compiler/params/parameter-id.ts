import { createHash } from 'node:crypto';
import type { CkksParameters } from './types';

/**
 * A short, stable name for a parameter set: the first 16 hex digits of SHA-256 over N and the
 * exact primes. Two sets share it only if SEAL would build the same context, so ciphertexts and
 * keys tagged with it can be refused when they were made for other parameters.
 */
export function parameterId(params: Pick<CkksParameters, 'polyModulusDegree' | 'primes'>): string {
  const canonical = `seal-ckks/v1/${params.polyModulusDegree}/${params.primes.join(',')}`;
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
