import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { FheClient } from '../../runtime/client/fhe-client';
import { encodeBase64 } from '../../runtime/mcp/base64';
import { createMcpServer } from '../../runtime/mcp/server';
import { DeepPowersService, LOCAL_TENANT } from '../../runtime/mcp/service';
import { loadOrCreateIdentity } from '../../runtime/network/identity';
import { silentLogger } from '../../runtime/network/logger';
import { parseRedisUrl, type RedisAddress } from '../../runtime/network/queue';
import { QueueRunner } from '../../runtime/network/queue-runner';
import { startWorker, type RunningWorker } from '../../runtime/network/worker';
import { startRedis, type TestRedis } from '../helpers/redis-server';
import { trustedNodesOf } from '../helpers/trusted-nodes';
import { servedToy } from './mcp-toy';
import { toySamples } from './seal-test-circuits';

/**
 * Listed review nodes that only send heartbeats and never answer (a hung or hostile node) must
 * not stall requests for the whole job timeout: each assigned reviewer has a deadline, a miss is
 * named and counted against that node, and a result is released as soon as Q reviewers agree,
 * without waiting for the rest. The job timeout here is ten minutes, far beyond these tests'
 * own limits, so waiting for it fails them.
 */

const toy = servedToy('toy', 'vector');
const JOB_TIMEOUT_MS = 10 * 60_000;
let work: string;
let redis: TestRedis;
let queue: RedisAddress;
let fakeBeats: Redis;
let beating: NodeJS.Timeout;
const services: DeepPowersService[] = [];
const nodes: RunningWorker[] = [];
const dir = (name: string) => join(work, name);
const idOf = (name: string) => loadOrCreateIdentity(dir(name), 'node').id;

async function serviceWith(name: string, listed: [string, 'compute' | 'review'][], reviewers: number, quorum: number, reviewTimeoutMs: number): Promise<DeepPowersService> {
  const logger = silentLogger();
  const nodesList = trustedNodesOf(listed.map(([n, role]) => [dir(n), role] as const));
  const service = await DeepPowersService.create(sealBackend, [toy.served], dir(name), {}, {
    logger,
    runner: (ctx) => new QueueRunner({ queue, reviewers, quorum, nodes: nodesList, log: ctx.log, logger, readKeys: ctx.readKeys, jobTimeoutMs: JOB_TIMEOUT_MS, reviewTimeoutMs }),
  });
  services.push(service);
  return service;
}

async function predict(service: DeepPowersService): Promise<CallToolResult> {
  const fhe = await FheClient.create(sealBackend, toy.clientModel);
  const keys = fhe.evaluationKeys();
  const client = new Client({ name: 'test', version: '0' });
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await Promise.all([createMcpServer(service, LOCAL_TENANT, { log: () => {} }).connect(st), client.connect(ct)]);
  try {
    const CHUNK = 1024 * 1024;
    const count = Math.ceil(keys.bytes.length / CHUNK);
    for (let i = 0; i < count; i++) {
      await client.callTool({ name: 'upload_keys', arguments: { keys_id: keys.keysId, index: i, count, data: encodeBase64(keys.bytes.subarray(i * CHUNK, (i + 1) * CHUNK)) } });
    }
    const request = fhe.encrypt(toySamples(1, toy.toy.circuit.inputSize, 9));
    return (await client.callTool({ name: 'predict_toy', arguments: { keys_id: keys.keysId, ciphertexts: encodeBase64(request.bytes) } }, undefined, {
      timeout: JOB_TIMEOUT_MS,
    })) as CallToolResult;
  } finally {
    await client.close();
    fhe.dispose();
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-deadline-'));
  redis = await startRedis(work);
  queue = parseRedisUrl(`redis://127.0.0.1:${redis.port}`);
  const common = { models: [toy.served], backend: sealBackend, queue, logger: silentLogger() };
  nodes.push(await startWorker({ ...common, dataDir: dir('compute'), role: 'compute' }));
  nodes.push(await startWorker({ ...common, dataDir: dir('honest-1'), role: 'review' }));
  nodes.push(await startWorker({ ...common, dataDir: dir('honest-2'), role: 'review' }));
  // The fake reviewers: a heartbeat every second (as a node registers itself), and nothing else.
  fakeBeats = new Redis({ host: '127.0.0.1', port: redis.port });
  const beat = async () => {
    for (const f of ['fake-1', 'fake-2']) {
      await fakeBeats.sadd('dp:nodes', idOf(f));
      await fakeBeats.hset(`dp:node:${idOf(f)}`, { role: 'review', last_heartbeat: new Date().toISOString() });
    }
  };
  await beat();
  beating = setInterval(() => void beat().catch(() => {}), 1000);
}, 60_000);

afterAll(async () => {
  clearInterval(beating);
  for (const n of nodes) await n.close().catch(() => {});
  for (const s of services) await s.close().catch(() => {});
  fakeBeats?.disconnect();
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('reviewer deadlines', () => {
  test('two listed reviewers that never answer: disputed after their deadline (not the job timeout), each named and counted', async () => {
    const service = await serviceWith('server-a', [['compute', 'compute'], ['fake-1', 'review'], ['fake-2', 'review']], 2, 2, 2000);
    const r = await predict(service);
    expect(r.isError).toBe(true);
    const text = (r.content[0] as { text: string }).text;
    expect(text).toMatch(/^result disputed, not released: 0 of 2 reviewers agree with compute node [0-9a-f]{16}, 2 required; no answer within the review deadline from /);
    for (const f of ['fake-1', 'fake-2']) expect(text).toContain(idOf(f));
    const status = await service.network.status();
    for (const f of ['fake-1', 'fake-2']) expect(status.nodes.find((n) => n.node_id === idOf(f))).toMatchObject({ timeouts: 1, disputes: 0 });
    // A silent reviewer is not evidence against the compute node.
    expect(status.nodes.find((n) => n.node_id === idOf('compute'))).toMatchObject({ disputes: 0, timeouts: 0 });
  }, 60_000);

  test('2 of 3 with one silent reviewer: released as soon as the two honest ones agree, without waiting for its deadline', async () => {
    const service = await serviceWith('server-b', [['compute', 'compute'], ['honest-1', 'review'], ['honest-2', 'review'], ['fake-1', 'review']], 3, 2, JOB_TIMEOUT_MS);
    const r = await predict(service);
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    const v = (r.structuredContent as { verification: { reviewers: number; quorum: number; agreeing: string[] } }).verification;
    expect(v).toMatchObject({ reviewers: 3, quorum: 2 });
    expect([...v.agreeing].sort()).toEqual([idOf('honest-1'), idOf('honest-2')].sort());
  }, 60_000);
});
