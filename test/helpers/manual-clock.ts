import type { Clock } from '../../runtime/service/clock';

/**
 * A clock the test moves: `advance(ms)` steps time forward and runs every tick that falls due on
 * the way, in time order, at its own time, so an idle limit fires at exactly the tick after it.
 */
export class ManualClock implements Clock {
  private time: number;
  private readonly tickers = new Set<{ readonly ms: number; next: number; readonly tick: () => void }>();

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  every(ms: number, tick: () => void): () => void {
    if (!(ms > 0)) throw new Error(`tick interval ${ms} ms`);
    const t = { ms, next: this.time + ms, tick };
    this.tickers.add(t);
    return () => void this.tickers.delete(t);
  }

  /** Moves time `ms` forward, running each due tick (a tick that stops itself or another is honoured at once). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let due: { ms: number; next: number; tick: () => void } | undefined;
      for (const t of this.tickers) if (t.next <= end && (!due || t.next < due.next)) due = t;
      if (!due) break;
      this.time = due.next;
      due.next += due.ms;
      due.tick();
    }
    this.time = end;
  }

  /** Tickers still running (a stopped limit leaves none behind). */
  get running(): number {
    return this.tickers.size;
  }
}
