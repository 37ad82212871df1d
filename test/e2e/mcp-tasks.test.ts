import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallToolResultSchema, CreateTaskResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { simulateSamples } from '../../runtime/backends/simulate';
import { FheClient } from '../../runtime/client/fhe-client';
import { encodeBase64 } from '../../runtime/mcp/base64';
import { DeepPowersService, LOCAL_TENANT } from '../../runtime/mcp/service';
import { checkAttestation } from '../../runtime/network/attestation';
import { silentLogger } from '../../runtime/network/logger';
import { parseVkey } from '../../runtime/network/signed-note';
import { readLogVkey, TransparencyLog, verifyReceipt } from '../../runtime/network/transparency-log';
import { auditVerify } from '../../runtime/app/audit-verify';
import { startHttpServer } from '../../runtime/mcp/http';
import { TokenTable } from '../../runtime/mcp/tokens';
import { PinStore } from '../../runtime/network/pins';
import { describeVerification, verifyRelease, type ReleaseReceipt } from '../../runtime/network/verify-result';
import { toySamples } from './seal-test-circuits';
import { servedToy } from './mcp-toy';
import { connectInMemory, uploadInChunks } from '../helpers/mcp-session';

/**
 * The embedded default (`deeppowers serve` without --queue): predict_<model> as an MCP task
 * (created → working → completed, result fetched later, after a restart too), plain calls as
 * before, and every released result in the transparency log signed by the server alone.
 */

const toy = servedToy('toy', 'vector');
let dataDir: string;
let service: DeepPowersService;
let fhe: FheClient;
let keysId: string;
let keysBytes: Uint8Array;

/** The task store's clock: real time plus what a test has moved it forward. */
let clockOffsetMs = 0;
const clock = () => Date.now() + clockOffsetMs;

async function start(taskTtlMs = 60_000): Promise<void> {
  service = await DeepPowersService.create(sealBackend, [toy.served], dataDir, {}, { logger: silentLogger(), tasks: { defaultTtlMs: taskTtlMs, now: clock } });
}

const connect = (tenant = LOCAL_TENANT) => connectInMemory(service, tenant);

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'dp-mcp-tasks-'));
  await start();
  fhe = await FheClient.create(sealBackend, toy.clientModel);
  const bundle = fhe.evaluationKeys();
  keysId = bundle.keysId;
  keysBytes = bundle.bytes;
  const c = await connect();
  const up = await uploadInChunks(c, keysId, keysBytes);
  expect(up.isError, JSON.stringify(up.content)).toBeFalsy();
  await c.close();
});

afterAll(async () => {
  fhe?.dispose();
  service?.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('predict as an MCP task (embedded)', () => {
  test('created → working → completed; the result is fetched later and decrypts to the simulation', async () => {
    const client = await connect();
    const tools = await client.listTools();
    expect(tools.tools.find((t) => t.name === 'predict_toy')?.execution).toEqual({ taskSupport: 'optional' });
    const samples = toySamples(3, toy.toy.circuit.inputSize, 31);
    const request = fhe.encrypt(samples);
    const statuses: string[] = [];
    let taskId = '';
    for await (const m of client.experimental.tasks.callToolStream(
      { name: 'predict_toy', arguments: { keys_id: keysId, ciphertexts: encodeBase64(request.bytes) } },
      CallToolResultSchema,
      { task: { ttl: 60_000 } },
    )) {
      if (m.type === 'taskCreated') {
        taskId = m.task.taskId;
        statuses.push(`created:${m.task.status}`);
      } else if (m.type === 'taskStatus') statuses.push(m.task.status);
      else if (m.type === 'error') throw m.error;
    }
    expect(statuses[0]).toBe('created:working');
    expect(statuses.at(-1)).toBe('completed');

    const later = (await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)) as CallToolResult;
    const out = later.structuredContent as { result: string; job_id: string; log: { index: number; entry: string; checkpoint: string; proof: string[] } };
    // The job id (public in the log) is not the task id (this tenant's handle on the result).
    expect(out.job_id).toMatch(/^[0-9a-f]{32}$/);
    expect(out.job_id).not.toBe(taskId);
    const got = fhe.decrypt(new Uint8Array(Buffer.from(out.result, 'base64')), request.samples);
    const want = simulateSamples(toy.toy.circuit, samples);
    got.forEach((row, s) => row.forEach((v, i) => expect(Math.abs(v - want[s]![i]!)).toBeLessThan(0.02)));

    // The receipt: in the log, signed by the server's log key, about exactly these bytes, attested by the server alone.
    const checked = verifyReceipt(out.log, readLogVkey(dataDir));
    expect(checked.entry).toMatchObject({
      job_id: out.job_id,
      keys_id: keysId,
      model_hash: toy.toy.modelHash,
      inputs_sha256: sha256Hex(request.bytes),
      result_sha256: sha256Hex(Buffer.from(out.result, 'base64')),
      reviewers: 0,
      quorum: 0,
    });
    const attestations = checked.entry.attestations as Parameters<typeof checkAttestation>[0][];
    expect(attestations.map((a) => a.role)).toEqual(['server']);
    attestations.forEach((a) => checkAttestation(a));
    // Nothing but hashes and signatures: the entry is far smaller than one ciphertext.
    expect(Buffer.from(out.log.entry, 'base64').length).toBeLessThan(2000);

    const listed = await client.experimental.tasks.listTasks();
    expect(listed.tasks.map((t) => [t.taskId, t.status])).toContainEqual([taskId, 'completed']);
    await client.close();
  });

  test('plain calls still answer in one call, with the receipt; another tenant cannot see the tasks', async () => {
    const client = await connect();
    const request = fhe.encrypt(toySamples(1, toy.toy.circuit.inputSize, 32));
    const r = (await client.callTool({ name: 'predict_toy', arguments: { keys_id: keysId, ciphertexts: encodeBase64(request.bytes) } })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    const out = r.structuredContent as { log: { index: number } };
    expect(out.log.index).toBeGreaterThan(0);
    const stranger = await connect('someone-else');
    expect((await stranger.experimental.tasks.listTasks()).tasks).toEqual([]);
    await stranger.close();
    await client.close();
  });

  test('a task survives a server restart; a finished one expires after its TTL', async () => {
    let client = await connect();
    const request = fhe.encrypt(toySamples(1, toy.toy.circuit.inputSize, 33));
    const created = await client.request(
      { method: 'tools/call', params: { name: 'predict_toy', arguments: { keys_id: keysId, ciphertexts: encodeBase64(request.bytes) }, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    );
    const taskId = created.task.taskId;
    await vi.waitFor(async () => expect((await client.experimental.tasks.getTask(taskId)).status).toBe('completed'), { timeout: 30_000, interval: 100 });
    const before = (await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)) as CallToolResult;
    await client.close();
    service.dispose();

    await start(2000);
    client = await connect();
    const after = (await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)) as CallToolResult;
    expect((after.structuredContent as { job_id: string }).job_id).toBe((before.structuredContent as { job_id: string }).job_id);

    const short = await client.request(
      { method: 'tools/call', params: { name: 'predict_toy', arguments: { keys_id: keysId, ciphertexts: encodeBase64(request.bytes) }, task: {} } },
      CreateTaskResultSchema,
    );
    expect(short.task.ttl).toBe(2000);
    await vi.waitFor(async () => expect((await client.experimental.tasks.getTask(short.task.taskId)).status).toBe('completed'), { timeout: 30_000, interval: 50 });
    // Still there within its TTL, gone once the clock has moved past it.
    expect((await client.experimental.tasks.getTask(short.task.taskId)).status).toBe('completed');
    clockOffsetMs += 2000;
    await expect(client.experimental.tasks.getTask(short.task.taskId)).rejects.toThrow(/not found/i);
    await client.close();
  });

  test('the client verifies a receipt against the log key it pinned on first use, and refuses what does not match', async () => {
    const client = await connect();
    const request = fhe.encrypt(toySamples(1, toy.toy.circuit.inputSize, 34));
    const r = (await client.callTool({ name: 'predict_toy', arguments: { keys_id: keysId, ciphertexts: encodeBase64(request.bytes) } })) as CallToolResult;
    await client.close();
    const out = r.structuredContent as { result: string; log: ReleaseReceipt };
    const result = new Uint8Array(Buffer.from(out.result, 'base64'));
    const pinDir = mkdtempSync(join(tmpdir(), 'dp-pins-'));
    try {
      const pins = PinStore.open(pinDir);
      const expectFacts = { inputs: request.bytes, result, keysId, modelHash: toy.toy.modelHash, chainId: null };
      const prove = async (a: number, b: number) => service.network.log.store.consistencyProof(a, b);
      const v = await verifyRelease('http://server/mcp', pins, out.log, expectFacts, prove);
      expect(describeVerification([v])).toBe(
        `verified: computed and signed by the server alone (no reviewers), log entry ${out.log.index}; first use of this server: pinned its log key and node set`,
      );
      // A different result, other inputs, or a receipt under another log key are refused.
      const altered = Uint8Array.from(result);
      altered[altered.length - 1]! ^= 1;
      await expect(verifyRelease('http://server/mcp', pins, out.log, { ...expectFacts, result: altered }, prove)).rejects.toThrow(/is for another result/);
      await expect(verifyRelease('http://server/mcp', pins, out.log, { ...expectFacts, inputs: altered }, prove)).rejects.toThrow(/other input ciphertexts/);
      const impostorDir = mkdtempSync(join(tmpdir(), 'dp-impostor-'));
      const impostor = TransparencyLog.open(impostorDir);
      const forged = { ...impostor.append({ copied: true }), vkey: impostor.vkey };
      impostor.close();
      rmSync(impostorDir, { recursive: true, force: true });
      await expect(verifyRelease('http://server/mcp', PinStore.open(pinDir), forged, expectFacts, prove)).rejects.toThrow(
        /log key changed since first use .*; refusing its results\. If its operator changed the key on purpose .*`deeppowers client --repin --server http:\/\/server\/mcp --keystore /,
      );
    } finally {
      rmSync(pinDir, { recursive: true, force: true });
    }
  });

  test('audit verify --server reads the same log over authenticated HTTP; GET /status needs the token too', async () => {
    const tokens = TokenTable.parse('auditor:auditor-token-0123456789abcdef\n');
    const http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: tokens, log: () => {}, logAuditors: new Set(['auditor']) });
    try {
      await expect(auditVerify({ server: http.url })).rejects.toThrow(/HTTP 401/);
      const report = await auditVerify({ server: http.url, token: 'auditor-token-0123456789abcdef' });
      expect(report).toMatchObject({ ok: true, entries: service.network.log.store.size });
      const base = new URL('/status', http.url);
      expect((await fetch(base)).status).toBe(401);
      const status = (await (await fetch(base, { headers: { Authorization: 'Bearer auditor-token-0123456789abcdef' } })).json()) as Record<string, unknown>;
      expect(status).toMatchObject({ mode: 'embedded', queue: null, reviewers: 0, log: { size: service.network.log.store.size } });
      expect((status.tasks as Record<string, number>).completed).toBeGreaterThan(0);
      expect((status.latency as { count: number }).count).toBeGreaterThan(0);
    } finally {
      await http.close();
    }
  });

  test("another tenant sees only leaf hashes of this tenant's log entries and cannot audit with its token", async () => {
    const tokens = TokenTable.parse(`${LOCAL_TENANT}:owner-token-0123456789abcdef\nmallory:mallory-token-0123456789abcdef\n`);
    const http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: tokens, log: () => {} });
    try {
      const entriesAs = async (token: string) =>
        (await (await fetch(new URL('/log/entries', http.url), { headers: { Authorization: `Bearer ${token}` } })).json()) as { index: number; entry?: string; leaf_hash?: string; created_at?: string }[];
      const stored = service.network.log.store.entries();
      expect(stored.length).toBeGreaterThan(0);
      const theirs = await entriesAs('mallory-token-0123456789abcdef');
      // RFC 9162 leaf hash, computed here: SHA-256(0x00 || entry).
      expect(theirs).toEqual(stored.map((e) => ({ index: e.index, leaf_hash: createHash('sha256').update(Buffer.from([0])).update(e.entry).digest('base64') })));
      const own = await entriesAs('owner-token-0123456789abcdef');
      expect(own.map((e) => e.entry)).toEqual(stored.map((e) => e.entry.toString('base64')));
      await expect(auditVerify({ server: http.url, token: 'mallory-token-0123456789abcdef' })).rejects.toThrow(/shows this token only its own log entries \(entry 0 is another tenant's\)/);
    } finally {
      await http.close();
    }
  });

  test("another tenant's task id used as a tasks/list cursor is answered exactly like a made-up one", async () => {
    const owner = await connect();
    const mallory = await connect('mallory');
    try {
      const ownTask = (await owner.experimental.tasks.listTasks()).tasks[0]!.taskId;
      const refusal = async (cursor: string) => (await mallory.experimental.tasks.listTasks(cursor).then(() => 'accepted', (e: Error) => e.message)).replace(cursor, 'CURSOR');
      // Another tenant's real task id is answered exactly like a made-up one.
      expect(await refusal(ownTask)).toBe(await refusal('0'.repeat(32)));
      expect(await refusal(ownTask)).toMatch(/invalid cursor CURSOR/);
    } finally {
      await owner.close();
      await mallory.close();
    }
  });

  test('the log of these runs verifies, and is signed by the server key alone', async () => {
    const report = await auditVerify({ dataDir });
    expect(report.ok).toBe(true);
    expect(report.entries).toBeGreaterThanOrEqual(4);
    expect(parseVkey(service.network.log.vkey).publicKey).toEqual(readLogVkey(dataDir).publicKey);
  });
});
