import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CompiledModel } from '../../compiler/artifact/types';
import { predictFhe } from '../../runtime/app/predict-fhe';
import { Keystore } from '../../runtime/client/keystore';
import { serverScope } from '../../runtime/client/key-scope';
import type { RowBatch } from '../../runtime/data/load-rows';
import { RemoteServer, UnknownKeysError } from '../../runtime/mcp/remote';
import type { RowOutputs } from '../../runtime/run/outputs';
import { writeCompiledFixture } from '../helpers/compiled-fixture';
import { loadFixture } from '../helpers/fixtures';
import { connectHost, toolErrorText } from '../helpers/mcp-session';
import { BIN, ROOT, startServe, type ServeProcess } from '../helpers/serve-process';

/**
 * The deployment as users run it: a compiled fixture served by a spawned `deeppowers serve
 * --http`, a spawned `deeppowers client` (stdio) in front of it, and an MCP client in the role of
 * the LLM host calling private_predict. Every byte the server receives passes through a
 * recording proxy, checked for the secret key and the plaintext rows.
 */

const FIXTURE = loadFixture('sk_logreg_iris_multinomial');
const ROWS = FIXTURE.data.test_inputs.slice(0, 4) as number[][];
const TOKEN_A = 'alice-0123456789abcdef0123456789';
const TOKEN_B = 'bob-0123456789abcdef0123456789ab';
const PASSPHRASE = 'e2e passphrase, not a real one';

let work: string;
let compiledDir: string;
let model: CompiledModel;
let served: ServeProcess;
let serverUrl: string;
let proxyUrl: string;
let closeProxy: () => Promise<void>;
const received: { method: string; url: string; headers: IncomingHttpHeaders; body: Buffer }[] = [];

/** An HTTP proxy in front of the server that keeps a copy of every request: line, headers, body. */
async function startRecordingProxy(target: string): Promise<{ url: string; close: () => Promise<void> }> {
  const upstream = new URL(target);
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const out = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      out.on('error', () => res.destroy());
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: () =>
      new Promise((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-mcp-e2e-'));
  compiledDir = join(work, 'iris.compiled');
  model = writeCompiledFixture(FIXTURE, compiledDir, 'auto');
  writeFileSync(join(work, 'tokens'), `# tenants\nalice:${TOKEN_A}\nbob:${TOKEN_B}\n`);
  served = await startServe([compiledDir, '--http', '127.0.0.1:0', '--token-file', join(work, 'tokens'), '--data-dir', join(work, 'data')]);
  serverUrl = served.url;
  const proxy = await startRecordingProxy(serverUrl);
  proxyUrl = proxy.url;
  closeProxy = proxy.close;
});

afterAll(async () => {
  await served?.stop();
  await closeProxy?.();
  rmSync(work, { recursive: true, force: true });
});

describe('deeppowers serve + deeppowers client over real HTTP', () => {
  let host: Client;
  let hostOutputs: RowOutputs;
  const keystore = () => join(work, 'keystore');

  beforeAll(async () => {
    host = await connectHost(['--server', proxyUrl, '--keystore', keystore(), '--token', TOKEN_A], { DEEPPOWERS_PASSPHRASE: PASSPHRASE });
  });
  afterAll(async () => {
    await host?.close();
  });

  test('the host sees plaintext tools only, and private_predict gives the plaintext model labels and the direct FHE run outputs', async () => {
    const { tools } = await host.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['list_models', 'private_predict']);
    const list = await host.callTool({ name: 'list_models', arguments: {} });
    const models = (list.structuredContent as { models: { model: string; task?: string; input: { shape: unknown[] } }[] }).models;
    expect(models).toEqual([expect.objectContaining({ model: 'iris', task: 'classification', input: expect.objectContaining({ shape: [null, 4] }) })]);

    const progress: { progress: number; total?: number; message?: string }[] = [];
    const r = (await host.callTool({ name: 'private_predict', arguments: { model: 'iris', rows: ROWS } }, CallToolResultSchema, {
      onprogress: (p) => progress.push(p),
    })) as CallToolResult;
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    const out = r.structuredContent as { rows: number; outputs: RowOutputs; evaluations: number; verification: string };
    hostOutputs = out.outputs;
    expect(out.rows).toBe(ROWS.length);
    // Embedded server: the result is logged and attested by the server alone; the client checked the receipt.
    expect(out.verification).toMatch(/^verified: computed and signed by the server alone \(no reviewers\), log entr(y \d+|ies [\d, ]+)(; first use of this server: pinned its log key and node set)?$/);
    // First use: each step before the first evaluation is announced as it starts (a host's request timeout restarts
    // on progress), then the evaluations; progress only increases and ends at its total.
    // Heartbeats (a step quiet for 20 s on a loaded machine) come between these; staged-progress.test.ts pins them.
    const news = progress.filter((p) => !p.message?.includes('still working'));
    const steps = news.findIndex((p) => p.total !== undefined);
    expect(news.slice(0, steps).map((p) => p.message)).toEqual([
      expect.stringMatching(/^iris: making iris's secret key \(first use; N = \d+\)$/),
      expect.stringMatching(/^iris: making and uploading iris's evaluation keys/),
      `iris: encrypting ${ROWS.length} rows`,
    ]);
    expect(progress.map((p) => p.progress)).toEqual([...progress.map((p) => p.progress)].sort((a, b) => a - b));
    expect(new Set(progress.map((p) => p.progress)).size).toBe(progress.length);
    expect(news.at(-1)).toMatchObject({ progress: steps + out.evaluations, total: steps + out.evaluations });

    // The plaintext model's labels (the framework's own outputs on these rows).
    expect(out.outputs.output_label).toEqual(FIXTURE.data.expected.label!.slice(0, ROWS.length));

    // The same rows through the API directly (predict --mode fhe), with the keystore's secret key.
    process.env.DEEPPOWERS_PASSPHRASE = PASSPHRASE;
    const batch: RowBatch = { file: 'rows', rows: ROWS.length, rowShape: [4], values: Float64Array.from(ROWS.flat()) };
    const direct = await predictFhe(model, batch, { keystore: keystore() });
    // Local use has its own key, derived now from the keystore's recovery root: not the key this server's evaluation keys are under.
    expect(direct.secret_key).toBe('derived');
    expect(out.outputs.output_label).toEqual(direct.outputs.output_label);
    const step = 2 ** -(model.parameters.expectedPrecisionBits - 2);
    (out.outputs.output_probability as Record<string, number>[]).forEach((probs, i) => {
      const want = (direct.outputs.output_probability as Record<string, number>[])[i]!;
      expect(Object.keys(probs)).toEqual(Object.keys(want));
      for (const k of Object.keys(want)) expect(Math.abs(probs[k]! - want[k]!), `row ${i} class ${k}`).toBeLessThan(step);
    });
  });

  test('the server received neither the secret key nor the plaintext rows', () => {
    expect(hostOutputs).toBeDefined();
    // The recording saw the real traffic: the key upload and the encrypted call.
    expect(received.some((r) => r.method === 'PUT' && r.url.startsWith('/keys/') && r.body.length > 10_000)).toBe(true);
    const calls = received.filter((r) => r.method === 'POST' && r.body.includes('"predict_iris"'));
    expect(calls.length).toBeGreaterThan(0);

    const all = Buffer.concat(received.flatMap((r) => [Buffer.from(`${r.method} ${r.url}\n${JSON.stringify(r.headers)}\n`), r.body]));
    const text = Buffer.concat(received.filter((r) => r.method !== 'PUT').map((r) => r.body)).toString('utf8');

    const secret = Keystore.open(join(work, 'keystore'), PASSPHRASE).readSecretKey(model.modelHash, serverScope(proxyUrl))!.bytes;
    expect(secret.length).toBeGreaterThan(1000);
    for (const [at, len] of [[0, secret.length], [0, 32], [secret.length >> 1, 32], [secret.length - 32, 32]] as const) {
      const piece = Buffer.from(secret.subarray(at, at + len));
      expect(all.includes(piece), `secret key bytes at ${at}`).toBe(false);
      for (let shift = 0; shift < 3; shift++) expect(all.includes(Buffer.from(piece.subarray(shift).toString('base64').slice(4, -4))), `secret key base64 at ${at}`).toBe(false);
    }

    for (const row of ROWS) {
      expect(all.includes(Buffer.from(Float32Array.from(row).buffer)), `float32 row ${row}`).toBe(false);
      expect(all.includes(Buffer.from(Float64Array.from(row).buffer)), `float64 row ${row}`).toBe(false);
      expect(text).not.toContain(JSON.stringify(row));
      for (const v of row) {
        expect(all.includes(Buffer.from(Float64Array.of(v).buffer)), `float64 ${v}`).toBe(false);
        expect(all.includes(Buffer.from(Float64Array.of(Math.fround(v)).buffer)), `float64 of float32 ${v}`).toBe(false);
      }
    }
    // As decimal text: no JSON number the client sent is an input value (JSON-RPC ids and
    // progress tokens aside, counters that may equal a small integer), and no string other than
    // the base64 ciphertexts and hex ids holds one as a token.
    const values = new Set(ROWS.flat());
    const decimal = new RegExp(`(?<![0-9.])(${[...values].map((v) => String(v).replace('.', '\\.')).join('|')})(?![0-9])`);
    for (const r of received.filter((x) => x.method === 'POST')) {
      for (const leaf of jsonLeaves(JSON.parse(r.body.toString('utf8')) as unknown)) {
        if (typeof leaf.value === 'number' && leaf.key !== 'id' && leaf.key !== 'progressToken') expect(values.has(leaf.value), `${leaf.key}: ${leaf.value}`).toBe(false);
        if (typeof leaf.value === 'string' && !/^([A-Za-z0-9+/]{64,}={0,2}|[0-9a-f]{64})$/.test(leaf.value)) expect(leaf.value).not.toMatch(decimal);
      }
    }
    // The checks can fail: the same search finds a planted row.
    const planted = Buffer.concat([all, Buffer.from(Float64Array.from(ROWS[0]!).buffer)]);
    expect(planted.includes(Buffer.from(Float64Array.from(ROWS[0]!).buffer))).toBe(true);
  });

  test('auth: no token or a wrong token is refused; tenant B cannot use tenant A keys_id', async () => {
    expect((await fetch(serverUrl, { method: 'POST', body: '{}' })).status).toBe(401);
    expect((await fetch(serverUrl, { method: 'POST', body: '{}', headers: { Authorization: 'Bearer wrong-token-0123456789abc' } })).status).toBe(401);
    const keysId = Keystore.open(keystore()).uploadedKeysId(proxyUrl, model.modelHash)!;
    expect(keysId).toMatch(/^[0-9a-f]{64}$/);
    expect((await fetch(new URL(`keys/${keysId}`, serverUrl), { method: 'HEAD' })).status).toBe(401);
    expect((await fetch(new URL(`keys/${keysId}`, serverUrl), { method: 'HEAD', headers: { Authorization: `Bearer ${TOKEN_A}` } })).status).toBe(200);
    expect((await fetch(new URL(`keys/${keysId}`, serverUrl), { method: 'HEAD', headers: { Authorization: `Bearer ${TOKEN_B}` } })).status).toBe(404);

    const bob = await RemoteServer.connect({ url: serverUrl, token: TOKEN_B });
    const ciphertexts = calls0Ciphertexts();
    await expect(bob.predict('iris', keysId, ciphertexts)).rejects.toBeInstanceOf(UnknownKeysError);
    await bob.close();
  });

  test('a second private_predict reuses the uploaded keys (no new PUT); bad rows are a tool error', async () => {
    const puts = received.filter((r) => r.method === 'PUT').length;
    const r = await host.callTool({ name: 'private_predict', arguments: { model: 'iris', rows: [ROWS[0]] } });
    expect(r.isError).toBeFalsy();
    expect(received.filter((x) => x.method === 'PUT').length).toBe(puts);
    expect(toolErrorText((await host.callTool({ name: 'private_predict', arguments: { model: 'iris', rows: [[1, 2, 3]] } })) as CallToolResult)).toMatch(
      /^row 1 has 3 values, the model input .* expects 4 per row/,
    );
    expect(toolErrorText((await host.callTool({ name: 'private_predict', arguments: { model: 'nope', rows: [ROWS[0]] } })) as CallToolResult)).toMatch(
      /^the server refused describe_model: unknown model "nope"/,
    );
  });
});

describe('deeppowers client after the server lost its keys', () => {
  test('an unknown keys_id makes the client upload the keys again and retry', async () => {
    const host = await connectHost(['--server', proxyUrl, '--keystore', join(work, 'keystore'), '--token', TOKEN_A], { DEEPPOWERS_PASSPHRASE: PASSPHRASE });
    expect((await host.callTool({ name: 'private_predict', arguments: { model: 'iris', rows: [ROWS[1]] } })).isError).toBeFalsy();
    const keysId = Keystore.open(join(work, 'keystore')).uploadedKeysId(proxyUrl, model.modelHash)!;
    rmSync(join(work, 'data', 'keys', 'alice', keysId));
    const puts = received.filter((r) => r.method === 'PUT').length;
    const r = (await host.callTool({ name: 'private_predict', arguments: { model: 'iris', rows: [ROWS[1]] } })) as CallToolResult;
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    expect((r.structuredContent as { outputs: RowOutputs }).outputs.output_label).toEqual([FIXTURE.data.expected.label![1]]);
    expect(received.filter((x) => x.method === 'PUT').length).toBe(puts + 1);
    const again = Keystore.open(join(work, 'keystore')).uploadedKeysId(proxyUrl, model.modelHash)!;
    expect(again).not.toBe(keysId);
    await host.close();
  });
});

describe('deeppowers client failure messages', () => {
  test('wrong passphrase, missing passphrase, refused token, unreachable server', async () => {
    const ks = join(work, 'keystore');
    const rows = [ROWS[0]];
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['--server', serverUrl, '--keystore', ks, '--token', TOKEN_A], { DEEPPOWERS_PASSPHRASE: 'not the passphrase' }, /^wrong passphrase for keystore/],
      [['--server', serverUrl, '--keystore', ks, '--token', TOKEN_A], {}, /^DEEPPOWERS_PASSPHRASE is not set/],
      [['--server', serverUrl, '--keystore', ks, '--token', 'wrong-token-0123456789abc'], { DEEPPOWERS_PASSPHRASE: PASSPHRASE }, /refused the token \(HTTP 401\)/],
      [['--server', 'http://127.0.0.1:9/mcp', '--keystore', ks], { DEEPPOWERS_PASSPHRASE: PASSPHRASE }, /^cannot reach the DeepPowers server at http:\/\/127\.0\.0\.1:9\/mcp/],
    ];
    for (const [args, env, reason] of cases) {
      const c = await connectHost(args, env);
      expect(toolErrorText((await c.callTool({ name: 'private_predict', arguments: { model: 'iris', rows } })) as CallToolResult)).toMatch(reason);
      await c.close();
    }
  });
});

describe('deeppowers serve --stdio', () => {
  test('lists the same tools over stdio, with the chunked key upload', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'serve', compiledDir, '--stdio', '--data-dir', join(work, 'stdio-data')],
      cwd: ROOT,
      stderr: 'pipe',
    });
    const c = new Client({ name: 'stdio', version: '0' });
    await c.connect(transport);
    const { tools } = await c.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['describe_model', 'has_keys', 'list_models', 'predict_iris', 'status', 'upload_keys']);
    const d = await c.callTool({ name: 'describe_model', arguments: { model: 'iris' } });
    expect(d.structuredContent).toMatchObject({ model_hash: model.modelHash, inputs: [{ shape: [null, 4] }] });
    await c.close();
  });
});

function jsonLeaves(v: unknown, key = ''): { key: string; value: unknown }[] {
  if (Array.isArray(v)) return v.flatMap((x) => jsonLeaves(x, key));
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => jsonLeaves(x, k));
  return [{ key, value: v }];
}

/** The ciphertexts of the first recorded predict call (tenant A's), to replay under tenant B. */
function calls0Ciphertexts(): Uint8Array {
  const call = received.find((r) => r.method === 'POST' && r.body.includes('"predict_iris"'))!;
  const msg = JSON.parse(call.body.toString('utf8')) as { params: { arguments: { ciphertexts: string } } };
  return new Uint8Array(Buffer.from(msg.params.arguments.ciphertexts, 'base64'));
}
