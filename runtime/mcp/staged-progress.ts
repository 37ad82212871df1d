/**
 * Progress of one tool call that first runs steps of unknown length (making the secret key,
 * making and uploading the evaluation keys, encrypting) and then counted evaluations. Each step
 * is announced before it starts, so a host whose request timeout restarts on progress (the MCP
 * SDK's `resetTimeoutOnProgress`) is not cut off by a first call that spends a minute making keys
 * before the server reports anything. Progress only increases: step k is k, evaluation d of t is
 * steps + d of steps + t.
 */
export type SendProgress = (progress: number, total: number | undefined, message: string) => Promise<void>;

/** What a long client-side step reports before it starts. */
export type OnStage = (message: string) => Promise<void>;

export class StagedProgress {
  private steps = 0;
  private last = -1;

  constructor(private readonly send: SendProgress) {}

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

  private async emit(progress: number, total: number | undefined, message: string): Promise<void> {
    if (progress <= this.last) return;
    this.last = progress;
    await this.send(progress, total, message).catch(() => {});
  }
}
