import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from 'commander';

/** `--threads N`: how many threads evaluate circuits (this one and N − 1 workers). */
export const THREADS_HELP = `threads that evaluate circuits: this one and N − 1 workers, each with its own node-seal (default: the cores, ${availableParallelism()} here; 1 runs everything on this thread)`;

export function parseThreads(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--threads must be a positive integer, got "${v}"`);
  return n;
}
