import { bodySteps } from '../compiler/client-steps/table';
import { performance } from 'node:perf_hooks';
import { samplesPerEvaluation } from '../compiler/circuit/packing';
import type { Circuit } from '../compiler/circuit/ir';
import { fail } from '../compiler/errors';
import type { CkksParameters } from '../compiler/params/types';
import type { FheBackend } from './backends/backend';
import { sealBackend } from './backends/seal/backend';
import { bodyCircuits } from '../compiler/artifact/segments';
import type { SegmentedBody } from '../compiler/artifact/types';
import { clientModelOfBody } from './client/client-model';
import { checkEncodable, FheClient } from './client/fhe-client';
import type { BodyBackend } from './run-compiled';
import { FheServer, serverModelOf } from './server/fhe-server';
import { inLanes } from './lanes';
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
  /** Called after each circuit evaluation: evaluations done and total. */
  readonly onEvaluation?: (done: number, total: number) => void;
  /** Called before the client makes its keys and again when they are made: SEAL's key generation is one blocking call (a minute at N = 32768), so this is all the progress it can show. */
  readonly onKeygen?: (phase: 'start' | 'done') => void;
}

/** One circuit evaluation: a request of `samples` rows (1 in vector layout, up to N/2 in batch). */
export interface EvaluationTiming {
  readonly samples: number;
  readonly encrypt_ms: number;
  /** Server side, envelope in to envelope out (ciphertext loading and checks included). */
  readonly evaluate_ms: number;
  readonly decrypt_ms: number;
  readonly ciphertext_bytes_in: number;
  readonly ciphertext_bytes_out: number;
  /** Refreshed body only: client round trips in this evaluation, and their cost (mask, client decrypt and re-encrypt, unmask). */
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
  /** One entry per evaluation; in vector layout that is one per row. */
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
  const clientModel = clientModelOfBody(circuits, parameters, modelHash, bodySteps(model));
  // Every row is checked before keys are made, so a bad row costs nothing and names itself.
  checkEncodable(clientModel, samples);
  const backend = options.backend ?? sealBackend;
  const server = new FheServer(backend, { maxEvaluationsPerRequest: 1 });
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

    // One request per evaluation, as an interactive client would send them: per-row latency in
    // vector layout, and a progress tick per evaluation. A backend on several threads gets as
    // many evaluations at once; each evaluation's times are its own (they overlap then).
    const per = samplesPerEvaluation(circuit);
    const total = Math.ceil(samples.length / per);
    let done = 0;
    const evaluations = await inLanes(total, backend.concurrency, async (g) => {
      const chunk = samples.slice(g * per, (g + 1) * per);
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
      options.onEvaluation?.(++done, total);
      const timing: EvaluationTiming = {
        samples: chunk.length,
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
    const sum = (k: keyof Omit<EvaluationTiming, 'samples'>): number => perEvaluation.reduce((s, e) => s + (e[k] ?? 0), 0);
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
