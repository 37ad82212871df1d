import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import { applyStages } from '../../compiler/chain/run';
import { measuredRelativeError } from '../../compiler/approx/precision-target';
import type { Compilation } from '../../compiler/pipeline/compile';
import { sealBackend } from '../backends/seal/backend';
import { workerThreadsBackend } from '../backends/workers/worker-threads-backend';
import { runEncrypted, type EncryptedModel, type EvaluationTiming } from '../run/run-encrypted';
import { median } from './median';

/** What a segmented body's bench row adds to the common fields. */
export interface SegmentedTimings {
  readonly server_ms: number;
  readonly execute_ms: number;
  readonly first_evaluation_ms: number;
  readonly samples_per_s: number;
  readonly one_sample_ms: number;
  readonly keygen_ms: number;
  readonly key_load_ms: number;
  readonly encrypt_ms: number;
  readonly decrypt_ms: number;
  readonly eval_key_bytes: number;
  readonly ciphertext_bytes_in: number;
  readonly ciphertext_bytes_out: number;
  readonly max_abs_error_vs_simulate: null;
  readonly measured_relative_error: number;
  readonly samples_per_s_threads: null;
  /** The same evaluations one at a time on `threads` threads, each segment split over them (null with one thread). */
  readonly server_ms_threads: number | null;
  readonly thread_cpu_ms: readonly number[] | null;
  readonly reps: number;
  /** Client steps per evaluation, and their median cost (mask, client decrypt and re-encrypt, unmask) and bytes, all steps together. */
  readonly client_steps: number;
  readonly client_step_ms: number;
  readonly client_step_bytes: number;
  /** Round trips per evaluation as timed here: one request per evaluation, so one per step (a request of k evaluations makes them k times fewer). */
  readonly client_round_trips: number;
  /** Masked ciphertexts down and fresh ones up, per step (median). */
  readonly client_step_bytes_per_step: number;
}

/**
 * A body with client steps, timed as `predict --mode fhe` runs it (runtime/run/run-encrypted.ts: the
 * server evaluates a segment, masks, the client decrypts and encrypts again, the server unmasks
 * and evaluates the next), on one thread: a warm-up evaluation (it also encodes the constants),
 * then `reps` timed ones. server_ms is the segments' evaluation without the client steps, which
 * are reported apart; one_sample_ms is everything, client steps included.
 */
export async function benchSegmented(model: EncryptedModel, compilation: Compilation, rows: readonly Float64Array[], reps: number, threads: number, log: (line: string) => void): Promise<SegmentedTimings> {
  const per = samplesPerEvaluation(model.circuit);
  const count = reps + 1;
  const samples = Array.from({ length: count * per }, (_, i) => rows[i % rows.length]!);
  // One evaluation per request: the latency of one prediction, each client step its own round trip.
  const run = await runEncrypted(model, samples, { backend: sealBackend, evaluationsPerRequest: 1 });
  const [first, ...timed] = run.timings.per_evaluation as [EvaluationTiming, ...EvaluationTiming[]];
  const of = (k: keyof EvaluationTiming) => median(timed.map((t) => t[k] ?? 0));
  const server = of('evaluate_ms');
  const step = of('client_step_ms');
  const steps = first.client_steps ?? 0;
  log(`  keys ${(run.sizes.eval_key_bytes / 1e6).toFixed(1)} MB in ${run.timings.keygen_ms.toFixed(0)} ms; segments ${server.toFixed(0)} ms + client steps ${step.toFixed(0)} ms per evaluation`);
  const exact = samples.map((r) => applyStages(compilation.split.body, r));
  const split = threads > 1 ? await onThreads(model, samples, threads, log) : null;
  return {
    server_ms: server,
    execute_ms: server,
    first_evaluation_ms: first.evaluate_ms,
    samples_per_s: (per * 1000) / (server + step),
    one_sample_ms: of('encrypt_ms') + server + step + of('decrypt_ms'),
    keygen_ms: run.timings.keygen_ms,
    key_load_ms: run.timings.key_load_ms,
    encrypt_ms: of('encrypt_ms'),
    decrypt_ms: of('decrypt_ms'),
    eval_key_bytes: run.sizes.eval_key_bytes,
    ciphertext_bytes_in: of('ciphertext_bytes_in'),
    ciphertext_bytes_out: of('ciphertext_bytes_out'),
    max_abs_error_vs_simulate: null,
    measured_relative_error: measuredRelativeError(compilation.precision, exact, run.outputs),
    samples_per_s_threads: null,
    server_ms_threads: split?.serverMs ?? null,
    thread_cpu_ms: split?.threadCpuMs ?? null,
    reps,
    client_steps: steps,
    client_step_ms: step,
    client_step_bytes: of('client_step_bytes'),
    client_round_trips: (first.client_steps ?? 0) / first.evaluations,
    client_step_bytes_per_step: steps > 0 ? of('client_step_bytes') / steps : 0,
  };
}

/**
 * The same run on `threads` threads, one evaluation at a time (a backend that says it runs one
 * at once), so each segment's evaluation is alone and split over the threads when its plan pays.
 */
async function onThreads(model: EncryptedModel, samples: readonly Float64Array[], threads: number, log: (line: string) => void): Promise<{ serverMs: number; threadCpuMs: number[] | null } | null> {
  const workers = workerThreadsBackend(threads);
  try {
    await workers.ready();
    // One evaluation per request, so each is timed alone (a request of several is timed as one).
    const run = await runEncrypted(model, samples, { backend: { ...workers, concurrency: 1 }, evaluationsPerRequest: 1 });
    // The first runs on this thread while the workers load the keys: not a split.
    const [, ...timed] = run.timings.per_evaluation as [EvaluationTiming, ...EvaluationTiming[]];
    if (timed.length === 0) {
      log(`  on ${threads} threads: one evaluation only, none timed after the workers loaded the keys`);
      return null;
    }
    const serverMs = median(timed.map((t) => t.evaluate_ms));
    const threadCpuMs = workers.splitEvaluations().last?.map((r) => r.cpuMs) ?? null;
    log(`  on ${threads} threads: segments ${serverMs.toFixed(0)} ms per evaluation (${threadCpuMs ? `last segment split; CPU ms per thread ${threadCpuMs.map((c) => c.toFixed(0)).join(' + ')}` : 'not split'})`);
    return { serverMs, threadCpuMs };
  } finally {
    await workers.close();
  }
}
