import { Queue, QueueEvents, type Job } from 'bullmq';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { DeepPowersError, fail } from '../../compiler/errors';
import type { Attestation } from './attestation';
import { checkAttestation, segmentOf } from './attestation';
import type { JobOutcome, JobRequest, JobRunner, RunnerStatus } from './job-runner';
import type { Logger } from './logger';
import { decideQuorum } from './quorum';
import { bullConnection, COMPUTE_QUEUE, nodeQueue, SharedStore, type CosignJobData, type CosignJobResult, type EvaluationJobData, type EvaluationJobResult, type RedisAddress } from './queue';
import { logRelease } from './release';
import type { TransparencyLog } from './transparency-log';

/**
 * `serve --queue redis://…`: each evaluation goes to a compute node through the shared BullMQ
 * queue; with reviewers, K live review nodes (other than the compute node) re-execute it from
 * their own queues, and the result is released only when Q of them attest the same result hash.
 * A released result is logged with every attestation, and the agreeing reviewers are asked to
 * cosign the new checkpoint as witnesses. A disagreement is a dispute: nothing is released, the
 * nodes on each side are named, and the nodes against the compute result get a dispute count.
 */

export interface QueueRunnerOptions {
  readonly queue: RedisAddress;
  readonly reviewers: number;
  readonly quorum: number;
  readonly log: TransparencyLog;
  readonly logger: Logger;
  /** The tenant's evaluation-key bundle, for the blob store. */
  readonly readKeys: (tenant: string, keysId: string) => Uint8Array;
  /** Longest wait for one node's answer (default 10 minutes). */
  readonly jobTimeoutMs?: number;
}

const INPUT_TTL_S = 3600;
const KEYS_TTL_S = 24 * 3600;
const REVIEWER_FRESH_MS = 10_000;
const COSIGN_TIMEOUT_MS = 30_000;

export class QueueRunner implements JobRunner {
  private readonly store: SharedStore;
  private readonly compute: Queue;
  private readonly events = new Map<string, QueueEvents>();
  private readonly nodeQueues = new Map<string, Queue>();
  private readonly lastCosigned = new Map<string, number>();

  constructor(private readonly options: QueueRunnerOptions) {
    if (options.quorum > options.reviewers) fail('BAD_ARGUMENT', `--quorum ${options.quorum} exceeds --reviewers ${options.reviewers}`);
    this.store = new SharedStore(options.queue);
    this.compute = this.queue(COMPUTE_QUEUE);
  }

  async run(request: JobRequest): Promise<JobOutcome> {
    const { logger } = this.options;
    await this.assertReachable();
    const started = performance.now();
    const inputsSha = sha256Hex(request.inputs);
    const data: EvaluationJobData = {
      job_id: request.jobId,
      model_hash: request.model.modelHash,
      parameter_id: request.model.parameterId,
      keys_id: request.keysId,
      inputs_sha256: inputsSha,
      ...(request.segment ? { segment: request.segment } : {}),
      ...(request.chainId !== undefined ? { chain_id: request.chainId } : {}),
    };
    await this.redisCall(async () => {
      await this.store.blobs.put(inputsSha, request.inputs, INPUT_TTL_S);
      if (!(await this.store.blobs.has(request.keysId))) await this.store.blobs.put(request.keysId, this.options.readKeys(request.tenant, request.keysId), KEYS_TTL_S);
    });
    logger.info({ event: 'job.queued', job_id: request.jobId, model: request.model.name, reviewers: this.options.reviewers }, 'job queued');

    const computed = await this.await<EvaluationJobResult>(this.compute, 'evaluate', data, `${request.jobId}`, request);
    const compute = computed.attestation;
    checkAttestation(compute);
    if (compute.job_id !== request.jobId || compute.inputs_sha256 !== inputsSha || segmentOf(compute) !== (request.segment ?? 0) || compute.chain_id !== request.chainId) {
      fail('BAD_CIPHERTEXT', `compute node ${compute.node_id} attested another job`);
    }
    const result = await this.redisCall(() => this.store.blobs.get(compute.result_sha256));
    if (!result || sha256Hex(result) !== compute.result_sha256) fail('IO', `the result of job ${request.jobId} is missing from the blob store or does not match its attestation`);

    const reviews = await this.review(data, compute, request);
    const decision = decideQuorum(compute, reviews, this.options.quorum);
    for (const id of decision.disagreeing) await this.store.registry.count(id, 'disputes').catch(() => {});
    if (!decision.released) {
      logger.warn(
        { event: 'job.disputed', job_id: request.jobId, compute_node: compute.node_id, agreeing: decision.agreeing, disagreeing: decision.disagreeing },
        'job disputed; result not released',
      );
      return { status: 'disputed', reason: decision.reason, computeNode: compute.node_id, agreeing: decision.agreeing, disagreeing: decision.disagreeing };
    }
    const quorum = { reviewers: this.options.reviewers, quorum: this.options.quorum, agreeing: decision.agreeing };
    let receipt = logRelease(this.options.log, compute, reviews, quorum, request.step);
    const size = receipt.index + 1;
    const lines = await this.cosign(decision.agreeing, size);
    if (lines.length > 0) {
      this.options.log.cosign(size, lines);
      receipt = this.options.log.receipt(receipt.index, Buffer.from(receipt.entry, 'base64'), size);
    }
    logger.info(
      {
        event: 'job.released',
        job_id: request.jobId,
        compute_node: compute.node_id,
        agreeing: decision.agreeing,
        log_index: receipt.index,
        cosignatures: lines.length,
        ms: Math.round(performance.now() - started),
      },
      'result released',
    );
    return { status: 'released', result: new Uint8Array(result), evaluations: computed.evaluations, receipt, quorum };
  }

  async status(): Promise<RunnerStatus> {
    try {
      await this.assertReachable();
    } catch (e) {
      return { mode: 'queue', nodes: [], queue: null, reviewers: this.options.reviewers, quorum: this.options.quorum, unavailable: (e as Error).message };
    }
    const nodes = await this.redisCall(() => this.store.registry.list());
    const c = await this.compute.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
    return {
      mode: 'queue',
      nodes: nodes.map((n) => ({ ...n })),
      queue: { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0, completed: c.completed ?? 0 },
      reviewers: this.options.reviewers,
      quorum: this.options.quorum,
    };
  }

  /** Close the connections; while Redis is down a graceful close would wait for it, so each gets a short grace period. */
  async close(): Promise<void> {
    const graceful = (p: Promise<unknown>) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
    await Promise.all([...this.events.values()].map((e) => graceful(e.close())));
    await Promise.all([this.compute, ...this.nodeQueues.values()].map((q) => graceful(q.close())));
    for (const c of [...this.events.values(), this.compute, ...this.nodeQueues.values()]) void c.disconnect().catch(() => {});
    this.store.disconnect();
  }

  /** K review nodes re-execute the job, each from its own queue; a node that fails or times out is simply missing. */
  private async review(data: EvaluationJobData, compute: Attestation, request: JobRequest): Promise<Attestation[]> {
    const { reviewers } = this.options;
    if (reviewers === 0) return [];
    const live = (await this.redisCall(() => this.store.registry.liveReviewers(REVIEWER_FRESH_MS))).filter((id) => id !== compute.node_id);
    if (live.length < reviewers) {
      fail('IO', `only ${live.length} review node${live.length === 1 ? ' is' : 's are'} up (other than the compute node); this server needs ${reviewers} (--reviewers)`);
    }
    const chosen = shuffle(live).slice(0, reviewers);
    const answers = await Promise.allSettled(
      chosen.map((id) => this.await<EvaluationJobResult>(this.nodeQueue(id), 'review', data, `${request.jobId}-review-${id}`, { ...request, onProgress: undefined })),
    );
    const out: Attestation[] = [];
    answers.forEach((a, i) => {
      if (a.status === 'fulfilled') out.push(a.value.attestation);
      else this.options.logger.warn({ event: 'review.failed', job_id: request.jobId, node_id: chosen[i], reason: String((a.reason as Error).message) }, 'review failed');
    });
    return out;
  }

  /** Ask each agreeing reviewer to cosign checkpoint `size`; returns the cosignature lines that came back. */
  private async cosign(witnesses: readonly string[], size: number): Promise<string[]> {
    const log = this.options.log;
    const checkpoint = log.store.checkpoint(size)!.note;
    const lines = await Promise.allSettled(
      witnesses.map(async (id) => {
        const proofFrom = async (from: number | undefined): Promise<Record<string, string[]>> =>
          from && from > 0 && from < size ? { [String(from)]: log.store.consistencyProof(from, size).map((h) => h.toString('base64')) } : {};
        const ask = async (proofs: Record<string, string[]>, attempt: string) =>
          this.await<CosignJobResult>(this.nodeQueue(id), 'cosign', { checkpoint, vkey: log.vkey, proofs } satisfies CosignJobData, `cosign-${size}-${id}-${attempt}`, {
            timeoutMs: COSIGN_TIMEOUT_MS,
          });
        let answer: CosignJobResult;
        try {
          answer = await ask(await proofFrom(this.lastCosigned.get(id)), 'a');
        } catch (e) {
          // After a server restart it does not know what the witness last cosigned; the witness says.
          const m = /need a consistency proof from size (\d+)/.exec((e as Error).message);
          if (!m) throw e;
          answer = await ask(await proofFrom(Number(m[1])), 'b');
        }
        this.lastCosigned.set(id, size);
        return answer.line;
      }),
    );
    lines.forEach((l, i) => {
      if (l.status === 'rejected') this.options.logger.warn({ event: 'cosign.failed', node_id: witnesses[i], size, reason: String((l.reason as Error).message) }, 'witness did not cosign');
    });
    return lines.flatMap((l) => (l.status === 'fulfilled' ? [l.value] : []));
  }

  private async await<R>(
    queue: Queue,
    name: string,
    data: unknown,
    jobId: string,
    call: { readonly onProgress?: JobRequest['onProgress']; readonly signal?: AbortSignal; readonly timeoutMs?: number },
  ): Promise<R> {
    const events = this.eventsOf(queue.name);
    const onProgress = ({ jobId: id, data: p }: { jobId: string; data: unknown }) => {
      if (id === jobId && call.onProgress && typeof p === 'object' && p !== null) void call.onProgress(p as { done: number; total: number });
    };
    events.on('progress', onProgress);
    try {
      const job: Job = await this.redisCall(() =>
        queue.add(name, data, { jobId, attempts: 2, removeOnComplete: { age: 3600 }, removeOnFail: { age: 24 * 3600 }, sizeLimit: 256 * 1024 }),
      );
      return (await job.waitUntilFinished(events, call.timeoutMs ?? this.options.jobTimeoutMs ?? 10 * 60_000)) as R;
    } catch (e) {
      if (e instanceof DeepPowersError) throw e;
      const msg = (e as Error).message;
      if (/timed out before finishing/i.test(msg)) fail('IO', `no node finished job ${jobId} in time (${queue.name}); are workers running?`);
      fail('BAD_ARGUMENT', msg.replace(/^Error: /, ''));
    } finally {
      events.off('progress', onProgress);
    }
  }

  private queue(name: string): Queue {
    const q = new Queue(name, { connection: bullConnection(this.options.queue) });
    q.on('error', () => {
      // Reported through assertReachable and failed commands; ioredis reconnects by itself.
    });
    return q;
  }

  private nodeQueue(id: string): Queue {
    let q = this.nodeQueues.get(id);
    if (!q) this.nodeQueues.set(id, (q = this.queue(nodeQueue(id))));
    return q;
  }

  private eventsOf(name: string): QueueEvents {
    let e = this.events.get(name);
    if (!e) {
      e = new QueueEvents(name, { connection: bullConnection(this.options.queue) });
      e.on('error', () => {});
      this.events.set(name, e);
    }
    return e;
  }

  /** Fail at once, with what to do, while Redis is down (a connection still being made gets a moment). */
  private async assertReachable(): Promise<void> {
    if (!(await this.store.ready(1000))) {
      fail('IO', `the job queue is unavailable: Redis at ${this.options.queue.url} is not reachable; jobs are accepted again as soon as it is back`);
    }
  }

  private async redisCall<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      if (e instanceof DeepPowersError) throw e;
      return fail('IO', `the job queue is unavailable: Redis at ${this.options.queue.url} is not reachable (${(e as Error).message}); jobs are accepted again as soon as it is back`);
    }
  }
}

function shuffle<T>(xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
