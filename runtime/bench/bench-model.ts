import { performance } from 'node:perf_hooks';
import { addCounts, countOps, estimateLatency, type OpCounts } from '../../compiler/circuit/count';
import { parallelTimeMs } from '../../compiler/circuit/parallel-time';
import type { Circuit, Layout } from '../../compiler/circuit/ir';
import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import { DeepPowersError } from '../../compiler/errors';
import { WASM_HEAP_BYTES } from '../../compiler/params/sizes';
import { applyStages, runPrologue } from '../../compiler/chain/run';
import { measuredRelativeError } from '../../compiler/approx/precision-target';
import { compileModel, type Compilation } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { cachedPlaintextBytes } from '../backends/seal/plaintext-cache';
import { sealHeapBytes } from '../backends/seal/seal-module';
import { simulateSamples } from '../backends/simulate';
import { clientModelOf } from '../client/client-model';
import { FheClient } from '../client/fhe-client';
import type { EncryptedModel } from '../run/run-encrypted';
import type { BenchFixture } from './fixture-data';
import type { CostTable } from './measured-costs';
import { timeOnnxRuntime } from './onnxruntime-timing';
import { TimedServer } from './timed-server';
import { benchSegmented } from './bench-segmented';
import { median } from './median';
import { bodyCircuits } from '../../compiler/artifact/segments';
import { sealBackend } from '../backends/seal/backend';
import { workerThreadsBackend } from '../backends/workers/worker-threads-backend';
import { FheServer, serverModelOf } from '../server/fhe-server';
import { inLanes } from '../backends/lanes';

/**
 * One row of `deeppowers bench`: a fixture compiled for one layout, run encrypted. "One sample"
 * is one circuit evaluation: a single row in vector layout, a full N/2-row batch in batch layout.
 * Field names are the bench JSON contract (snake_case); fields beyond the contract add detail.
 */
export interface BenchResult {
  readonly model: string;
  readonly layout: Layout;
  readonly n: number;
  readonly coeff_modulus_bits: readonly number[];
  readonly depth: number;
  readonly rotations: number;
  readonly rotation_steps: number;
  readonly op_counts: Omit<OpCounts, 'byLevel' | 'rotationSteps' | 'depth' | 'topLevel'>;
  readonly samples_per_evaluation: number;
  /** Server, wire to wire: request envelope in, result envelope out (median of reps). */
  readonly server_ms: number | null;
  /** The circuit alone (what the cost model predicts). */
  readonly execute_ms: number | null;
  /** The first evaluation, which also encodes and caches the model's plaintext constants. */
  readonly first_evaluation_ms: number | null;
  readonly samples_per_s: number | null;
  /**
   * One prediction end to end: client encryption, server, client decryption. One evaluation in
   * either layout (the batch layout encrypts as many ciphertexts for one row as for N/2).
   */
  readonly one_sample_ms: number | null;
  readonly keygen_ms: number | null;
  readonly key_load_ms: number | null;
  readonly encrypt_ms: number | null;
  readonly decrypt_ms: number | null;
  readonly eval_key_bytes: number | null;
  readonly ciphertext_bytes_in: number | null;
  readonly ciphertext_bytes_out: number | null;
  /** Op counts × per-op costs measured on this machine at this chain (see `ops`). */
  readonly predicted_ms: number;
  /** The same counts with the compiler's built-in (M1 Pro) cost table. */
  readonly predicted_ms_builtin_costs: number;
  /** execute_ms / predicted_ms. */
  readonly measured_over_predicted: number | null;
  readonly onnxruntime_ms: number | null;
  /** onnxruntime on the same number of rows one evaluation serves. */
  readonly onnxruntime_batch_ms: number | null;
  /** server_ms / onnxruntime_ms (one evaluation against one plaintext sample). */
  readonly slowdown: number | null;
  /** Per-sample slowdown: server_ms / onnxruntime_batch_ms. */
  readonly throughput_slowdown: number | null;
  /** Largest |decrypted − simulated| body output over the evaluated rows. */
  readonly max_abs_error_vs_simulate: number | null;
  /** The compiled model's promise: largest body-output error as a share of the calibrated output range. */
  readonly promised_relative_error: number;
  readonly promise_met_at_compile: boolean;
  /** Largest |decrypted − exact float64 body| output over the evaluated rows, as a share of that range. */
  readonly measured_relative_error: number | null;
  readonly wasm_heap_bytes: number;
  readonly peak_rss_bytes: number;
  readonly reps: number;
  /** Threads of the throughput run (1: none was made). */
  readonly threads: number;
  /**
   * Samples per second with `threads` evaluations in flight on SEAL's worker threads (the
   * same request, keys loaded once per thread, warm-up excluded); null with one thread.
   */
  readonly samples_per_s_threads: number | null;
  /**
   * One evaluation's server time, wire to wire, with its independent operations spread over
   * `threads` threads (median of reps, like server_ms, which is one thread); null with one thread.
   */
  readonly server_ms_threads: number | null;
  /**
   * CPU time of each thread in the last of those evaluations ([this thread, workers…]): on a
   * machine other work shares, the busiest thread's CPU time is what the split costs without
   * the wait for a core. null when the evaluation was not split.
   */
  readonly thread_cpu_ms: readonly number[] | null;
  /** CPU time of one evaluation on one thread (median, beside server_ms), to set against thread_cpu_ms. */
  readonly server_cpu_ms: number | null;
  /** The parallel-time model (compiler/circuit/parallel-time.ts) at this machine's op costs: one evaluation's circuit on `threads` threads, and on 16. */
  readonly predicted_ms_threads: number;
  readonly predicted_ms_16_threads: number;
  /** Why the encrypted run was skipped or failed; the timing fields are null then. */
  readonly error?: string;
  /** A body with client steps (--refresh auto, MaxPool): steps per evaluation, their median ms (not in server_ms) and bytes, all steps together (bench-segmented.ts). */
  readonly client_steps?: number;
  readonly client_step_ms?: number;
  readonly client_step_bytes?: number;
  /** Round trips per evaluation as timed (one request per evaluation: one per step), and bytes per step. */
  readonly client_round_trips?: number;
  readonly client_step_bytes_per_step?: number;
}

export interface BenchModelOptions {
  readonly reps: number;
  /** Threads for the throughput run (this one and workers); 1 skips it. */
  readonly threads: number;
  readonly costs: CostTable;
  /** Skip encrypted runs whose predicted evaluation time exceeds this (seconds). */
  readonly maxPredictedS: number;
  /** compile --refresh (default 'auto', as compile). */
  readonly refresh?: 'auto' | 'off';
  readonly log: (line: string) => void;
}

/** The compiled models the bench makes in memory are never written; the version only enters their hash. */
const BENCH_TOOL_VERSION = 'bench';

/** A fixture compiled for one layout, as `deeppowers compile` would make it (same model hash rules). */
export interface CompiledFixture {
  readonly compilation: Compilation;
  readonly model: EncryptedModel;
}

export function compileFixture(fixture: BenchFixture, layout: Layout, refresh: 'auto' | 'off' = 'auto'): CompiledFixture {
  const options = { calibration: fixture.calibration, layout, refresh };
  const compilation = compileModel(fixture.modelPath, options);
  return { compilation, model: toCompiledModel(compilation, options, BENCH_TOOL_VERSION) };
}

function timed<T>(run: () => T): { value: T; ms: number } {
  const t = performance.now();
  const value = run();
  return { value, ms: performance.now() - t };
}

/** Rows for one evaluation: the test rows, cycled to fill a batch when the layout packs N/2 of them. */
function evaluationRows(circuit: Circuit, bodyRows: readonly Float64Array[]): Float64Array[] {
  const count = samplesPerEvaluation(circuit);
  return Array.from({ length: count }, (_, i) => bodyRows[i % bodyRows.length]!);
}

export async function benchModel(fixture: BenchFixture, layout: Layout, options: BenchModelOptions): Promise<BenchResult> {
  const { log } = options;
  const { compilation, model } = compileFixture(fixture, layout, options.refresh);
  const { circuit, parameters } = model;
  const circuits = bodyCircuits(model);
  const perCircuit = circuits.map(countOps);
  const counts = perCircuit.reduce(addCounts);
  const measured = await options.costs.costsFor(parameters);
  // Each circuit costed on its own levels (a body with client steps is several).
  const predicted = (costs?: Parameters<typeof estimateLatency>[2]) => perCircuit.reduce((ms, c) => ms + estimateLatency(c, parameters.polyModulusDegree, costs).serverMs, 0);
  const predictedMs = predicted(measured.costs);
  const predictedOn = (threads: number) => circuits.reduce((ms, c) => ms + parallelTimeMs(c, threads, measured.costs), 0);
  const perEvaluation = samplesPerEvaluation(circuit);
  const rows = evaluationRows(circuit, runPrologue(compilation.split, fixture.test));
  const ort = await timeOnnxRuntime(fixture.modelPath, fixture.spec, fixture.test, perEvaluation, Math.max(5, options.reps));
  const { rotationSteps: _steps, byLevel: _byLevel, depth: _depth, topLevel: _top, ...opCounts } = counts;

  const base = {
    model: fixture.name,
    layout,
    n: parameters.polyModulusDegree,
    coeff_modulus_bits: parameters.coeffModulusBits,
    depth: Math.max(...circuits.map((c) => c.depth)),
    rotations: counts.rotations,
    rotation_steps: counts.rotationSteps.length,
    op_counts: opCounts,
    samples_per_evaluation: perEvaluation,
    predicted_ms: predictedMs,
    predicted_ms_builtin_costs: predicted(),
    onnxruntime_ms: ort.oneSampleMs,
    onnxruntime_batch_ms: ort.batchMs,
    promised_relative_error: compilation.precision.relative,
    promise_met_at_compile: compilation.precision.reached,
    threads: options.threads,
    predicted_ms_threads: predictedOn(options.threads),
    predicted_ms_16_threads: predictedOn(16),
  };
  const memory = async () => ({ wasm_heap_bytes: await sealHeapBytes(), peak_rss_bytes: process.resourceUsage().maxRSS * 1024 });
  const skipped = async (error: string): Promise<BenchResult> => ({
    ...base,
    server_ms: null,
    execute_ms: null,
    first_evaluation_ms: null,
    samples_per_s: null,
    one_sample_ms: null,
    keygen_ms: null,
    key_load_ms: null,
    encrypt_ms: null,
    decrypt_ms: null,
    eval_key_bytes: null,
    ciphertext_bytes_in: null,
    ciphertext_bytes_out: null,
    measured_over_predicted: null,
    slowdown: null,
    throughput_slowdown: null,
    max_abs_error_vs_simulate: null,
    measured_relative_error: null,
    samples_per_s_threads: null,
    server_ms_threads: null,
    thread_cpu_ms: null,
    server_cpu_ms: null,
    ...(await memory()),
    reps: 0,
    error,
  });

  if (predictedMs > options.maxPredictedS * 1000) {
    return skipped(`predicted ${(predictedMs / 1000).toFixed(0)} s per evaluation exceeds --max-predicted-s ${options.maxPredictedS}`);
  }
  // A segmented body (--refresh auto, a MaxPool) is several circuits with client steps between
  // them: timed end to end as predict --mode fhe runs it.
  if (model.refresh) {
    try {
      const timed = await benchSegmented(model, compilation, runPrologue(compilation.split, fixture.test), options.reps, options.threads, log);
      // The segments' circuits are what the cost model predicts; the client steps are apart.
      const ratios = { measured_over_predicted: timed.server_ms / predictedMs, slowdown: timed.server_ms / ort.oneSampleMs, throughput_slowdown: timed.server_ms / ort.batchMs };
      return { ...base, ...timed, ...ratios, server_cpu_ms: null, ...(await memory()) };
    } catch (e) {
      if (!(e instanceof DeepPowersError)) throw e;
      return skipped(`${e.code}: ${e.message}`);
    }
  }
  // The cache of encoded constants lives in the 4 GiB WASM heap with the keys; a model that
  // would overflow it aborts the whole SEAL instance, so it is refused before it starts.
  const cacheBytes = cachedPlaintextBytes(model.circuit, parameters.polyModulusDegree);
  if (cacheBytes > WASM_HEAP_BYTES * 0.75) {
    return skipped(`its ${(cacheBytes / 1024 ** 3).toFixed(1)} GiB of encoded plaintext constants would not fit node-seal's 4 GiB heap`);
  }

  // A long evaluation is timed once after its warm-up; its variance is small next to its length.
  const reps = predictedMs > 5000 ? 1 : options.reps;
  let client: FheClient | undefined;
  let server: TimedServer | undefined;
  try {
    const keygenRuns: number[] = [];
    let evalKeys: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < (parameters.polyModulusDegree <= 8192 ? Math.min(3, reps) : 1); i++) {
      client?.dispose();
      const t = performance.now();
      client = await FheClient.create(sealBackend, clientModelOf(circuit, parameters, model.modelHash));
      evalKeys = client.evaluationKeys().bytes;
      keygenRuns.push(performance.now() - t);
    }
    log(`  keys ${(evalKeys.length / 1e6).toFixed(1)} MB in ${median(keygenRuns).toFixed(0)} ms`);
    server = await TimedServer.create(circuit, parameters, model.modelHash, evalKeys);
    const encryptRuns: number[] = [];
    let request: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < reps; i++) {
      const r = timed(() => client!.encrypt(rows));
      encryptRuns.push(r.ms);
      request = r.value.bytes;
    }
    const first = server.evaluate(request);
    log(`  first evaluation ${first.totalMs.toFixed(0)} ms`);
    const evaluations = Array.from({ length: reps }, () => server!.evaluate(request));
    const result = evaluations.at(-1)!.result;
    const decryptRuns: number[] = [];
    let decrypted: Float64Array[] = [];
    for (let i = 0; i < reps; i++) {
      const r = timed(() => client!.decrypt(result, rows.length));
      decryptRuns.push(r.ms);
      decrypted = r.value;
    }
    const simulated = simulateSamples(circuit, rows);
    let maxError = 0;
    decrypted.forEach((row, s) => row.forEach((v, i) => (maxError = Math.max(maxError, Math.abs(v - simulated[s]![i]!)))));

    const serverMs = median(evaluations.map((e) => e.totalMs));
    const executeMs = median(evaluations.map((e) => e.executeMs));
    const threaded = options.threads > 1 ? await onThreads(model, evalKeys, request, options.threads, reps, log) : null;
    return {
      ...base,
      server_ms: serverMs,
      execute_ms: executeMs,
      first_evaluation_ms: first.totalMs,
      samples_per_s: (perEvaluation * 1000) / serverMs,
      one_sample_ms: median(encryptRuns) + serverMs + median(decryptRuns),
      keygen_ms: median(keygenRuns),
      key_load_ms: server.keyLoadMs,
      encrypt_ms: median(encryptRuns),
      decrypt_ms: median(decryptRuns),
      eval_key_bytes: evalKeys.length,
      ciphertext_bytes_in: request.length,
      ciphertext_bytes_out: result.length,
      measured_over_predicted: executeMs / predictedMs,
      slowdown: serverMs / ort.oneSampleMs,
      throughput_slowdown: serverMs / ort.batchMs,
      max_abs_error_vs_simulate: maxError,
      measured_relative_error: measuredRelativeError(compilation.precision, rows.map((r) => applyStages(compilation.split.body, r)), decrypted),
      samples_per_s_threads: threaded === null ? null : threaded.perSecond * perEvaluation,
      server_ms_threads: threaded?.oneEvaluationMs ?? null,
      thread_cpu_ms: threaded?.threadCpuMs ?? null,
      server_cpu_ms: median(evaluations.map((e) => e.cpuMs)),
      ...(await memory()),
      reps,
    };
  } catch (e) {
    if (!(e instanceof DeepPowersError)) throw e;
    return skipped(`${e.code}: ${e.message}`);
  } finally {
    client?.dispose();
    server?.dispose();
  }
}

/**
 * The worker threads on `threads` threads: a warm-up round (every thread loads the circuit
 * and keys); one evaluation at a time, split over the threads when its plan pays (a warm-up,
 * then `reps` timed, median); then evaluations per second with `threads × reps` of them in
 * flight, one per thread.
 */
async function onThreads(model: EncryptedModel, evalKeys: Uint8Array, request: Uint8Array, threads: number, reps: number, log: (line: string) => void): Promise<{ perSecond: number; oneEvaluationMs: number; threadCpuMs: number[] | null }> {
  const workers = workerThreadsBackend(threads);
  const server = new FheServer(workers);
  try {
    await server.loadModel(serverModelOf(model.circuit, model.parameters, model.modelHash));
    const keysId = server.loadKeys(evalKeys);
    await workers.ready();
    const evaluate = () => server.evaluate(model.modelHash, keysId, request);
    await inLanes(threads, threads, evaluate);
    await evaluate();
    const alone: number[] = [];
    for (let i = 0; i < Math.max(1, reps); i++) {
      const t = performance.now();
      await evaluate();
      alone.push(performance.now() - t);
    }
    const oneEvaluationMs = median(alone);
    const { last } = workers.splitEvaluations();
    const threadCpuMs = last?.map((r) => r.cpuMs) ?? null;
    log(`  one evaluation on ${threads} threads: ${oneEvaluationMs.toFixed(1)} ms (${threadCpuMs ? `split; CPU ms per thread ${threadCpuMs.map((c) => c.toFixed(0)).join(' + ')}` : 'not split: the plan gains too little'})`);
    const count = threads * Math.max(1, reps);
    const t = performance.now();
    await inLanes(count, threads, evaluate);
    const perSecond = (count * 1000) / (performance.now() - t);
    log(`  ${threads} threads: ${perSecond.toFixed(2)} evaluations/s (${workers.evaluationCounts().join(' + ')} evaluations per thread)`);
    return { perSecond, oneEvaluationMs, threadCpuMs };
  } finally {
    server.dispose();
    await workers.close();
  }
}
