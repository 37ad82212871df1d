/**
 * The messages between the worker-threads backend (worker-threads-backend.ts) and its workers
 * (worker-thread.ts). A worker keeps what it was sent once — the context per parameter set, the
 * circuit, the evaluation keys — under the keys the backend names them by, so each crosses the
 * thread boundary once per worker.
 */
import type { Circuit } from '../../../compiler/circuit/ir';
import type { ErrorCode } from '../../../compiler/errors';
import type { ContextSpec, EvaluationKeyBytes } from '../backend';

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

/** Forget a circuit (and the keys loaded for it) or one set of keys. */
export interface DropTask {
  readonly kind: 'drop';
  readonly circuitKey?: string;
  readonly keysKey?: string;
}

export type WorkerTask = ExecuteTask | DropTask;

export type WorkerReply =
  /** Sent once, when the worker has loaded node-seal and can take tasks. */
  | { readonly ready: true }
  | { readonly id: number; readonly ok: true; readonly outputs: Uint8Array[] }
  | { readonly id: number; readonly ok: false; readonly code: ErrorCode | null; readonly message: string };
