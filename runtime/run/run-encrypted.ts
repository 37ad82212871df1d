import { bodySteps } from '../../compiler/client-steps/table';
import { performance } from 'node:perf_hooks';
import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import type { Circuit } from '../../compiler/circuit/ir';
import { fail } from '../../compiler/errors';
import { heapShortfall } from '../../compiler/plan/plan-memory';
import type { CkksParameters } from '../../compiler/params/types';
import type { FheBackend } from '../backends/backend';
import { sealBackend } from '../backends/seal/backend';
import { bodyCircuits } from '../../compiler/artifact/segments';
import type { SegmentedBody } from '../../compiler/artifact/types';
import { clientModelOfBody } from '../client/client-model';
import { checkEncodable, FheClient } from '../client/fhe-client';
import type { BodyBackend } from './run-compiled';
import { FheServer, serverModelOf } from '../server/fhe-server';
import { inLanes } from '../backends/lanes';
import { runSegments } from './run-segments';

/**
 * The encrypted backend of a compiled-model run: body inputs (prologue applied) in, body outputs
 * (epilogue still to run) out, with client and server in one process but talking only through
 * the serialized envelopes they would send over the wire. The server never sees the secret key
 * or a plaintext; the client never runs the circuit.
 */

/** What both sides are cut from: the circuit with scales assigned, its CKKS parameters, the model's identity. */
export interface EncryptedModel {
  readonly circuit: Circuit;
  readonly parameters: CkksParameters;
  /** SHA-256 (hex) of the compiled model; every envelope is bound to it. */
  readonly modelHash: string;
  /** A body cut into segments, with a client step between each two (compile --refresh auto). */
  readonly refresh?: SegmentedBody;
}

export interface EncryptedRunOptions {
  /** What computes on the ciphertexts (default SEAL). */
  readonly backend?: FheBackend;
  /** A secret key saved by `FheClient.exportSecretKey` (e.g. from the keystore); a fresh one otherwise. */
  readonly secretKey?: Uint8Array;
  /** Called after each request: evaluations done and total. */
  readonly onEvaluation?: (done: number, total: number) => void;
  /**
   * Circuit evaluations per request. Default: 1 for a body without client steps (per-row latency
   * in vector layout, a progress tick per evaluation); for a body with client steps, as many as
   * keep STEP_REQUEST_CIPHERTEXTS ciphertexts per segment input or output (all of them up to 64 in
   * vector layout, one in batch layout, whose evaluations hold a ciphertext per value), so each
   * client step is one round trip for the whole request, as the private client sends them
   * (mcp/private-model.ts, by bytes).
   */
  readonly evaluationsPerRequest?: number;
  /** Called before the client makes its keys and again when they are made: SEAL's key generation is one blocking call (a minute at N = 32768), so this is all the progress it can show. */
  readonly onKeygen?: (phase: 'start' | 'done') => void;
}

/**
 * Ciphertexts a segment reads or writes per request by default when the body has client steps:
 * the masked results and the fresh ciphertexts of all of them are held at once (about 2 MB per
 * vector-layout evaluation at N = 16384).
 */
export const STEP_REQUEST_CIPHERTEXTS = 64;

/** Evaluations per request by default (see EncryptedRunOptions.evaluationsPerRequest). */
export function defaultEvaluationsPerRequest(circuits: readonly Circuit[], total: number): number {
  if (circuits.length === 1) return 1;
  const widest = Math.max(...circuits.map((c) => Math.max(c.inputs.length, c.outputs.length)));
  return Math.min(total, Math.max(1, Math.floor(STEP_REQUEST_CIPHERTEXTS / widest)));
}

/**
 * One request: `evaluations` circuit evaluations of `samples` rows in all (an evaluation is 1 row
 * in vector layout, up to N/2 in batch); one evaluation per request unless the body has client steps.
 */
export interface EvaluationTiming {
  readonly samples: number;
  readonly evaluations: number;
  readonly encrypt_ms: number;
  /** Server side, envelope in to envelope out (ciphertext loading and checks included). */
  readonly evaluate_ms: number;
  readonly decrypt_ms: number;
  readonly ciphertext_bytes_in: number;
  readonly ciphertext_bytes_out: number;
  /** A body with client steps only: client round trips of this request (one per step, whatever its evaluations), and their cost (mask, client decrypt and re-encrypt, unmask). */
  readonly client_steps?: number;
  readonly client_step_ms?: number;
  /** Masked ciphertexts down and fresh ones up, all client steps together. */
  readonly client_step_bytes?: number;
}

export interface EncryptedRunTimings {
  /** Client: secret key (unless given) and the evaluation-key bundle. */
  readonly keygen_ms: number;
  /** Server: loading and checking the evaluation keys. */
  readonly key_load_ms: number;
  readonly encrypt_ms: number;
  readonly evaluate_ms: number;
  readonly decrypt_ms: number;
  /** One entry per request: per evaluation (a row in vector layout) unless the body has client steps, where a request carries several (defaultEvaluationsPerRequest). */
  readonly per_evaluation: readonly EvaluationTiming[];
}

export interface EncryptedRunSizes {
  /** The evaluation-key envelope uploaded to the server. */
  readonly eval_key_bytes: number;
  readonly relin_key_bytes: number;
  readonly galois_key_bytes: number;
  /** All request envelopes together, and all result envelopes. */
  readonly ciphertext_bytes_in: number;
  readonly ciphertext_bytes_out: number;
}

export interface EncryptedRun {
  /** One body-output vector per sample, decrypted and rounded to the model's output precision. */
  readonly outputs: Float64Array[];
  readonly layout: Circuit['layout'];
  readonly evaluations: number;
  readonly samplesPerEvaluation: number;
  readonly timings: EncryptedRunTimings;
  readonly sizes: EncryptedRunSizes;
}

export async function runEncrypted(model: EncryptedModel, samples: readonly Float64Array[], options: EncryptedRunOptions = {}): Promise<EncryptedRun> {
  if (samples.length === 0) fail('BAD_DATA', 'no rows to run encrypted');
  const { circuit, parameters, modelHash } = model;
  const circuits = bodyCircuits(model);
  const backend = options.backend ?? sealBackend;
  const shortfall = backend.wasmHeap ? heapShortfall(parameters, circuits) : null;
  if (shortfall !== null) fail('PARAMS', shortfall);
  const clientModel = clientModelOfBody(circuits, parameters, modelHash, bodySteps(model));
  // Every row is checked before keys are made, so a bad row costs nothing and names itself.
  checkEncodable(clientModel, samples);
  const per = samplesPerEvaluation(circuit);
  const total = Math.ceil(samples.length / per);
  const perRequest = options.evaluationsPerRequest ?? defaultEvaluationsPerRequest(circuits, total);
  if (!(Number.isInteger(perRequest) && perRequest >= 1)) fail('BAD_ARGUMENT', `evaluations per request must be a positive integer, got ${perRequest}`);
  const server = new FheServer(backend, { maxEvaluationsPerRequest: perRequest });
  let client: FheClient | undefined;
  try {
    const modelId = await server.loadModel(serverModelOf(circuit, parameters, modelHash, model.refresh));

    let t = performance.now();
    options.onKeygen?.('start');
    client = await FheClient.create(backend, clientModel, options.secretKey);
    const keys = client.evaluationKeys();
    options.onKeygen?.('done');
    const keygenMs = performance.now() - t;

    t = performance.now();
    const keysId = server.loadKeys(keys.bytes);
    const keyLoadMs = performance.now() - t;

    // One request per evaluation, as an interactive client would send them (per-row latency in
    // vector layout, and a progress tick per evaluation), unless the body has client steps: then a
    // request carries many, and each step moves all their ciphertexts in one round trip. A backend
    // on several threads gets as many requests at once; each request's times are its own (they overlap then).
    const requests = Math.ceil(total / perRequest);
    let done = 0;
    const evaluations = await inLanes(requests, backend.concurrency, async (g) => {
      const chunk = samples.slice(g * per * perRequest, (g + 1) * per * perRequest);
      let t = performance.now();
      const request = client!.encrypt(chunk);
      const encryptMs = performance.now() - t;
      t = performance.now();
      let stepMs = 0;
      let stepBytes = 0;
      // Each later segment after a client step (the server masks, the client decrypts, applies
      // the step and encrypts again, the server unmasks); the steps' time is kept apart.
      const result = await runSegments(circuits.length, request.bytes, {
        evaluate: (k, bytes) => server.evaluate(modelId, keysId, bytes, k),
        clientStep: async (k, result) => {
          const s0 = performance.now();
          const masked = await server.maskStep(modelId, result, k);
          const fresh = client!.clientStep(masked.bytes, k);
          const next = await server.unmaskStep(masked.stepId, fresh);
          stepMs += performance.now() - s0;
          stepBytes += masked.bytes.length + fresh.length;
          return next.bytes;
        },
      });
      const evaluateMs = performance.now() - t - stepMs;
      t = performance.now();
      const rows = client!.decrypt(result, request.samples);
      const decryptMs = performance.now() - t;
      done += request.evaluations;
      options.onEvaluation?.(done, total);
      const timing: EvaluationTiming = {
        samples: chunk.length,
        evaluations: request.evaluations,
        encrypt_ms: encryptMs,
        evaluate_ms: evaluateMs,
        decrypt_ms: decryptMs,
        ciphertext_bytes_in: request.bytes.length,
        ciphertext_bytes_out: result.length,
        ...(circuits.length > 1 ? { client_steps: circuits.length - 1, client_step_ms: stepMs, client_step_bytes: stepBytes } : {}),
      };
      return { rows, timing };
    });
    const outputs = evaluations.flatMap((e) => e.rows);
    const perEvaluation = evaluations.map((e) => e.timing);
    const sum = (k: keyof Omit<EvaluationTiming, 'samples' | 'evaluations'>): number => perEvaluation.reduce((s, e) => s + (e[k] ?? 0), 0);
    return {
      outputs,
      layout: circuit.layout,
      evaluations: total,
      samplesPerEvaluation: per,
      timings: {
        keygen_ms: keygenMs,
        key_load_ms: keyLoadMs,
        encrypt_ms: sum('encrypt_ms'),
        evaluate_ms: sum('evaluate_ms'),
        decrypt_ms: sum('decrypt_ms'),
        per_evaluation: perEvaluation,
      },
      sizes: {
        eval_key_bytes: keys.bytes.length,
        relin_key_bytes: keys.relinBytes,
        galois_key_bytes: keys.galoisBytes,
        ciphertext_bytes_in: sum('ciphertext_bytes_in'),
        ciphertext_bytes_out: sum('ciphertext_bytes_out'),
      },
    };
  } finally {
    client?.dispose();
    server.dispose();
  }
}

/** The encrypted body for `runCompiled`/`predictCompiled`, keeping the last run's timings and sizes for the caller to report. */
export interface EncryptedBody {
  readonly backend: BodyBackend;
  lastRun(): EncryptedRun | undefined;
}

export function fheBackend(model: EncryptedModel, options: EncryptedRunOptions = {}): EncryptedBody {
  let last: EncryptedRun | undefined;
  return {
    backend: async (samples) => {
      last = await runEncrypted(model, samples, options);
      return last.outputs;
    },
    lastRun: () => last,
  };
}
