/**
 * The heap a plan needs: one parameter set, its circuits (one, or a segment each) with a plaintext
 * cache each, the evaluation keys loaded once, and the most ciphertexts any one segment keeps alive.
 */
import { cachedPlaintexts, peakLiveCiphertexts } from '../circuit/memory';
import type { Circuit } from '../circuit/ir';
import { describeRunMemory, estimateRunMemory, type RunMemoryEstimate } from '../params/sizes';
import type { CkksParameters } from '../params/types';

export function planMemory(params: CkksParameters, circuits: readonly Circuit[]): RunMemoryEstimate & { readonly peakLiveCiphertexts: number } {
  const relin = circuits.some((c) => c.ops.some((op) => op.op === 'relin'));
  const peak = Math.max(...circuits.map(peakLiveCiphertexts));
  const cached = circuits.map(cachedPlaintexts);
  const estimate = estimateRunMemory(params, {
    relin,
    liveCiphertexts: peak,
    plaintexts: cached.flatMap((c) => c.constants),
    scalarPlaintexts: cached.flatMap((c) => c.scalars),
  });
  return { ...estimate, peakLiveCiphertexts: peak };
}

/**
 * Why a compiled plan cannot run on node-seal (one line), or null when it fits the heap budget:
 * `compile --heap simulation` keeps plans over it, and a run on SEAL must refuse them up front
 * rather than encrypt for minutes and fail inside WebAssembly.
 */
export function heapShortfall(params: CkksParameters, circuits: readonly Circuit[]): string | null {
  const estimate = planMemory(params, circuits);
  if (estimate.fits) return null;
  return `this model was compiled with --heap simulation: a run on SEAL needs ${describeRunMemory(params, estimate)}; run it with --mode simulate, or compile it again without --heap simulation`;
}
