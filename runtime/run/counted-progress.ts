/**
 * How a long counted loop (encrypted evaluations, the bench soak) reports progress without knowing
 * how it is shown: the caller makes a tracker for the total, the loop tells it each step done.
 * runtime/cli/progress.ts draws it; library callers may pass nothing.
 */
export interface CountedProgressTracker {
  update(done: number): void;
  finish(): void;
}

export type CountedProgress = (total: number) => CountedProgressTracker;
