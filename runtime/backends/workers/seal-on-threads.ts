import { availableParallelism } from 'node:os';
import type { FheBackend } from '../backend';
import { sealBackend } from '../seal/backend';
import { workerThreadsBackend } from './worker-threads-backend';

/**
 * The SEAL backend for `threads` (default: the machine's cores), never more threads than
 * `evaluations` when the count is known: a worker that would get nothing costs a node-seal start.
 */
export function sealOnThreads(threads: number | undefined, evaluations = Infinity): FheBackend {
  const n = Math.max(1, Math.min(threads ?? availableParallelism(), evaluations));
  return n === 1 ? sealBackend : workerThreadsBackend(n);
}
