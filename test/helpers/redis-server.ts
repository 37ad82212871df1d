import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { stopProcess } from './processes';

/**
 * A throwaway redis-server on a loopback port for the network tests (no persistence), stopped by
 * its pid.
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

export interface RedisOptions {
  /** More command-line config (e.g. --requirepass, TLS options). */
  readonly extra?: readonly string[];
  /** Replaces the plain `--port PORT` (TLS tests listen on --tls-port). */
  readonly portArgs?: (port: number) => string[];
  /** The port to listen on (a restart on the port the nodes know); a free one when left out. */
  readonly port?: number;
}

/** Start redis-server in `dir` and wait until it accepts connections. */
export async function startRedis(dir: string, { extra = [], portArgs = (p) => ['--port', String(p)], port: fixed }: RedisOptions = {}): Promise<TestRedis> {
  const port = fixed ?? (await freePort());
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
    stop: () => stopProcess(proc),
  };
}
