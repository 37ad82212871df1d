/**
 * The messages between the worker-threads backend (worker-threads-backend.ts) and its workers
 * (worker-thread.ts). A worker keeps what it was sent once — the context per parameter set, the
 * circuit, the evaluation keys — under the keys the backend names them by, so each crosses the
 * thread boundary once per worker.
 */
import type { Circuit } from '../../../compiler/circuit/ir';
import type { ErrorCode } from '../../../compiler/errors';
import type { ContextSpec, EvaluationKeyBytes } from '../backend';
import type { MeshEnds, PartReport } from './mesh';

export interface ExecuteTask {
  readonly kind: 'execute';
  readonly id: number;
  readonly spec: ContextSpec;
  readonly circuitKey: string;
  /** Sent the first time this worker sees `circuitKey`. */
  readonly circuit?: Circuit;
  readonly keysKey: string;
  /** Sent the first time this worker sees `keysKey`. */
  readonly keys?: EvaluationKeyBytes;
  readonly inputs: readonly Uint8Array[];
  readonly firstInputIndex: number;
}

/** This worker's ends of the mesh between the backend's threads (sent once, and again when a worker is replaced). */
export interface MeshTask {
  readonly kind: 'mesh';
  readonly ends: MeshEnds;
}

/**
 * This worker's part of one evaluation split over the threads: the same circuit and keys as an
 * execute task, the plan (order and thread of each op), and the request's inputs it reads.
 */
export interface PartTask extends Omit<ExecuteTask, 'kind' | 'inputs'> {
  readonly kind: 'part';
  readonly evaluation: number;
  readonly order: Int32Array;
  readonly threadOf: Int32Array;
  readonly inputs: readonly (Uint8Array | null)[];
  /** How long to wait for a value from another thread before giving up. */
  readonly patienceMs: number;
}

/** Load a circuit and its evaluation keys (sent as for an execute task) without evaluating, so that later evaluations can be split at once. */
export interface LoadTask extends Omit<ExecuteTask, 'kind' | 'inputs' | 'firstInputIndex'> {
  readonly kind: 'load';
}

/** Forget a circuit (and the keys loaded for it) or one set of keys. */
export interface DropTask {
  readonly kind: 'drop';
  readonly circuitKey?: string;
  readonly keysKey?: string;
}

export type WorkerTask = ExecuteTask | PartTask | LoadTask | MeshTask | DropTask;

export type WorkerReply =
  /** Sent once, when the worker has loaded node-seal and can take tasks. */
  | { readonly ready: true }
  /** `part`: for a part of a split evaluation, what this worker did. */
  | { readonly id: number; readonly ok: true; readonly outputs: Uint8Array[]; readonly part?: PartReport }
  | { readonly id: number; readonly ok: false; readonly code: ErrorCode | null; readonly message: string };
