/**
 * Figures for `status`: per-node counters and job latency percentiles over a bounded window of
 * recent jobs (nearest-rank percentiles, so each figure is a latency that actually occurred).
 */

export interface NodeStatus {
  readonly node_id: string;
  readonly role: 'compute' | 'review' | 'server';
  /** ISO time of the last heartbeat (embedded: now). */
  readonly last_heartbeat: string;
  readonly jobs_done: number;
  readonly failures: number;
  /** Jobs where this node's result disagreed with the released or disputed compute result. */
  readonly disputes: number;
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
