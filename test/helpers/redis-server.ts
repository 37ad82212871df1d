import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * A throwaway redis-server on a free loopback port for the network tests (no persistence),
 * stopped by its pid. `extra` adds command-line config (e.g. --requirepass, TLS options).
 */

export interface TestRedis {
  readonly port: number;
  readonly proc: ChildProcess;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Start redis-server in `dir`; `portArgs(port)` replaces the plain `--port PORT` (TLS tests listen on --tls-port). */
export async function startRedis(dir: string, extra: readonly string[] = [], portArgs: (port: number) => string[] = (p) => ['--port', String(p)]): Promise<TestRedis> {
  const port = await freePort();
  const proc = spawn('redis-server', [...portArgs(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const take = (d: Buffer) => {
      out += d.toString();
      if (/Ready to accept connections/.test(out)) resolve();
    };
    proc.stdout!.on('data', take);
    proc.stderr!.on('data', take);
    proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${out.slice(-2000)}`)));
  });
  return {
    port,
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        process.kill(proc.pid!, 'SIGTERM');
      }),
  };
}
