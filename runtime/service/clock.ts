/**
 * Time as the servers read it for idle limits and TTLs: the current time and a repeating tick.
 * Injected (HttpOptions.clock) so that a test can move time itself and see a limit fire at the
 * millisecond it should, instead of sleeping past it; SYSTEM_CLOCK is the wall clock.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `tick` every `ms` until the returned function is called; never keeps the process alive by itself. */
  every(ms: number, tick: () => void): () => void;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  every(ms, tick) {
    const timer = setInterval(tick, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};
