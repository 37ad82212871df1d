import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT } from './paths';
import { stopProcess } from './processes';

export { BIN, ROOT };

export interface ServeProcess {
  readonly proc: ChildProcess;
  /** The MCP endpoint the server printed, e.g. http://127.0.0.1:41234/mcp. */
  readonly url: string;
  /** Everything the server wrote to stderr (its log) so far. */
  log(): string;
  stop(): Promise<void>;
}

/** Start `deeppowers serve --http 127.0.0.1:0 ...` and wait for the line that says where it listens. */
export async function startServe(args: readonly string[], cwd = ROOT): Promise<ServeProcess> {
  const proc = spawn(process.execPath, [BIN, 'serve', ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGTERM');
      reject(new Error(`serve did not start: ${stderr}`));
    }, 60_000);
    proc.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+\/mcp)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${stderr}`));
    });
  });
  return {
    proc,
    url,
    log: () => stderr,
    stop: () => stopProcess(proc),
  };
}

/**
 * `deeppowers serve MODELS --http 127.0.0.1:0` with its token file and data dir in `work`: the
 * file holds one `tenant:token` line per entry of `tokens` (private to the owner), the data dir
 * is `work/data`; `extra` are further serve arguments.
 */
export async function startServeWithTokens(models: readonly string[], work: string, tokens: Readonly<Record<string, string>>, extra: readonly string[] = [], cwd = ROOT): Promise<ServeProcess> {
  const tokenFile = join(work, 'tokens');
  writeFileSync(tokenFile, Object.entries(tokens).map(([tenant, token]) => `${tenant}:${token}\n`).join(''), { mode: 0o600 });
  return startServe([...models, '--http', '127.0.0.1:0', '--token-file', tokenFile, '--data-dir', join(work, 'data'), ...extra], cwd);
}
