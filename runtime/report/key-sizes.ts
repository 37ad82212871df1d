/**
 * The one evaluation-key size a report shows. The compiler's estimate (seeded keys, uncompressed)
 * and the bytes an encrypted run really serialized (compressed) differ, and showing both read as
 * a contradiction: with `--fhe` the measured bytes win, otherwise the estimate, labelled as such.
 */
import type { Report } from './build-report';

export interface ReportKeySizes {
  readonly total: number;
  readonly relin: number;
  readonly galois: number;
  readonly source: 'measured' | 'estimate';
}

export function reportKeySizes(r: Report): ReportKeySizes {
  if (r.fhe) {
    const s = r.fhe.sizes;
    return { total: s.eval_key_bytes, relin: s.relin_key_bytes, galois: s.galois_key_bytes, source: 'measured' };
  }
  const k = r.circuit.sizes.keys;
  return { total: k.evaluationKeys, relin: k.relinKeys, galois: k.galoisKeys, source: 'estimate' };
}

export const keySizeSource = (k: ReportKeySizes): string =>
  k.source === 'measured' ? 'measured: the serialized keys of the encrypted run' : 'estimate: seeded, uncompressed (an upper bound); report --fhe measures them';
