import { spawn, type ChildProcess } from 'node:child_process';
import { ROOT } from './paths';

/**
 * Child processes a test starts as users would (the CLI, redis-server), with their output kept
 * so the test can wait for the lines they print, and stopped by pid.
 */

export interface WatchedProcess {
  readonly proc: ChildProcess;
  /** Everything it printed so far, stdout and stderr together. */
  output(): string;
  /**
   * The first match of `pattern` in the output from offset `from` on; rejects after `timeoutMs`
   * or when the process ends without printing it.
   */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<RegExpExecArray>;
}

/** Signal `proc` by its pid and wait for it to exit (at once if it already has). */
export function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    process.kill(proc.pid!, signal);
  });
}

/** The processes one test file started, so that its afterAll can kill those still running. */
export class ProcessGroup {
  private readonly procs: ChildProcess[] = [];

  /** `env`: the environment every process of the group gets (default: this process's). */
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** Spawn `command` in the repository root. */
  start(command: string, args: readonly string[]): WatchedProcess {
    const proc = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: this.env });
    this.procs.push(proc);
    let out = '';
    let ended = false;
    const listeners = new Set<() => void>();
    const take = (d: Buffer) => {
      out += d.toString();
      for (const l of listeners) l();
    };
    proc.stdout!.on('data', take);
    proc.stderr!.on('data', take);
    // 'close' comes after the last output, so a line printed just before exiting is still seen.
    proc.once('close', () => {
      ended = true;
      for (const l of listeners) l();
    });
    return {
      proc,
      output: () => out,
      waitFor: (pattern, timeoutMs = 90_000, from = 0) =>
        new Promise((resolve, reject) => {
          const settle = (finish: () => void) => {
            listeners.delete(check);
            clearTimeout(timer);
            finish();
          };
          const check = () => {
            const m = pattern.exec(out.slice(from));
            if (m) settle(() => resolve(m));
            else if (ended) settle(() => reject(new Error(`exited with ${proc.exitCode ?? proc.signalCode} before ${pattern}:\n${out.slice(-3000)}`)));
          };
          const timer = setTimeout(() => settle(() => reject(new Error(`timed out waiting for ${pattern} in:\n${out.slice(-3000)}`))), timeoutMs);
          listeners.add(check);
          check();
        }),
    };
  }

  /** SIGKILL, by pid, every process of the group still running. */
  killAll(): void {
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null) process.kill(p.pid!, 'SIGKILL');
    }
  }
}
