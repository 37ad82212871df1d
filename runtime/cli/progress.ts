/**
 * Progress on stderr for every long step (compile, keygen, encrypted evaluations, bench): one
 * module so that every command shows it the same way.
 * - On a terminal: a bar redrawn in place (`\r`), at most ten times a second.
 * - Otherwise (a pipe, a CI log): plain lines, at most one every few seconds.
 * - `--quiet`: nothing.
 * Progress never goes to stdout, so `--json` output stays one JSON value.
 */
import type { CountedProgressTracker } from '../run/counted-progress';

export interface ProgressStream {
  write(s: string): unknown;
  readonly isTTY?: boolean;
}

export interface ProgressOptions {
  readonly stream?: ProgressStream;
  /** Clock in ms (tests pass a fake one). */
  readonly now?: () => number;
  /** Least time between two plain lines when the stream is not a terminal. */
  readonly lineIntervalMs?: number;
}

export type Progress = CountedProgressTracker;

/** A step-by-step reporter for work with named steps and no known count (compile). */
export interface StepProgress {
  step(name: string): void;
  done(): void;
}

let quiet = false;

/** `--quiet` (a program-wide option) turns every progress display and note off. */
export function setQuiet(q: boolean): void {
  quiet = q;
}

const BAR_WIDTH = 24;
const TTY_REDRAW_MS = 100;
const LINE_INTERVAL_MS = 5000;

function bar(done: number, total: number): string {
  const filled = total > 0 ? Math.min(BAR_WIDTH, Math.round((done / total) * BAR_WIDTH)) : BAR_WIDTH;
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

export function startProgress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (quiet) return { update() {}, finish() {} };
  const now = opts.now ?? Date.now;
  const started = now();
  const pct = (done: number): number => (total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100);
  const tty = stream.isTTY === true;
  const draw = tty
    ? (done: number) => stream.write(`\r${label} ${bar(done, total)} ${done}/${total} ${pct(done)}% ${seconds(now() - started)}\x1b[K`)
    : (done: number) => stream.write(`${label}: ${done}/${total} (${pct(done)}%) ${seconds(now() - started)}\n`);
  // A terminal redraws in place, at most ten times a second (terminals are slow next to small
  // steps); a log gets a line at most every interval, and the last one only from finish().
  const interval = tty ? TTY_REDRAW_MS : (opts.lineIntervalMs ?? LINE_INTERVAL_MS);
  const due = (done: number, sinceLast: number): boolean => (done >= total ? tty : sinceLast >= interval);
  let last = tty ? -Infinity : started;
  let finished = false;
  draw(0);
  return {
    update(done) {
      const t = now();
      if (finished || !due(done, t - last)) return;
      last = t;
      draw(done);
    },
    finish() {
      if (finished) return;
      finished = true;
      draw(total);
      if (tty) stream.write('\n');
    },
  };
}

export function startSteps(label: string, opts: ProgressOptions = {}): StepProgress {
  const stream = opts.stream ?? process.stderr;
  if (quiet) return { step() {}, done() {} };
  const now = opts.now ?? Date.now;
  const started = now();
  if (stream.isTTY) {
    return {
      step: (s) => stream.write(`\r${label}: ${s} (${seconds(now() - started)})\x1b[K`),
      done: () => stream.write('\r\x1b[K'),
    };
  }
  // Off a terminal a line per step would bury a quick compile's one-line error: a line goes out
  // only when the interval has passed since the last one, so only long compiles show progress.
  const interval = opts.lineIntervalMs ?? LINE_INTERVAL_MS;
  let last = started;
  let shown = false;
  return {
    step: (s) => {
      const t = now();
      if (t - last < interval) return;
      last = t;
      shown = true;
      stream.write(`${label}: ${s} (${seconds(t - started)})\n`);
    },
    done: () => {
      if (shown) stream.write(`${label}: done in ${seconds(now() - started)}\n`);
    },
  };
}

/** A one-line note on stderr (bench's per-model lines), silenced by --quiet like the rest. */
export function progressNote(line: string, stream: ProgressStream = process.stderr): void {
  if (!quiet) stream.write(`${line}\n`);
}
