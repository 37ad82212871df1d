import type { Attestation } from './attestation';

/**
 * Figures for `status`: per-node counters and job latency percentiles over a bounded window of
 * recent jobs (nearest-rank percentiles, so each figure is a latency that actually occurred).
 */

export interface NodeStatus {
  readonly node_id: string;
  readonly role: 'compute' | 'review' | 'server';
  /** The node's listed Ed25519 key, base64 (queue mode: from the operator's nodes file). */
  readonly public_key?: string;
  /** ISO time of the last heartbeat (embedded: now; '' when a listed node never sent one). */
  readonly last_heartbeat: string;
  readonly jobs_done: number;
  readonly failures: number;
  /** Jobs disputed with this node on the losing side: a compute node a reviewer contradicted, or a dissenting reviewer. */
  readonly disputes: number;
  /** Reviews assigned to this node that it did not answer before its deadline. */
  readonly timeouts?: number;
}

/**
 * The evidence of one dispute, kept by the server: both sides' signed attestations (the compute
 * node's first, then each dissenting reviewer's), and the assigned reviewers that did not answer
 * in time. Anyone can check the signatures; two signed, different result hashes for the same job
 * prove that one side lied.
 */
export interface DisputeRecord {
  readonly job_id: string;
  /** Whose request it was: status shows a tenant only its own disputes. */
  readonly tenant: string;
  readonly time: string;
  readonly compute_node: string;
  readonly agreeing: readonly string[];
  readonly disagreeing: readonly string[];
  readonly timed_out: readonly string[];
  readonly reason: string;
  readonly attestations: readonly Attestation[];
}

export interface LatencySummary {
  readonly count: number;
  readonly p50_ms: number | null;
  readonly p90_ms: number | null;
  readonly p99_ms: number | null;
  readonly max_ms: number | null;
}

export class LatencyWindow {
  private readonly values: number[] = [];

  constructor(private readonly capacity = 1000) {}

  record(ms: number): void {
    this.values.push(ms);
    if (this.values.length > this.capacity) this.values.shift();
  }

  summary(): LatencySummary {
    const sorted = [...this.values].sort((a, b) => a - b);
    const rank = (p: number): number | null => (sorted.length === 0 ? null : round(sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!));
    return { count: sorted.length, p50_ms: rank(50), p90_ms: rank(90), p99_ms: rank(99), max_ms: sorted.length ? round(sorted.at(-1)!) : null };
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
