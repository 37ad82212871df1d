import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { FheClient, type EvaluationKeyBundle } from '../../runtime/client/fhe-client';
import { startHttpServer, type HttpOptions, type RunningHttpServer } from '../../runtime/mcp/http';
import { DeepPowersService, type ServiceLimits } from '../../runtime/mcp/service';
import { TokenTable } from '../../runtime/mcp/tokens';
import { writeEnvelope } from '../../runtime/wire/envelope';
import { ManualClock } from '../helpers/manual-clock';
import { servedToy } from './mcp-toy';

/**
 * `deeppowers serve --http` against what a fuzzing pass threw at it: junk and corruption in the
 * key directory, keys that do not load, quotas, tenants crowding each other out, slow and
 * oversized bodies, a port already taken. Every case ends in a clean answer on 127.0.0.1.
 */

const TOKEN_A = 'alice-token-0123456789abcdef';
const TOKEN_B = 'bob-token-0123456789abcdef00';
const TOKENS = TokenTable.parse(`alice:${TOKEN_A}\nbob:${TOKEN_B}\n`);
const toy = servedToy('toy', 'vector');

let work: string;
let fhe: FheClient;
const running: { http: RunningHttpServer; service: DeepPowersService }[] = [];

async function start(dataDir: string, limits: Partial<ServiceLimits> = {}, http: Partial<HttpOptions> = {}): Promise<RunningHttpServer> {
  const service = await DeepPowersService.create(sealBackend, [toy.served], dataDir, { maxKeyBytes: 8 * 1024 * 1024, ...limits });
  const server = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TOKENS, log: () => {}, ...http });
  running.push({ http: server, service });
  return server;
}

const keysUrl = (server: RunningHttpServer, id: string) => new URL(`keys/${id}`, server.url).href;
async function put(server: RunningHttpServer, id: string, body: Uint8Array, token = TOKEN_A): Promise<{ status: number; body: string }> {
  const res = await fetch(keysUrl(server, id), { method: 'PUT', body, headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text() };
}
async function head(server: RunningHttpServer, id: string, token = TOKEN_A): Promise<{ status: number; bytes?: number }> {
  const res = await fetch(keysUrl(server, id), { headers: { Authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { bytes?: number };
  return { status: res.status, ...(body.bytes !== undefined ? { bytes: body.bytes } : {}) };
}

/** Raw HTTP over one socket: what was answered, and whether the server closed the connection. */
function raw(port: number, request: string): Promise<{ response: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let response = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ response, closed: false });
    }, 5000);
    socket.on('data', (d) => (response += d.toString()));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ response, closed: true });
    });
    socket.on('error', reject);
  });
}

const init = (id: number) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } });
async function openSession(server: RunningHttpServer, token: string): Promise<number> {
  const res = await fetch(server.url, {
    method: 'POST',
    body: init(1),
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
  });
  await res.text();
  return res.status;
}

/** Opens an MCP session; its id. */
async function initializeSession(server: RunningHttpServer, token: string): Promise<string> {
  const res = await fetch(server.url, {
    method: 'POST',
    body: init(1),
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
  });
  await res.text();
  const id = res.headers.get('mcp-session-id');
  if (res.status !== 200 || id === null) throw new Error(`initialize answered ${res.status} without a session id`);
  return id;
}

/** A ping in session `id`: the HTTP status (404 once the session is gone). */
async function ping(server: RunningHttpServer, token: string, id: string): Promise<number> {
  const res = await fetch(server.url, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' },
  });
  await res.text();
  return res.status;
}

let bundles: EvaluationKeyBundle[];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-hardening-'));
  fhe = await FheClient.create(sealBackend, toy.clientModel);
  bundles = [fhe.evaluationKeys(), fhe.evaluationKeys(), fhe.evaluationKeys()];
}, 60_000);

afterAll(async () => {
  for (const r of running) {
    await r.http.close();
    await r.service.close();
  }
  fhe?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe('tenants', () => {
  test('"." and ".." are refused as tenant names (they would escape keys/<tenant>)', () => {
    expect(() => TokenTable.parse(`..:${TOKEN_A}`)).toThrow('token file line 1: ".." cannot be a tenant name');
    expect(() => TokenTable.parse(`.:${TOKEN_A}`)).toThrow('token file line 1: "." cannot be a tenant name');
  });
});

describe('key storage', () => {
  test('junk in the key directory (dangling link, directory named *.part, link or directory named like a key) neither stops the server nor counts as keys', async () => {
    const dataDir = join(work, 'junk');
    const alice = join(dataDir, 'keys', 'alice');
    mkdirSync(alice, { recursive: true });
    symlinkSync(join(work, 'nowhere'), join(alice, 'dangling.part'));
    mkdirSync(join(alice, 'upload.part'));
    const outside = join(work, 'outside-file');
    writeFileSync(outside, 'x'.repeat(12345));
    symlinkSync(outside, join(alice, bundles[0]!.keysId));
    mkdirSync(join(alice, bundles[1]!.keysId));
    const server = await start(dataDir);
    // Never followed: the link's target size is not reported, the directory is no key.
    expect((await head(server, bundles[0]!.keysId)).status).toBe(404);
    expect((await head(server, bundles[1]!.keysId)).status).toBe(404);
    // Uploading the real bytes replaces the junk (the link, not its target).
    for (const b of bundles.slice(0, 2)) expect((await put(server, b.keysId, b.bytes)).status).toBe(201);
    expect(await head(server, bundles[0]!.keysId)).toEqual({ status: 200, bytes: bundles[0]!.bytes.length });
    expect(readFileSync(outside, 'utf8')).toBe('x'.repeat(12345));
  }, 60_000);

  test('a corrupted stored bundle is detected, removed, and replaced by a re-upload of the right bytes', async () => {
    const dataDir = join(work, 'corrupt');
    const server = await start(dataDir);
    const b = bundles[0]!;
    expect((await put(server, b.keysId, b.bytes)).status).toBe(201);
    const path = join(dataDir, 'keys', 'alice', b.keysId);
    const bytes = readFileSync(path);
    bytes[bytes.length >> 1]! ^= 0xff;
    writeFileSync(path, bytes);
    expect((await head(server, b.keysId)).status).toBe(404);
    const again = await put(server, b.keysId, b.bytes);
    expect(again.status).toBe(201);
    expect(JSON.parse(again.body).created).toBe(true);
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(b.keysId);
  }, 60_000);

  test('a valid envelope around a garbage SEAL payload is refused at upload', async () => {
    const server = await start(join(work, 'garbage'));
    const bytes = writeEnvelope({
      kind: 'eval-keys',
      modelHash: toy.clientModel.modelHash,
      parameterId: toy.clientModel.parameters.parameterId,
      parts: [new Uint8Array(4096).fill(3), new Uint8Array(4096).fill(5)],
    });
    const id = createHash('sha256').update(bytes).digest('hex');
    const r = await put(server, id, bytes);
    expect(r.status).toBe(422);
    expect((await head(server, id)).status).toBe(404);
  }, 60_000);

  test('per-tenant quota: the least recently used bundle is evicted, or with the refuse policy the upload is refused (507); other tenants are unaffected', async () => {
    const evicting = await start(join(work, 'quota-evict'), { tenantKeyBundles: 2 });
    for (const b of bundles) expect((await put(evicting, b.keysId, b.bytes)).status).toBe(201);
    expect((await head(evicting, bundles[0]!.keysId)).status).toBe(404);
    expect((await head(evicting, bundles[1]!.keysId)).status).toBe(200);
    expect((await head(evicting, bundles[2]!.keysId)).status).toBe(200);
    expect((await put(evicting, bundles[0]!.keysId, bundles[0]!.bytes, TOKEN_B)).status).toBe(201);

    const refusing = await start(join(work, 'quota-refuse'), { tenantKeyBundles: 2, keyQuotaPolicy: 'refuse' });
    for (const b of bundles.slice(0, 2)) expect((await put(refusing, b.keysId, b.bytes)).status).toBe(201);
    const third = await put(refusing, bundles[2]!.keysId, bundles[2]!.bytes);
    expect(third.status).toBe(507);
    expect(third.body).toMatch(/tenant alice stores 2 bundles .* the quota is 2 bundles/);
    const tooBig = await start(join(work, 'quota-bytes'), { tenantKeyBytes: 1000 });
    expect((await put(tooBig, bundles[0]!.keysId, bundles[0]!.bytes)).status).toBe(507);
  }, 60_000);
});

describe('idle sessions', () => {
  test('an MCP session idle longer than the limit is closed at the first sweep after it; one used since stays open', async () => {
    const clock = new ManualClock();
    // Idle limit 90 s; the sweep runs every min(limit, 60 s) = 60 s.
    const server = await start(join(work, 'idle'), {}, { sessionIdleMs: 90_000, clock });
    const a = await initializeSession(server, TOKEN_A);
    const b = await initializeSession(server, TOKEN_A);
    // Sweep at 60 s: both idle 60 s ≤ 90 s, both kept; b is used then.
    clock.advance(60_000);
    expect(await ping(server, TOKEN_A, b)).toBe(200);
    // Sweep at 120 s: a idle 120 s > 90 s, closed; b idle 60 s, kept.
    clock.advance(60_000);
    expect(await ping(server, TOKEN_A, a)).toBe(404);
    expect(await ping(server, TOKEN_A, b)).toBe(200);
  }, 30_000);
});

describe('tenants sharing a server', () => {
  test('one tenant opening many sessions closes its own oldest ones; another tenant still gets a session', async () => {
    const server = await start(join(work, 'sessions'), {}, { maxSessions: 4, maxSessionsPerTenant: 2 });
    for (let i = 0; i < 10; i++) expect(await openSession(server, TOKEN_A)).toBe(200);
    expect(await openSession(server, TOKEN_B)).toBe(200);
    expect(await openSession(server, TOKEN_B)).toBe(200);
  }, 60_000);

  test('concurrent predictions: a tenant gets at most its share of the slots, the others stay free for other tenants', async () => {
    const server = await start(join(work, 'slots'), { maxConcurrency: 4, maxConcurrencyPerTenant: 2 });
    const service = running.find((r) => r.http === server)!.service;
    const a1 = service.tryAcquire('alice');
    const a2 = service.tryAcquire('alice');
    const a3 = service.tryAcquire('alice');
    expect('release' in a1 && 'release' in a2).toBe(true);
    expect(a3).toEqual({ busy: expect.stringMatching(/^server busy for you: 2 of your encrypted predictions are already running \(at most 2 per tenant\)/) });
    const b1 = service.tryAcquire('bob');
    expect('release' in b1).toBe(true);
    for (const s of [a1, a2, b1]) if ('release' in s) s.release();
    expect('release' in service.tryAcquire('alice')).toBe(true);
  }, 60_000);
});

describe('bytes in flight', () => {
  test("one tenant's unanswered bodies are capped below the server's total: its next large message is refused busy, another tenant is served, and the budget comes back when the body goes", async () => {
    const mib = 1024 * 1024;
    const server = await start(join(work, 'in-flight'), { maxMessageBytes: 8 * mib, maxBytesInFlightPerTenant: 10 * mib, maxBytesInFlight: 64 * mib });
    // Alice starts an 8 MiB message and keeps it unfinished: its bytes are charged while it is read.
    const held = connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => held.once('connect', () => resolve()));
    // With Expect: 100-continue the server answers "100 Continue" from the handler that charges the
    // declared length, so once it arrives the 8 MiB are charged.
    const continued = new Promise<void>((resolve) => held.on('data', (d) => d.toString().includes('100 Continue') && resolve()));
    held.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN_A}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nExpect: 100-continue\r\nContent-Length: ${8 * mib}\r\n\r\n`);
    await continued;
    held.write('{"jsonrpc":"2.0",');
    const second = await raw(
      server.port,
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN_A}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${4 * mib}\r\n\r\n{"jsonrpc":`,
    );
    expect(second.response).toMatch(/^HTTP\/1\.1 503/);
    expect(second.response).toContain('server busy for you: 8.0 MiB of your request bodies are in flight and this one adds 4.0 MiB (at most 10.0 MiB per tenant)');
    expect(await openSession(server, TOKEN_B)).toBe(200);
    held.destroy();
    // The budget comes back when the server sees the connection close.
    await vi.waitFor(async () => expect(await openSession(server, TOKEN_A)).toBe(200), { timeout: 10_000, interval: 50 });
  }, 30_000);
});

describe('connections', () => {
  test('a garbage MCP body is refused (400) at its first bad byte and the connection closed, without reading the rest', async () => {
    const server = await start(join(work, 'garbage-body'));
    for (const start of ['\u0007\u00ff garbage', '{"jsonrpc":"2.0","id":1,"method":"x" ]']) {
      const r = await raw(
        server.port,
        `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN_A}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 45000000\r\n\r\n${start}${'x'.repeat(1000)}`,
      );
      expect(r.response).toMatch(/^HTTP\/1\.1 400/);
      expect(r.response).toMatch(/Parse error: the body is not JSON \(unexpected byte 0x[0-9a-f]{2} at offset \d+\)/);
      expect(r.closed).toBe(true);
    }
  }, 30_000);


  test('an unauthenticated request with a large body is answered 401 and closed without reading the body', async () => {
    const server = await start(join(work, 'unauth'));
    const r = await raw(server.port, `PUT /keys/${'a'.repeat(64)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000000\r\n\r\n${'x'.repeat(1000)}`);
    expect(r.response).toMatch(/^HTTP\/1\.1 401/);
    expect(r.response).toMatch(/Connection: close/i);
    expect(r.closed).toBe(true);
  }, 30_000);

  test('an MCP message declared larger than the limit is refused (413) before it is read', async () => {
    const server = await start(join(work, 'too-large'), { maxMessageBytes: 1024 * 1024 });
    const r = await raw(
      server.port,
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN_A}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 45000000\r\n\r\n{"jsonrpc":`,
    );
    expect(r.response).toMatch(/^HTTP\/1\.1 413/);
    expect(r.response).toMatch(/message too large: 45000000 bytes/);
    expect(r.closed).toBe(true);
  }, 30_000);

  test('a stalled upload body is cut off at the first check past the idle limit, not before', async () => {
    const clock = new ManualClock();
    const server = await start(join(work, 'slow'), {}, { bodyIdleMs: 1500, clock });
    const arrived = new Promise<IncomingMessage>((resolve) => server.http.once('request', resolve));
    // The headers and not one byte of the declared body: nothing arrives after the request starts.
    const answer = raw(server.port, `PUT /keys/${bundles[0]!.keysId} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN_A}\r\nContent-Length: 100000\r\n\r\n`);
    const req = await arrived;
    expect(clock.running).toBe(2); // the session sweeper and this body's guard
    // The guard looks every min(1 s, limit): at 1 s the body has been idle 1 s ≤ 1.5 s.
    clock.advance(1500);
    expect(req.destroyed).toBe(false);
    // At 2 s it has been idle 2 s > 1.5 s: cut off, and the guard stops looking.
    clock.advance(500);
    expect(req.destroyed).toBe(true);
    expect(clock.running).toBe(1);
    expect((await answer).closed).toBe(true);
  }, 30_000);

  test('a port already taken is reported as such, not as a bug', async () => {
    const server = await start(join(work, 'port'));
    const service = running.find((r) => r.http === server)!.service;
    await expect(startHttpServer(service, { host: '127.0.0.1', port: server.port, auth: TOKENS, log: () => {} })).rejects.toThrow(
      `port ${server.port} on 127.0.0.1 is taken: another program is listening there`,
    );
  }, 30_000);
});
