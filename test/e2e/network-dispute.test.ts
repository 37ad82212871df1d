import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { FheClient } from '../../runtime/client/fhe-client';
import { encodeBase64 } from '../../runtime/mcp/base64';
import { createMcpServer } from '../../runtime/mcp/server';
import { DeepPowersService, LOCAL_TENANT } from '../../runtime/mcp/service';
import { silentLogger } from '../../runtime/network/logger';
import { parseRedisUrl, type RedisAddress } from '../../runtime/network/queue';
import { QueueRunner } from '../../runtime/network/queue-runner';
import { backendEvaluator, startWorker, type NodeEvaluator, type RunningWorker } from '../../runtime/network/worker';
import { trustedNodesOf } from '../helpers/trusted-nodes';
import { toySamples } from './seal-test-circuits';
import { servedToy } from './mcp-toy';

/**
 * A review node that returns a different result (a test double: an evaluator that flips one
 * byte of an honest result) makes the job disputed: nothing is released or logged, the caller is
 * told which nodes stood on each side, and the dissenting node's dispute count goes up.
 */

const toy = servedToy('toy', 'vector');
let work: string;
let redis: ChildProcess;
let service: DeepPowersService;
let queue: RedisAddress;
const nodes: RunningWorker[] = [];
let liar: RunningWorker;
let honest: RunningWorker;
const disposers: (() => void)[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-dispute-'));
  const port = await freePort();
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve) => redis.stdout!.on('data', (d: Buffer) => /Ready to accept connections/.test(d.toString()) && resolve()));
  queue = parseRedisUrl(`redis://127.0.0.1:${port}`);
  const logger = silentLogger();
  service = await DeepPowersService.create(sealBackend, [toy.served], join(work, 'server'), {}, {
    logger,
    runner: (ctx) =>
      new QueueRunner({
        queue,
        reviewers: 2,
        quorum: 2,
        nodes: trustedNodesOf([
          [join(work, 'compute'), 'compute'],
          [join(work, 'honest'), 'review'],
          [join(work, 'liar'), 'review'],
        ]),
        log: ctx.log,
        logger,
        readKeys: ctx.readKeys,
      }),
  });
  const honestEval = await backendEvaluator(sealBackend, [toy.served]);
  disposers.push(honestEval.dispose);
  const lying: NodeEvaluator = async (model, keys, inputs, onProgress, segment) => {
    const out = await honestEval.evaluate(model, keys, inputs, onProgress, segment);
    const result = Uint8Array.from(out.result);
    result[result.length - 1]! ^= 0x01;
    return { ...out, result };
  };
  const common = { models: [toy.served], backend: sealBackend, queue, logger };
  nodes.push(await startWorker({ ...common, dataDir: join(work, 'compute'), role: 'compute', evaluator: honestEval.evaluate }));
  nodes.push((honest = await startWorker({ ...common, dataDir: join(work, 'honest'), role: 'review', evaluator: honestEval.evaluate })));
  nodes.push((liar = await startWorker({ ...common, dataDir: join(work, 'liar'), role: 'review', evaluator: lying })));
});

afterAll(async () => {
  for (const n of nodes) await n.close().catch(() => {});
  await service?.close();
  for (const d of disposers) d();
  if (redis?.pid) process.kill(redis.pid, 'SIGTERM');
  rmSync(work, { recursive: true, force: true });
});

/** One prediction through an MCP session on `on`, with fresh keys uploaded first. */
async function predict(on: DeepPowersService): Promise<CallToolResult> {
  const fhe = await FheClient.create(sealBackend, toy.clientModel);
  const keys = fhe.evaluationKeys();
  const client = new Client({ name: 'test', version: '0' });
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await Promise.all([createMcpServer(on, LOCAL_TENANT, { log: () => {} }).connect(st), client.connect(ct)]);
  await client.listTools();
  try {
    const CHUNK = 1024 * 1024;
    const count = Math.ceil(keys.bytes.length / CHUNK);
    for (let i = 0; i < count; i++) {
      await client.callTool({ name: 'upload_keys', arguments: { keys_id: keys.keysId, index: i, count, data: encodeBase64(keys.bytes.subarray(i * CHUNK, (i + 1) * CHUNK)) } });
    }
    const request = fhe.encrypt(toySamples(2, toy.toy.circuit.inputSize, 41));
    return (await client.callTool({ name: 'predict_toy', arguments: { keys_id: keys.keysId, ciphertexts: encodeBase64(request.bytes) } }, undefined, { timeout: 120_000 })) as CallToolResult;
  } finally {
    await client.close();
    fhe.dispose();
  }
}

test('a review node returning a different result: disputed, not released, not logged, nodes named, dispute counted', async () => {
  const logBefore = service.network.log.store.size;
  const r = await predict(service);
  expect(r.isError).toBe(true);
  const text = (r.content[0] as { text: string }).text;
  expect(text).toMatch(/^result disputed, not released: 1 of 2 reviewers agree with compute node [0-9a-f]{16}, 2 required/);
  expect(text).toContain(`agreeing ${honest.identity.id}`);
  expect(text).toContain(`disagreeing ${liar.identity.id}`);
  expect(r.structuredContent).toBeUndefined();
  expect(service.network.log.store.size).toBe(logBefore);
  const status = await service.network.status();
  expect(status.nodes.find((n) => n.node_id === liar.identity.id)?.disputes).toBe(1);
  expect(status.nodes.find((n) => n.node_id === honest.identity.id)?.disputes).toBe(0);
  // A signed contradiction cannot say which side lied: the compute node is counted too.
  expect(status.nodes.find((n) => n.node_id === nodes[0]!.identity.id)?.disputes).toBe(1);
});

test('a compute node not on the list: its result is refused, no reviewer is asked, nothing is logged', async () => {
  const logger = silentLogger();
  const other = await DeepPowersService.create(sealBackend, [toy.served], join(work, 'server-2'), {}, {
    logger,
    runner: (ctx) =>
      new QueueRunner({
        queue,
        reviewers: 1,
        quorum: 1,
        // The compute node that is running is not on this server's list; the one listed is not running.
        nodes: trustedNodesOf([
          [join(work, 'listed-compute'), 'compute'],
          [join(work, 'honest'), 'review'],
        ]),
        log: ctx.log,
        logger,
        readKeys: ctx.readKeys,
      }),
  });
  try {
    const jobsBefore = (await other.network.status()).nodes.find((n) => n.node_id === honest.identity.id)?.jobs_done;
    const r = await predict(other);
    expect(r.isError).toBe(true);
    expect((r.content[0] as { text: string }).text).toBe(`result refused, not released: node ${nodes[0]!.identity.id} is not on the nodes list`);
    expect(other.network.log.store.size).toBe(0);
    const status = await other.network.status();
    expect(status.nodes.find((n) => n.node_id === honest.identity.id)?.jobs_done).toBe(jobsBefore);
    expect(status.nodes.map((n) => n.node_id)).not.toContain(nodes[0]!.identity.id);
  } finally {
    await other.close();
  }
});
