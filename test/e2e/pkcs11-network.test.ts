import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nodeIdOf } from '../../runtime/network/identity';
import { readLogVkey } from '../../runtime/network/transparency-log';
import type { RowOutputs } from '../../runtime/outputs';
import { writeCompiledFixture } from '../helpers/compiled-fixture';
import { loadFixture } from '../helpers/fixtures';
import { BIN, ROOT } from '../helpers/serve-process';
import { makeTestToken, tokenPublicKey, type TestToken } from '../helpers/softhsm';

/**
 * The compute network with every key in a PKCS#11 token (SoftHSM 2): Redis (started here,
 * stopped by pid), `deeppowers serve --queue … --reviewers 1 --pkcs11` (log key and node key in
 * the token), a compute and a review `deeppowers worker --pkcs11`, and a host calling
 * private_predict through `deeppowers client --pkcs11` on a keystore sealed by the token. The
 * client checks the compute and review attestations and the cosigned checkpoint with the
 * existing verifier; the keys it is checked against are read from the token by pkcs11-tool.
 */

const FIXTURE = loadFixture('sk_logreg_iris_multinomial');
const ROWS = FIXTURE.data.test_inputs.slice(0, 2) as number[][];
const LABEL = 'deeppowers-network';

interface Proc {
  readonly proc: ChildProcess;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

const procs: ChildProcess[] = [];
let work: string;
let token: TestToken;
let compiledDir: string;
let redisPort: number;

function env(): NodeJS.ProcessEnv {
  return { ...process.env, SOFTHSM2_CONF: token.conf, DEEPPOWERS_PKCS11_PIN: token.pin, DEEPPOWERS_DEBUG: '' };
}

function start(command: string, args: string[]): Proc {
  const proc = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: env() });
  procs.push(proc);
  let out = '';
  const listeners = new Set<() => void>();
  const take = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  proc.stdout!.on('data', take);
  proc.stderr!.on('data', take);
  return {
    proc,
    waitFor: (pattern, timeoutMs = 90_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out);
          if (!m) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern} in:\n${out.slice(-3000)}`));
        }, timeoutMs);
        proc.once('exit', (code) => {
          if (!listeners.has(check)) return;
          listeners.delete(check);
          clearTimeout(timer);
          reject(new Error(`exited with ${code} before ${pattern}:\n${out.slice(-3000)}`));
        });
        listeners.add(check);
        check();
      }),
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

let serverUrl: string;
const nodeIds: Record<string, string> = {};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-pkcs11-network-'));
  token = makeTestToken(work, LABEL);
  compiledDir = join(work, 'iris.compiled');
  writeCompiledFixture(FIXTURE, compiledDir, 'vector');
  redisPort = await freePort();
  const redis = start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work]);
  await redis.waitFor(/Ready to accept connections/);
  const pkcs11 = ['--pkcs11', token.module, '--token-label', LABEL];
  // The server trusts the nodes its operator lists, each line as `worker --print-id` reads it from the token (one after the other: each makes its key there on first use).
  const lines: string[] = [];
  for (const role of ['compute', 'review'] as const) {
    const p = start(process.execPath, [BIN, 'worker', '--print-id', '--role', role, '--data-dir', join(work, role), ...pkcs11, '--node-key-label', `node-${role}`]);
    lines.push((await p.waitFor(/^[0-9a-f]{16} (compute|review) [A-Za-z0-9+/]{43}=\n/))[0]);
  }
  const nodesFile = join(work, 'nodes.txt');
  writeFileSync(nodesFile, lines.join(''));
  const server = start(process.execPath, [
    BIN, 'serve', compiledDir, '--http', '127.0.0.1:0', '--insecure-no-auth', '--data-dir', join(work, 'server'),
    '--queue', `redis://127.0.0.1:${redisPort}`, '--reviewers', '1', '--quorum', '1', '--nodes', nodesFile, ...pkcs11,
  ]);
  serverUrl = (await server.waitFor(/listening on (http:\/\/\S+\/mcp)/))[1]!;
  for (const [name, role] of [['compute', 'compute'], ['review', 'review']] as const) {
    const w = start(process.execPath, [BIN, 'worker', compiledDir, '--queue', `redis://127.0.0.1:${redisPort}`, '--data-dir', join(work, name), '--role', role, ...pkcs11, '--node-key-label', `node-${name}`]);
    nodeIds[name] = (await w.waitFor(new RegExp(`deeppowers worker: ${role} node ([0-9a-f]{16})`)))[1]!;
  }
}, 180_000);

afterAll(() => {
  for (const p of procs) {
    if (p.exitCode === null && p.signalCode === null) process.kill(p.pid!, 'SIGKILL');
  }
  rmSync(work, { recursive: true, force: true });
});

describe('server, compute node and review node with their keys in the token', () => {
  test('the nodes and the log sign with the keys the token holds, and no key file is written', () => {
    expect(nodeIds.compute).toBe(nodeIdOf(Buffer.from(tokenPublicKey(token, 'node-compute'), 'base64')));
    expect(nodeIds.review).toBe(nodeIdOf(Buffer.from(tokenPublicKey(token, 'node-review'), 'base64')));
    expect(readLogVkey(join(work, 'server')).publicKey.toString('base64')).toBe(tokenPublicKey(token, 'deeppowers-log'));
    for (const f of [join(work, 'server', 'log-key.key'), join(work, 'server', 'node.key'), join(work, 'compute', 'node.key'), join(work, 'review', 'node.key')]) {
      expect(existsSync(f), f).toBe(false);
    }
  });

  test('private_predict through a token keystore: right labels, attestations and cosigned checkpoint verified', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'client', '--server', serverUrl, '--keystore', join(work, 'keystore'), '--pkcs11', token.module, '--token-label', LABEL],
      cwd: ROOT,
      env: { ...getDefaultEnvironment(), SOFTHSM2_CONF: token.conf, DEEPPOWERS_PKCS11_PIN: token.pin },
      stderr: 'pipe',
    });
    const host = new Client({ name: 'host', version: '0' });
    await host.connect(transport);
    try {
      const r = (await host.callTool({ name: 'private_predict', arguments: { model: 'iris', rows: ROWS } })) as CallToolResult;
      expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
      const out = r.structuredContent as { outputs: RowOutputs; verification: string };
      expect(out.outputs.output_label).toEqual(FIXTURE.data.expected.label!.slice(0, ROWS.length));
      expect(out.verification).toMatch(/^verified: 1 of 1 reviewers, log entr(y \d+|ies [\d, ]+); checkpoint cosigned by 1 reviewer(; first use of this server: pinned its log key and node set)?$/);
    } finally {
      await host.close();
    }
    // The keystore the client made is sealed by the token.
    expect(existsSync(join(work, 'keystore', 'pkcs11.json'))).toBe(true);
    const status = (await (await fetch(new URL('/status', serverUrl))).json()) as { nodes: { node_id: string; role: string; jobs_done: number }[] };
    expect(status.nodes.map((n) => [n.node_id, n.role]).sort()).toEqual([[nodeIds.compute, 'compute'], [nodeIds.review, 'review']].sort());
  }, 180_000);
});
