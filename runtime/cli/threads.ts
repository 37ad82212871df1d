import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from 'commander';
import type { FheBackend } from '../backends/backend';
import { workerPoolBackend } from '../backends/pool/pool-backend';
import { sealBackend } from '../backends/seal/backend';

/** `--threads N`: how many threads evaluate circuits (this one and N − 1 workers). */
export const THREADS_HELP = `threads that evaluate circuits: this one and N − 1 workers, each with its own node-seal (default: the cores, ${availableParallelism()} here; 1 runs everything on this thread)`;

export function parseThreads(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--threads must be a positive integer, got "${v}"`);
  return n;
}

/**
 * The SEAL backend for `threads` (default: the machine's cores), never more threads than
 * `evaluations` when the count is known: a worker that would get nothing costs a node-seal start.
 */
export function sealOnThreads(threads: number | undefined, evaluations = Infinity): FheBackend {
  const n = Math.max(1, Math.min(threads ?? availableParallelism(), evaluations));
  return n === 1 ? sealBackend : workerPoolBackend(n);
}
