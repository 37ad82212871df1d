/**
 * Progress of one tool call that first runs steps of unknown length (making the secret key,
 * making and uploading the evaluation keys, encrypting) and then counted evaluations. Each step
 * is announced before it starts, so a host whose request timeout restarts on progress (the MCP
 * SDK's `resetTimeoutOnProgress`) is not cut off by a first call that spends a minute making keys
 * before the server reports anything. Progress only increases: step k is k, evaluation d of t is
 * steps + d of steps + t. While nothing new arrives for `heartbeatMs` (the server loading keys
 * and running a deep model's first evaluation), a heartbeat goes out, each one halfway between the
 * last value and the next whole count, so it never reaches a count still to come.
 */
export type SendProgress = (progress: number, total: number | undefined, message: string) => Promise<void>;

/** What a long client-side step reports before it starts. */
export type OnStage = (message: string) => Promise<void>;

/** Below the MCP SDK's default 60 s request timeout, with room for a slow host. */
export const HEARTBEAT_MS = 20_000;

export class StagedProgress {
  private steps = 0;
  private last = -1;
  private total: number | undefined;
  private message = '';
  private quietSince = Date.now();
  private sentAt = Date.now();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly send: SendProgress,
    heartbeatMs = HEARTBEAT_MS,
  ) {
    // Checked four times per period, so a heartbeat follows the last notification by at most 1.25 periods.
    this.timer = setInterval(() => this.heartbeat(heartbeatMs), heartbeatMs / 4);
    this.timer.unref();
  }

  /**
   * Announce a step; resolves once the notification is handed to the transport and pending I/O
   * has run, so that a synchronous step after it (SEAL key generation) cannot hold it back.
   */
  readonly stage: OnStage = async (message) => {
    this.steps++;
    await this.emit(this.steps, undefined, message);
    await new Promise<void>((resolve) => setImmediate(resolve));
  };

  evaluations(done: number, total: number, message: string): void {
    void this.emit(this.steps + done, this.steps + total, message);
  }

  /** No more heartbeats (the call has answered). */
  stop(): void {
    clearInterval(this.timer);
  }

  private heartbeat(heartbeatMs: number): void {
    if (this.last < 0 || Date.now() - this.sentAt < heartbeatMs) return;
    const quiet = Date.now() - this.quietSince;
    const next = Math.floor(this.last) + 1;
    const seconds = Math.round(quiet / 1000);
    void this.emit(this.last + (next - this.last) / 2, this.total, `${this.message} (still working, ${seconds} s since the last news)`, false);
  }

  private async emit(progress: number, total: number | undefined, message: string, news = true): Promise<void> {
    if (progress <= this.last) return;
    this.last = progress;
    this.sentAt = Date.now();
    if (news) {
      this.total = total;
      this.message = message;
      this.quietSince = Date.now();
    }
    await this.send(progress, total, message).catch(() => {});
  }
}
