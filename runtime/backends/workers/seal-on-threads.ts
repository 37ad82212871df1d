import { availableParallelism } from 'node:os';
import type { Circuit } from '../../../compiler/circuit/ir';
import { planParallel } from '../../../compiler/circuit/parallel-time';
import type { FheBackend } from '../backend';
import { sealBackend } from '../seal/backend';
import { workerThreadsBackend } from './worker-threads-backend';

/**
 * The SEAL backend for `threads` (default: the machine's cores). When the count of `evaluations`
 * is known, no more threads than they can use: one per evaluation, or as many as the plan of
 * one evaluation of `circuits` spreads over (compiler/circuit/parallel-time.ts), whichever is
 * more; a worker that would get nothing costs a node-seal start.
 */
export function sealOnThreads(threads: number | undefined, evaluations = Infinity, circuits: readonly Circuit[] = []): FheBackend {
  const most = threads ?? availableParallelism();
  const split = Math.max(1, ...circuits.map((c) => planParallel(c, most).threads));
  const n = Math.max(1, Math.min(most, Math.max(evaluations, split)));
  return n === 1 ? sealBackend : workerThreadsBackend(n);
}
