import { setImmediate as nextTurn } from 'node:timers/promises';
import { fail } from '../../compiler/errors';
import { inLanes } from '../backends/lanes';
import { bodyCircuits } from '../../compiler/artifact/segments';
import { readEnvelope, writeEnvelope } from '../wire/envelope';
import type { FheServer } from '../server/fhe-server';
import type { ServedModel } from './served-model';

export interface EvaluationProgress {
  readonly done: number;
  readonly total: number;
}

export interface EvaluateOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: EvaluationProgress) => Promise<void> | void;
  /** Most circuit evaluations one request may ask for. */
  readonly maxEvaluations: number;
  /** Which circuit of a body with client steps (default 0). */
  readonly segment?: number;
}

export interface EvaluationOutcome {
  readonly result: Uint8Array;
  readonly evaluations: number;
  readonly evaluateMs: number;
}

/**
 * Evaluate an encrypted request one circuit evaluation (one group of input ciphertexts) at a
 * time on each of the backend's threads. A backend that computes on this thread (SEAL) blocks it for a group, so between groups
 * the event loop gets a turn: progress notifications go out, a `notifications/cancelled` can
 * arrive and abort the rest, and other sessions are served. Each group goes through `FheServer.evaluate` as a one-group
 * envelope, so every check the server makes on a request is made on each group.
 */
export async function evaluateRequest(
  server: FheServer,
  model: ServedModel,
  keysId: string,
  request: Uint8Array,
  options: EvaluateOptions,
): Promise<EvaluationOutcome> {
  const { modelHash, parameters } = model.server;
  const segment = options.segment ?? 0;
  const circuit = bodyCircuits(model.server)[segment];
  if (!circuit) fail('BAD_ARGUMENT', `${model.name} has no segment ${segment + 1}`);
  const header = { modelHash, parameterId: parameters.parameterId };
  const env = readEnvelope(request, { kind: 'ciphertexts', ...header });
  const perEvaluation = circuit.inputs.length;
  if (env.parts.length === 0 || env.parts.length % perEvaluation !== 0) {
    fail('BAD_CIPHERTEXT', `encrypted input holds ${env.parts.length} ciphertexts, not a multiple of the model's ${perEvaluation} inputs`);
  }
  const total = env.parts.length / perEvaluation;
  if (total > options.maxEvaluations) {
    fail('BAD_CIPHERTEXT', `encrypted input asks for ${total} evaluations, this server allows at most ${options.maxEvaluations} per request`);
  }

  const started = performance.now();
  await options.onProgress?.({ done: 0, total });
  let done = 0;
  const results = await inLanes(total, server.concurrency, async (g) => {
    cancelledCheck(options.signal);
    const group = writeEnvelope({ kind: 'ciphertexts', ...header, parts: env.parts.slice(g * perEvaluation, (g + 1) * perEvaluation) });
    const out = await server.evaluate(modelHash, keysId, group, segment);
    const parts = readEnvelope(out, { kind: 'result', ...header }).parts;
    await options.onProgress?.({ done: ++done, total });
    await nextTurn();
    return parts;
  });
  cancelledCheck(options.signal);
  const evaluateMs = performance.now() - started;
  return { result: writeEnvelope({ kind: 'result', ...header, parts: results.flat() }), evaluations: total, evaluateMs };
}

function cancelledCheck(signal: AbortSignal | undefined): void {
  if (signal?.aborted) fail('BAD_ARGUMENT', 'the request was cancelled');
}
