import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import type { FheBackend } from '../backends/backend';
import { evaluateRequest } from '../service/evaluate-request';
import { refuseOverHeap, type ServedModel } from '../service/served-model';
import { FheServer } from '../server/fhe-server';
import { attest, type NodeRole } from './attestation';
import { loadOrCreateIdentity, type Identity } from './identity';
import type { Logger } from './logger';
import { bullConnection, COMPUTE_QUEUE, nodeQueue, SharedStore, type CosignJobData, type CosignJobResult, type EvaluationJobData, type EvaluationJobResult, type RedisAddress } from './queue';
import { Witness } from './witness';

/**
 * `deeppowers worker`: a compute node takes evaluations from the shared queue; a review node
 * takes re-executions and witness requests from its own queue (so K reviews land on K different
 * nodes). Either fetches the evaluation keys and input ciphertexts by SHA-256 from the blob
 * store (keys cached on disk), evaluates with evaluation keys only — it never holds a secret
 * key — stores the result blob and returns its signed attestation.
 */

export type NodeEvaluator = (
  model: ServedModel,
  keys: { readonly id: string; readonly bytes: Uint8Array },
  inputs: Uint8Array,
  onProgress: (done: number, total: number) => Promise<void>,
  segment: number,
) => Promise<{ result: Uint8Array; evaluations: number }>;

export interface WorkerOptions {
  readonly models: readonly ServedModel[];
  readonly backend: FheBackend;
  readonly queue: RedisAddress;
  readonly dataDir: string;
  readonly role: Exclude<NodeRole, 'server'>;
  readonly logger: Logger;
  /** The node's identity when it is held elsewhere (a PKCS#11 token); default: node.key in the data dir. */
  readonly identity?: Identity;
  /** How long a job stays locked to this worker without renewal; a killed worker's job is retried elsewhere after about this. */
  readonly lockMs?: number;
  /** How the node evaluates; the default runs the circuit on the backend. Tests substitute a dishonest one. */
  readonly evaluator?: NodeEvaluator;
}

export interface RunningWorker {
  readonly identity: Identity;
  close(): Promise<void>;
}

const HEARTBEAT_MS = 2000;
const RESULT_TTL_S = 3600;
const MAX_LOADED_KEYS = 4;

/** The default evaluator: the models' circuits on `backend`, with the last few key sets kept loaded. */
export async function backendEvaluator(backend: FheBackend, models: readonly ServedModel[]): Promise<{ evaluate: NodeEvaluator; dispose(): void }> {
  refuseOverHeap(backend, models);
  const fhe = new FheServer(backend);
  for (const m of models) await fhe.loadModel(m.server);
  const loaded: string[] = [];
  return {
    evaluate: async (model, keys, inputs, onProgress, segment) => {
      if (!loaded.includes(keys.id)) {
        fhe.loadKeys(keys.bytes);
        loaded.push(keys.id);
        while (loaded.length > MAX_LOADED_KEYS) fhe.unloadKeys(loaded.shift()!);
      }
      return evaluateRequest(fhe, model, keys.id, inputs, { maxEvaluations: Number.MAX_SAFE_INTEGER, segment, onProgress: ({ done, total }) => onProgress(done, total) });
    },
    dispose: () => fhe.dispose(),
  };
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const { logger, role } = options;
  const identity = options.identity ?? loadOrCreateIdentity(options.dataDir, 'node');
  const cacheDir = join(options.dataDir, 'cache');
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const byHash = new Map(options.models.map((m) => [m.server.modelHash.toLowerCase(), m]));
  const own = options.evaluator ? undefined : await backendEvaluator(options.backend, options.models);
  const evaluate = options.evaluator ?? own!.evaluate;
  const store = new SharedStore(options.queue);
  const { blobs, registry } = store;
  const witness = new Witness(options.dataDir, identity);
  const log = logger.child({ node_id: identity.id, role });

  const keysOf = async (keysId: string): Promise<Uint8Array> => {
    const path = join(cacheDir, keysId);
    if (existsSync(path)) return new Uint8Array(readFileSync(path));
    const bytes = await blobs.get(keysId);
    if (!bytes) throw new UnrecoverableError(`evaluation keys ${keysId.slice(0, 12)}… are not in the blob store`);
    if (sha256Hex(bytes) !== keysId) throw new UnrecoverableError(`the blob store's keys ${keysId.slice(0, 12)}… do not hash to their id`);
    writeFileSync(`${path}.tmp`, bytes, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
    return new Uint8Array(bytes);
  };

  const runEvaluation = async (job: Job<EvaluationJobData>): Promise<EvaluationJobResult> => {
    const d = job.data;
    const started = performance.now();
    log.info({ event: 'job.started', job_id: d.job_id, bull_job: job.id, attempt: job.attemptsMade, stalled: job.stalledCounter }, 'job started');
    const model = byHash.get(d.model_hash.toLowerCase());
    if (!model) throw new UnrecoverableError(`model ${d.model_hash.slice(0, 12)}… is not served by node ${identity.id}`);
    const keys = await keysOf(d.keys_id);
    const inputs = await blobs.get(d.inputs_sha256);
    if (!inputs) throw new UnrecoverableError(`input ciphertexts ${d.inputs_sha256.slice(0, 12)}… are not in the blob store (expired?)`);
    if (sha256Hex(inputs) !== d.inputs_sha256) throw new UnrecoverableError(`the blob store's inputs ${d.inputs_sha256.slice(0, 12)}… do not hash to their id`);
    const out = await evaluate(model, { id: d.keys_id, bytes: keys }, new Uint8Array(inputs), (done, total) => job.updateProgress({ done, total }), d.segment ?? 0);
    const resultSha = sha256Hex(out.result);
    await blobs.put(resultSha, out.result, RESULT_TTL_S);
    const attestation = attest(identity, {
      job_id: d.job_id,
      model_hash: d.model_hash,
      parameter_id: d.parameter_id,
      keys_id: d.keys_id,
      inputs_sha256: d.inputs_sha256,
      result_sha256: resultSha,
      ...(d.segment ? { segment: d.segment } : {}),
      ...(d.chain_id !== undefined ? { chain_id: d.chain_id } : {}),
      role,
      time: new Date().toISOString(),
    });
    log.info({ event: 'job.done', job_id: d.job_id, result_sha256: resultSha, evaluations: out.evaluations, ms: Math.round(performance.now() - started) }, 'job done');
    return { attestation, evaluations: out.evaluations };
  };

  const processor = async (job: Job): Promise<EvaluationJobResult | CosignJobResult> => {
    try {
      if (job.name === 'cosign') {
        const line = witness.cosign(job.data as CosignJobData);
        log.info({ event: 'checkpoint.cosigned', size: (job.data as CosignJobData).checkpoint.split('\n')[1] }, 'checkpoint cosigned');
        return { line };
      }
      const result = await runEvaluation(job as Job<EvaluationJobData>);
      await registry.count(identity.id, 'jobs_done').catch(() => {});
      return result;
    } catch (e) {
      await registry.count(identity.id, 'failures').catch(() => {});
      log.warn({ event: 'job.failed', bull_job: job.id, name: job.name, reason: (e as Error).message }, 'job failed');
      throw e;
    }
  };

  const lockMs = options.lockMs ?? 30_000;
  const worker = new Worker(role === 'compute' ? COMPUTE_QUEUE : nodeQueue(identity.id), processor, {
    connection: bullConnection(options.queue),
    concurrency: 1,
    lockDuration: lockMs,
    stalledInterval: Math.max(500, Math.floor(lockMs / 2)),
    maxStalledCount: 2,
  });
  let redisDown = false;
  worker.on('error', (e) => {
    if (!redisDown) log.warn({ event: 'queue.error', reason: e.message }, 'queue connection error');
    redisDown = true;
  });

  const beat = async (): Promise<void> => {
    try {
      await registry.heartbeat(identity.id, role);
      if (redisDown) log.info({ event: 'queue.recovered' }, 'queue connection is back');
      redisDown = false;
    } catch (e) {
      if (!redisDown) log.warn({ event: 'queue.unreachable', reason: (e as Error).message }, `Redis at ${options.queue.url} is unreachable; retrying`);
      redisDown = true;
    }
  };
  await store.ready(5000);
  await beat();
  const timer = setInterval(() => void beat(), HEARTBEAT_MS);
  timer.unref();
  log.info({ event: 'node.started', queue: options.queue.url, models: options.models.map((m) => m.name) }, 'node started');

  return {
    identity,
    close: async () => {
      clearInterval(timer);
      await worker.close();
      store.disconnect();
      own?.dispose();
      log.info({ event: 'node.stopped' }, 'node stopped');
    },
  };
}
