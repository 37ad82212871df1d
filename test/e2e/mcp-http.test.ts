import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { simulateSamples } from '../../runtime/backends/simulate';
import { FheClient, type EvaluationKeyBundle } from '../../runtime/client/fhe-client';
import { startHttpServer, type RunningHttpServer } from '../../runtime/mcp/http';
import { RemoteServer, UnknownKeysError } from '../../runtime/mcp/remote';
import { DeepPowersService } from '../../runtime/mcp/service';
import { bearerToken, TokenTable } from '../../runtime/mcp/tokens';
import { toySamples } from './seal-test-circuits';
import { servedToy } from './mcp-toy';
import { sealBackend } from '../../runtime/backends/seal/backend';

/** `deeppowers serve --http` in-process on 127.0.0.1: auth, key upload and storage, tenancy, restarts. */

const TOKEN_A = 'alice-token-0123456789abcdef';
const TOKEN_B = 'bob-token-0123456789abcdef00';
const TOKENS = TokenTable.parse(`# test tenants\nalice:${TOKEN_A}\nbob:${TOKEN_B}\n`);
const toy = servedToy('toy', 'vector');

let dataDir: string;
let service: DeepPowersService;
let http: RunningHttpServer;
let fhe: FheClient;
let bundle: EvaluationKeyBundle;

async function start(): Promise<void> {
  service = await DeepPowersService.create(sealBackend, [toy.served], dataDir, { maxKeyBytes: 8 * 1024 * 1024 });
  http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TOKENS, log: () => {} });
}

async function stop(): Promise<void> {
  await http.close();
  service.dispose();
}

function keysUrl(id: string): string {
  return new URL(`keys/${id}`, http.url).href;
}

async function put(id: string, body: Uint8Array, token?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(keysUrl(id), { method: 'PUT', body, headers: token ? { Authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.text() };
}

async function head(id: string, token: string): Promise<number> {
  const ask = () => fetch(keysUrl(id), { method: 'HEAD', headers: { Authorization: `Bearer ${token}` } });
  // After a restart the first request may go out on a kept-alive connection the old server closed (as RemoteServer does, retry once).
  return (await ask().catch((e: unknown) => ((e as { cause?: { code?: string } }).cause?.code === 'UND_ERR_SOCKET' ? ask() : Promise.reject(e)))).status;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'dp-mcp-http-'));
  await start();
  fhe = await FheClient.create(sealBackend, toy.clientModel);
  bundle = fhe.evaluationKeys();
});

afterAll(async () => {
  await stop();
  fhe?.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('token file', () => {
  test('name:token lines name tenants; bare tokens get a stable hash-derived tenant; short, duplicate or empty files are refused', () => {
    const table = TokenTable.parse(`alice:${TOKEN_A}\n\n# comment\n${TOKEN_B}\n`);
    expect(table.verify(TOKEN_A)).toEqual({ name: 'alice' });
    expect(table.verify(TOKEN_B)?.name).toMatch(/^token-[0-9a-f]{12}$/);
    expect(TokenTable.parse(TOKEN_B).verify(TOKEN_B)).toEqual(table.verify(TOKEN_B));
    expect(table.verify('alice')).toBeUndefined();
    expect(table.verify(`${TOKEN_A}x`)).toBeUndefined();
    expect(() => TokenTable.parse('bob:short')).toThrow(/line 1: token is 5 characters, at least 16/);
    expect(() => TokenTable.parse(`${TOKEN_A}\nalice:${TOKEN_A}`)).toThrow(/line 2: the same token appears twice/);
    expect(() => TokenTable.parse('# nothing\n')).toThrow(/holds no tokens/);
    expect(bearerToken(`Bearer ${TOKEN_A}`)).toBe(TOKEN_A);
    expect(bearerToken(`bearer  ${TOKEN_A} `)).toBe(TOKEN_A);
    expect(bearerToken(`Basic ${TOKEN_A}`)).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

describe('deeppowers serve --http', () => {
  test('no token or a wrong token: 401 on /mcp and /keys, and the MCP client cannot connect', async () => {
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } };
    const post = (headers: Record<string, string>) =>
      fetch(http.url, { method: 'POST', body: JSON.stringify(init), headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers } });
    expect((await post({})).status).toBe(401);
    expect((await post({ Authorization: 'Bearer not-a-valid-token-at-all' })).status).toBe(401);
    expect((await post({ Authorization: `Basic ${TOKEN_A}` })).status).toBe(401);
    expect((await post({})).headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await put(bundle.keysId, bundle.bytes)).status).toBe(401);
    expect((await put(bundle.keysId, bundle.bytes, 'wrong-token-0123456789')).status).toBe(401);
    expect(await head(bundle.keysId, 'wrong-token-0123456789')).toBe(401);

    await expect(RemoteServer.connect({ url: http.url })).rejects.toThrow(/^the server at .* requires a token \(HTTP 401\)/);
    await expect(RemoteServer.connect({ url: http.url, token: 'wrong-token-0123456789' })).rejects.toThrow(/refused the token \(HTTP 401\)/);
  });

  test('PUT /keys/<sha256>: hash checked, size capped, contents checked, stored 0600 per tenant; HEAD/GET report presence', async () => {
    expect(await head(bundle.keysId, TOKEN_A)).toBe(404);
    const mismatch = await put('0'.repeat(64), bundle.bytes, TOKEN_A);
    expect(mismatch.status).toBe(400);
    expect(mismatch.body).toMatch(/hash to [0-9a-f]{12}…, not to the keys id 000000000000…/);
    expect((await put('not-hex', bundle.bytes, TOKEN_A)).status).toBe(400);

    // Intact bytes under their own hash, but not evaluation keys for a served model.
    const junk = new Uint8Array(1000).fill(7);
    const { createHash } = await import('node:crypto');
    const junkId = createHash('sha256').update(junk).digest('hex');
    const refused = await put(junkId, junk, TOKEN_A);
    expect(refused.status).toBe(422);
    expect(refused.body).toMatch(/not a DeepPowers envelope/);

    const created = await put(bundle.keysId, bundle.bytes, TOKEN_A);
    expect(created.status).toBe(201);
    expect(JSON.parse(created.body)).toEqual({ keys_id: bundle.keysId, bytes: bundle.bytes.length, created: true });
    expect((await put(bundle.keysId, bundle.bytes, TOKEN_A)).status).toBe(200);
    expect(await head(bundle.keysId, TOKEN_A)).toBe(200);
    const got = await fetch(keysUrl(bundle.keysId), { headers: { Authorization: `Bearer ${TOKEN_A}` } });
    expect(await got.json()).toEqual({ keys_id: bundle.keysId, bytes: bundle.bytes.length });

    const dir = join(dataDir, 'keys', 'alice');
    expect(readdirSync(dir)).toEqual([bundle.keysId]);
    expect(statSync(join(dir, bundle.keysId)).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);

    // Bob sees nothing of Alice's.
    expect(await head(bundle.keysId, TOKEN_B)).toBe(404);
  });

  test('an oversized PUT is refused with 413 and nothing is stored', async () => {
    const big = new Uint8Array(9 * 1024 * 1024);
    const { createHash } = await import('node:crypto');
    const id = createHash('sha256').update(big).digest('hex');
    // The declared length alone is refused: the answer comes before the body is sent, and the connection is closed.
    const port = new URL(http.url).port;
    const { connect } = await import('node:net');
    const response = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write(`PUT /keys/${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN_B}\r\nContent-Length: ${big.length}\r\n\r\n`),
      );
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response).toMatch(/evaluation keys too large: 9437184 bytes or more, the server accepts at most 8388608/);
    // Streamed without a declared length, the upload is cut at the limit: a 413 or a hang-up, never a stored file.
    const streamed = await fetch(keysUrl(id), {
      method: 'PUT',
      body: new Blob([big]).stream(),
      duplex: 'half',
      headers: { Authorization: `Bearer ${TOKEN_B}` },
    } as RequestInit).then(
      (r) => r.status,
      () => 'closed',
    );
    expect([413, 'closed']).toContain(streamed);
    expect(await head(id, TOKEN_B)).toBe(404);
  });

  test('predict over Streamable HTTP with progress; tenant B cannot use tenant A keys_id; a session id is bound to its tenant', async () => {
    const alice = await RemoteServer.connect({ url: http.url, token: TOKEN_A });
    const models = await alice.listModels();
    expect(models.map((m) => m.tool)).toEqual(['predict_toy']);
    expect((await alice.describe('toy')).model_hash).toBe(toy.toy.modelHash);
    expect(await alice.hasKeys(bundle.keysId)).toBe(true);

    const samples = toySamples(2, toy.toy.circuit.inputSize, 31);
    const request = fhe.encrypt(samples);
    const ticks: number[] = [];
    const result = await alice.predict('toy', bundle.keysId, request.bytes, { onProgress: (done) => ticks.push(done) });
    // One tick per evaluation, increasing (the server's 0 at the start may arrive after them on another stream, and is then dropped).
    expect(ticks.filter((t) => t > 0)).toEqual([1, 2]);
    expect(ticks.every((t, i) => i === 0 || t > ticks[i - 1]!)).toBe(true);
    const want = simulateSamples(toy.toy.circuit, samples);
    fhe.decrypt(result, 2).forEach((row, s) => row.forEach((v, i) => expect(Math.abs(v - want[s]![i]!)).toBeLessThan(0.02)));

    const bob = await RemoteServer.connect({ url: http.url, token: TOKEN_B });
    await expect(bob.predict('toy', bundle.keysId, request.bytes)).rejects.toBeInstanceOf(UnknownKeysError);
    await expect(bob.predict('toy', bundle.keysId, request.bytes)).rejects.toThrow(/^unknown keys_id [0-9a-f]{64}: upload the evaluation keys first/);
    await bob.close();

    // Alice's session id presented with Bob's token is an unknown session.
    const transport = new StreamableHTTPClientTransport(new URL(http.url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN_A}` } } });
    const c = new Client({ name: 't', version: '0' });
    await c.connect(transport);
    const res = await fetch(http.url, {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: {} }),
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        Authorization: `Bearer ${TOKEN_B}`,
        'mcp-session-id': transport.sessionId!,
        'mcp-protocol-version': '2025-06-18',
      },
    });
    expect(res.status).toBe(404);
    await c.close();
    await alice.close();
  });

  test('keys survive a restart; a client whose session the server forgot reconnects by itself', async () => {
    const alice = await RemoteServer.connect({ url: http.url, token: TOKEN_A });
    const port = http.port;
    await stop();
    service = await DeepPowersService.create(sealBackend, [toy.served], dataDir);
    http = await startHttpServer(service, { host: '127.0.0.1', port, auth: TOKENS, log: () => {} });
    expect(await head(bundle.keysId, TOKEN_A)).toBe(200);
    const request = fhe.encrypt(toySamples(1, toy.toy.circuit.inputSize, 32));
    const result = await alice.predict('toy', bundle.keysId, request.bytes);
    expect(fhe.decrypt(result, 1)).toHaveLength(1);
    await alice.close();
  });

  test('a Host header that is not a loopback name is refused (DNS rebinding); unknown paths 404; --insecure-no-auth needs loopback', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(http.url, { method: 'POST', headers: { Host: 'evil.example:80', Authorization: `Bearer ${TOKEN_A}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('{}');
    });
    expect(status).toBe(403);
    expect((await fetch(new URL('/other', http.url))).status).toBe(404);
    await expect(startHttpServer(service, { host: '0.0.0.0', port: 0, auth: 'insecure-no-auth' })).rejects.toThrow(/only allowed on a loopback address/);
  });

  test('an unreachable server gives a clear message', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const url = `http://127.0.0.1:${port}/mcp`;
    await expect(RemoteServer.connect({ url, token: TOKEN_A })).rejects.toThrow(`cannot reach the DeepPowers server at ${url}: connection refused`);
    await expect(RemoteServer.connect({ url: 'not a url' })).rejects.toThrow(/^--server must be a URL/);
  });
});
