import { spawn, type ChildProcess } from 'node:child_process';
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
