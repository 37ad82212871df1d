import { Queue, QueueEvents, type Job } from 'bullmq';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { DeepPowersError, fail } from '../../compiler/errors';
import type { Attestation } from './attestation';
import { checkAttestation, sameJob, segmentOf } from './attestation';
import { verifyCheckpoint, witnessKeyOf, witnessName } from './checkpoint';
import type { TrustedNodes } from './node-list';
import { parseVkey } from './signed-note';
import type { DisputeRecord } from './status';
import type { JobOutcome, JobRequest, JobRunner, RunnerStatus } from './job-runner';
import type { Logger } from './logger';
import { decideQuorum } from './quorum';
import { bullConnection, COMPUTE_QUEUE, nodeQueue, SharedStore, type CosignJobData, type CosignJobResult, type EvaluationJobData, type EvaluationJobResult, type RedisAddress } from './queue';
import { logRelease } from './release';
import type { TransparencyLog } from './transparency-log';

/**
 * `serve --queue redis://… --nodes FILE`: each evaluation goes to a compute node through the
 * shared BullMQ queue; with reviewers, K live review nodes (other than the compute node) re-execute
 * it from their own queues, and the result is released as soon as Q of them attest the same result
 * hash. Only nodes on the operator's list count: the compute attestation must be by a listed
 * compute node under its listed key, and a review counts only when it is signed, under the listed
 * key, by the very reviewer the server assigned it to. Each reviewer has a deadline; one that
 * misses it is named and counted against. A released result is logged with every attestation,
 * and the agreeing reviewers are asked to cosign the new checkpoint as witnesses. A disagreement
 * is a dispute: nothing is released, the nodes on each side are named, the compute node and the
 * dissenting reviewers each get a dispute count, and both sides' signed attestations are kept as
 * evidence (status and the server's log line).
 */

export interface QueueRunnerOptions {
  readonly queue: RedisAddress;
  readonly reviewers: number;
  readonly quorum: number;
  readonly log: TransparencyLog;
  readonly logger: Logger;
  /** The tenant's evaluation-key bundle, for the blob store. */
  readonly readKeys: (tenant: string, keysId: string) => Uint8Array;
  /** The operator's list of trusted nodes (reloaded on SIGHUP by the CLI). */
  readonly nodes: TrustedNodes;
  /** Longest wait for the compute node's answer (default 10 minutes). */
  readonly jobTimeoutMs?: number;
  /** Each assigned reviewer's deadline, from when its review is queued (default: 3 × the compute node's time, at least 60 s). */
  readonly reviewTimeoutMs?: number;
}

/** What became of one assigned review. */
type ReviewAnswer =
  | { readonly node: string; readonly kind: 'attested'; readonly attestation: Attestation }
  | { readonly node: string; readonly kind: 'timeout' }
  | { readonly node: string; readonly kind: 'refused'; readonly reason: string }
  | { readonly node: string; readonly kind: 'failed'; readonly reason: string };

/** A wait for a node that ran past its deadline. */
class Deadline extends Error {}

const INPUT_TTL_S = 3600;
const KEYS_TTL_S = 24 * 3600;
const REVIEWER_FRESH_MS = 10_000;
const MIN_REVIEW_TIMEOUT_MS = 60_000;
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
    if (this.options.nodes.current.withRole('compute').length === 0) fail('IO', 'no compute node is on the nodes list (serve --nodes); add the line `deeppowers worker --print-id --role compute` prints');
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

    const computeStarted = performance.now();
    const computed = await this.await<EvaluationJobResult>(this.compute, 'evaluate', data, `${request.jobId}`, request);
    const computeMs = performance.now() - computeStarted;
    const compute = computed.attestation;
    checkAttestation(compute);
    const refused = this.options.nodes.current.refuses(compute, 'compute');
    if (refused) {
      logger.warn({ event: 'job.refused', job_id: request.jobId, node_id: compute.node_id, reason: refused }, 'result from a node not on the list refused');
      fail('BAD_CIPHERTEXT', `result refused, not released: ${refused}`);
    }
    if (compute.job_id !== request.jobId || compute.inputs_sha256 !== inputsSha || segmentOf(compute) !== (request.segment ?? 0) || compute.chain_id !== request.chainId) {
      fail('BAD_CIPHERTEXT', `compute node ${compute.node_id} attested another job`);
    }
    const result = await this.redisCall(() => this.store.blobs.get(compute.result_sha256));
    if (!result || sha256Hex(result) !== compute.result_sha256) fail('IO', `the result of job ${request.jobId} is missing from the blob store or does not match its attestation`);

    const answers = await this.review(data, compute, request, computeMs);
    const reviews = answers.flatMap((a) => (a.kind === 'attested' ? [a.attestation] : []));
    const timedOut = answers.filter((a) => a.kind === 'timeout').map((a) => a.node);
    const unanswered = answers.filter((a) => a.kind === 'refused' || a.kind === 'failed');
    for (const id of timedOut) await this.store.registry.blame(id, 'timeouts').catch(() => {});
    const decision = decideQuorum(compute, reviews, this.options.quorum, answers.length);
    // A signed contradiction blames both sides: the dissenting reviewers and the compute node.
    const blamed = decision.disagreeing.length > 0 && !decision.released ? [compute.node_id, ...decision.disagreeing] : decision.disagreeing;
    for (const id of blamed) await this.store.registry.blame(id, 'disputes').catch(() => {});
    if (!decision.released) {
      const reason =
        decision.reason +
        (timedOut.length ? `; no answer within the review deadline from ${timedOut.join(', ')}` : '') +
        (unanswered.length ? `; ${unanswered.map((a) => `${a.node}: ${a.reason}`).join('; ')}` : '');
      const evidence: DisputeRecord = {
        job_id: request.jobId,
        tenant: request.tenant,
        time: new Date().toISOString(),
        compute_node: compute.node_id,
        agreeing: decision.agreeing,
        disagreeing: decision.disagreeing,
        timed_out: timedOut,
        reason,
        attestations: [compute, ...reviews.filter((r) => decision.disagreeing.includes(r.node_id))],
      };
      await this.store.registry.recordDispute(evidence).catch(() => {});
      logger.warn({ event: 'job.disputed', ...evidence }, 'job disputed; result not released');
      return { status: 'disputed', reason, computeNode: compute.node_id, agreeing: decision.agreeing, disagreeing: decision.disagreeing, timedOut };
    }
    const quorum = { reviewers: this.options.reviewers, quorum: this.options.quorum, agreeing: decision.agreeing };
    let receipt = logRelease(this.options.log, compute, reviews, quorum, request.tenant, request.step);
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
    const nodes = await this.redisCall(() => this.store.registry.records(this.options.nodes.current.nodes));
    const disputes = await this.redisCall(() => this.store.registry.disputes());
    const c = await this.compute.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
    return {
      mode: 'queue',
      nodes: nodes.map((n) => ({ ...n })),
      queue: { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0, completed: c.completed ?? 0 },
      reviewers: this.options.reviewers,
      quorum: this.options.quorum,
      disputes,
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

  /**
   * K listed review nodes with a fresh heartbeat re-execute the job, each from its own queue.
   * Returns as soon as Q answers agree with the compute result (a reviewer still working then is
   * left out), else once every reviewer has answered or missed its deadline.
   */
  private async review(data: EvaluationJobData, compute: Attestation, request: JobRequest, computeMs: number): Promise<ReviewAnswer[]> {
    const { reviewers, quorum, nodes, logger } = this.options;
    if (reviewers === 0) return [];
    const list = nodes.current;
    const candidates = list.withRole('review').filter((n) => n.node_id !== compute.node_id);
    const live = await this.redisCall(() => this.store.registry.fresh(candidates, REVIEWER_FRESH_MS));
    if (live.length < reviewers) {
      fail(
        'IO',
        `only ${live.length} listed review node${live.length === 1 ? ' is' : 's are'} up (other than the compute node; ${candidates.length} on the nodes list); this server needs ${reviewers} (--reviewers)`,
      );
    }
    const chosen = shuffle(live).slice(0, reviewers);
    const deadline = this.options.reviewTimeoutMs ?? Math.max(MIN_REVIEW_TIMEOUT_MS, Math.ceil(3 * computeMs));
    const agrees = (a: Attestation) => sameJob(a, compute) && a.result_sha256 === compute.result_sha256;
    return new Promise<ReviewAnswer[]>((resolve) => {
      const answers: ReviewAnswer[] = [];
      let pending = chosen.length;
      let agreeing = 0;
      let done = false;
      const settle = (answer: ReviewAnswer) => {
        pending--;
        if (done) {
          // Released before this reviewer answered: a late contradiction is still worth the operator's eyes.
          if (answer.kind === 'attested' && !agrees(answer.attestation)) {
            logger.warn({ event: 'review.late_dissent', job_id: request.jobId, node_id: answer.node, attestation: answer.attestation }, 'a reviewer contradicted a result released without it');
          }
          return;
        }
        answers.push(answer);
        if (answer.kind === 'attested' && agrees(answer.attestation)) agreeing++;
        if (answer.kind === 'timeout') logger.warn({ event: 'review.timeout', job_id: request.jobId, node_id: answer.node, deadline_ms: deadline }, 'reviewer missed its deadline');
        if (answer.kind === 'refused' || answer.kind === 'failed') logger.warn({ event: `review.${answer.kind}`, job_id: request.jobId, node_id: answer.node, reason: answer.reason }, `review ${answer.kind}`);
        // Released as soon as Q agree; otherwise every assigned reviewer answers or misses its deadline, so the dispute holds all the evidence.
        if (agreeing >= quorum || pending === 0) {
          done = true;
          resolve(answers);
        }
      };
      for (const id of chosen) {
        this.await<EvaluationJobResult>(this.nodeQueue(id), 'review', data, `${request.jobId}-review-${id}`, { timeoutMs: deadline, deadline: true })
          .then((r) => {
            const a = r.attestation;
            try {
              checkAttestation(a);
            } catch (e) {
              return settle({ node: id, kind: 'refused', reason: (e as Error).message });
            }
            const refused = list.refuses(a, 'review', id);
            settle(refused ? { node: id, kind: 'refused', reason: refused } : { node: id, kind: 'attested', attestation: a });
          })
          .catch((e: unknown) => settle(e instanceof Deadline ? { node: id, kind: 'timeout' } : { node: id, kind: 'failed', reason: (e as Error).message }));
      }
    });
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
        const listed = this.options.nodes.current.get(id);
        if (!listed) throw new Error(`node ${id} is no longer on the nodes list`);
        const key = witnessKeyOf(witnessName(id), { publicKey: Buffer.from(listed.public_key, 'base64') });
        if (verifyCheckpoint(checkpoint + answer.line, parseVkey(log.vkey), [key]).cosignedBy.length !== 1) throw new Error(`the cosignature from ${id} does not verify under its listed key`);
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
    call: { readonly onProgress?: JobRequest['onProgress']; readonly signal?: AbortSignal; readonly timeoutMs?: number; readonly deadline?: boolean },
  ): Promise<R> {
    const events = this.eventsOf(queue.name);
    const onProgress = ({ jobId: id, data: p }: { jobId: string; data: unknown }) => {
      if (id === jobId && call.onProgress && typeof p === 'object' && p !== null) void call.onProgress(p as { done: number; total: number });
    };
    events.on('progress', onProgress);
    let job: Job | undefined;
    try {
      job = await this.redisCall(() =>
        queue.add(name, data, { jobId, attempts: 2, removeOnComplete: { age: 3600 }, removeOnFail: { age: 24 * 3600 }, sizeLimit: 256 * 1024 }),
      );
      return (await job.waitUntilFinished(events, call.timeoutMs ?? this.options.jobTimeoutMs ?? 10 * 60_000)) as R;
    } catch (e) {
      if (e instanceof DeepPowersError) throw e;
      const msg = (e as Error).message;
      if (/timed out before finishing/i.test(msg)) {
        if (call.deadline) {
          // The node that missed its deadline does not get to run the job later (a locked job stays; its answer is ignored).
          await job?.remove().catch(() => {});
          throw new Deadline(msg);
        }
        fail('IO', `no node finished job ${jobId} in time (${queue.name}); are workers running?`);
      }
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
