import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { ROOT } from '../helpers/serve-process';
import { INSPECTOR_SMOKE_SECTION, readReadmeSection } from '../tools/readme-section';

/**
 * The MCP Inspector smoke test of docs/serving.md, run as written: the Inspector CLI (a devDependency)
 * against `deeppowers serve` with a token file over HTTP (the token in `--header`) and over
 * stdio, and against `deeppowers client` over stdio. Only the port and the working directory are
 * substituted, so the guide cannot drift from what works.
 */

const dir = mkdtempSync(join(tmpdir(), 'dp-inspector-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface BashRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Ends whatever the script left in its process group (the test's safety net, after its checks). */
  endGroup(): void;
}

function runBash(script: string, timeoutMs: number): Promise<BashRun> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-c', script], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const endGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // the group has already exited
      }
    };
    const timer = setTimeout(endGroup, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, endGroup });
    });
  });
}

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

test('the Inspector commands of docs/serving.md (server with a token file) list the tools over HTTP and stdio, read the card and run a private prediction', async () => {
  const section = readReadmeSection(INSPECTOR_SMOKE_SECTION);
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  expect(block, 'the Inspector section has a sh block').not.toBeNull();
  const port = await freePort();
  const script = block![1]!
    .replaceAll('127.0.0.1:8750', `127.0.0.1:${port}`)
    .replaceAll('127.0.0.1/8750', `127.0.0.1/${port}`)
    .replaceAll('.deeppowers/', `${dir}/`);
  expect(script).not.toContain('8750');
  // The token-file flow: the HTTP calls carry the token, the server was started with the file.
  expect(script).toContain('--token-file');
  expect(script).toContain('--header "Authorization: Bearer $TOKEN"');
  expect(script).not.toContain('--insecure-no-auth');

  const { code, stdout, stderr, endGroup } = await runBash(script, 300_000);
  try {
    expect(code, stderr).toBe(0);
    // The block's last line stops the server it started: nothing is left listening.
    let open = await listening(port);
    for (let i = 0; open && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 200));
      open = await listening(port);
    }
    expect(open, 'the server is still listening after `kill $SERVER`').toBe(false);
  } finally {
    endGroup();
  }
  // tools/list over HTTP and over stdio each name the served model's tool.
  expect(stdout.match(/"name": "predict_iris"/g)?.length, stdout).toBe(2);
  expect(stdout.match(/"name": "list_models"/g)?.length).toBe(2);
  // resources/read of the model's card, over HTTP with the token.
  expect(stdout).toContain('"uri": "deeppowers://models/iris/card"');
  // The client's private_predict: scikit-learn labels this test row 2.
  expect(stdout).toMatch(/"output_label": \[\s*2\s*\]/);
  expect(stdout).not.toMatch(/"isError": true/);
}, 320_000);
