import { sha256Hex } from '../../compiler/artifact/model-hash';
import { attest } from './attestation';
import type { Identity } from './identity';
import type { Logger } from './logger';
import { logRelease, type QuorumFacts, type StepFacts } from './release';
import type { DisputeRecord, NodeStatus } from './status';
import type { LogReceipt, TransparencyLog } from './transparency-log';

/**
 * Where a served model's encrypted evaluation runs and how its result is released. The embedded
 * runner evaluates in the server process and logs the result attested by the server alone; the
 * queue runner (queue-runner.ts) sends it to compute nodes and has review nodes re-execute it.
 */

export interface JobModel {
  readonly name: string;
  readonly modelHash: string;
  readonly parameterId: string;
}

export interface JobProgress {
  readonly done: number;
  readonly total: number;
}

export interface JobRequest {
  readonly jobId: string;
  readonly tenant: string;
  readonly model: JobModel;
  readonly keysId: string;
  readonly inputs: Uint8Array;
  /** Which circuit of a body with client steps to evaluate (default 0: the first, or the only one). */
  readonly segment?: number;
  /** The client's nonce naming the prediction this job belongs to (every segment of it carries the same). */
  readonly chainId?: string;
  /** After a client step: what the client was given and what it sent back, logged so the client can check both. */
  readonly step?: StepFacts;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: JobProgress) => void | Promise<void>;
}

export type JobOutcome =
  | {
      readonly status: 'released';
      readonly result: Uint8Array;
      readonly evaluations: number;
      readonly receipt: LogReceipt;
      readonly quorum: QuorumFacts;
    }
  | {
      readonly status: 'disputed';
      readonly reason: string;
      readonly computeNode: string;
      readonly agreeing: readonly string[];
      readonly disagreeing: readonly string[];
      /** Assigned reviewers that did not answer before their deadline. */
      readonly timedOut?: readonly string[];
    };

export interface QueueDepth {
  readonly waiting: number;
  readonly active: number;
  readonly delayed: number;
  readonly failed: number;
  readonly completed: number;
}

export interface RunnerStatus {
  readonly mode: 'embedded' | 'queue';
  readonly nodes: readonly NodeStatus[];
  readonly queue: QueueDepth | null;
  readonly reviewers: number;
  readonly quorum: number;
  /** The latest disputes with their evidence (queue mode), newest first. */
  readonly disputes?: readonly DisputeRecord[];
  /** Why the queue could not be read (Redis down), when it could not. */
  readonly unavailable?: string;
}

export interface JobRunner {
  run(request: JobRequest): Promise<JobOutcome>;
  status(): Promise<RunnerStatus>;
  close(): Promise<void>;
}

/** Evaluates a request in this process (the service's SEAL server with the tenant's keys). */
export type LocalEvaluator = (request: JobRequest) => Promise<{ readonly result: Uint8Array; readonly evaluations: number }>;

export class EmbeddedRunner implements JobRunner {
  private done = 0;
  private failures = 0;

  constructor(
    private readonly evaluate: LocalEvaluator,
    private readonly identity: Identity,
    private readonly log: TransparencyLog,
    private readonly logger: Logger,
  ) {}

  async run(request: JobRequest): Promise<JobOutcome> {
    const started = performance.now();
    this.logger.info({ event: 'job.started', job_id: request.jobId, model: request.model.name, node_id: this.identity.id }, 'job started');
    let out;
    try {
      out = await this.evaluate(request);
    } catch (e) {
      this.failures++;
      this.logger.warn({ event: 'job.failed', job_id: request.jobId, node_id: this.identity.id, reason: (e as Error).message }, 'job failed');
      throw e;
    }
    const attestation = attest(this.identity, {
      job_id: request.jobId,
      model_hash: request.model.modelHash,
      parameter_id: request.model.parameterId,
      keys_id: request.keysId,
      inputs_sha256: sha256Hex(request.inputs),
      result_sha256: sha256Hex(out.result),
      ...(request.segment ? { segment: request.segment } : {}),
      ...(request.chainId !== undefined ? { chain_id: request.chainId } : {}),
      role: 'server',
      time: new Date().toISOString(),
    });
    const quorum: QuorumFacts = { reviewers: 0, quorum: 0, agreeing: [] };
    const receipt = logRelease(this.log, attestation, [], quorum, request.tenant, request.step);
    this.done++;
    this.logger.info(
      { event: 'job.released', job_id: request.jobId, node_id: this.identity.id, log_index: receipt.index, ms: Math.round(performance.now() - started) },
      'result released',
    );
    return { status: 'released', result: out.result, evaluations: out.evaluations, receipt, quorum };
  }

  async status(): Promise<RunnerStatus> {
    return {
      mode: 'embedded',
      nodes: [{ node_id: this.identity.id, role: 'server', last_heartbeat: new Date().toISOString(), jobs_done: this.done, failures: this.failures, disputes: 0 }],
      queue: null,
      reviewers: 0,
      quorum: 0,
    };
  }

  async close(): Promise<void> {}
}
