import { mkdtempSync, rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { FheClient } from '../../runtime/client/fhe-client';
import { encodeBase64 } from '../../runtime/mcp/base64';
import type { ServedModel } from '../../runtime/mcp/served-model';
import { createMcpServer } from '../../runtime/mcp/server';
import { DeepPowersService, LOCAL_TENANT } from '../../runtime/mcp/service';
import { attest, checkAttestation, type Attestation } from '../../runtime/network/attestation';
import { ephemeralIdentity, loadOrCreateIdentity, type Identity } from '../../runtime/network/identity';
import { createLogger, silentLogger } from '../../runtime/network/logger';
import { NodeList, nodeListLine, TrustedNodes } from '../../runtime/network/node-list';
import { bullConnection, nodeQueue, parseRedisUrl, type EvaluationJobData, type RedisAddress } from '../../runtime/network/queue';
import { QueueRunner } from '../../runtime/network/queue-runner';
import { backendEvaluator, startWorker, type NodeEvaluator, type RunningWorker } from '../../runtime/network/worker';
import { serverModelOf } from '../../runtime/server/fhe-server';
import { startRedis, type TestRedis } from '../helpers/redis-server';
import { servedToy } from './mcp-toy';
import { toySamples } from './seal-test-circuits';

/**
 * The Sybil attack on the compute network, played by the liars themselves: a listed compute node
 * that adds +50 to a logit, colluding with review "nodes" that have fresh keys no operator
 * listed, while the compute node back-dates the honest reviewers' heartbeats in Redis (or steals
 * their review jobs from their queues). The server must never release such a result: it ends
 * refused or disputed, the unlisted nodes are never given a job, and an answer counts only when
 * the reviewer the server assigned signed it under its listed key.
 */

const toy = servedToy('toy', 'vector');
const BACKDATED = '2000-01-01T00:00:00.000Z';
let work: string;
let redis: TestRedis;
let queue: RedisAddress;
let attacker: Redis;
let service: DeepPowersService;
const nodes: RunningWorker[] = [];
const thieves: Worker[] = [];
const disposers: (() => void)[] = [];
let compute: Identity;
let honest: RunningWorker[];
let sybilJobs = 0;
/** The server's JSON log lines (what an operator keeps). */
const serverLog: string[] = [];
/** The result hash the lying compute node signed last (what its accomplices copy). */
let lieHash = '';

/** The toy with +50 on the first output's bias: same model hash, different circuit. */
function plusFifty(): ServedModel {
  const circuit = toy.toy.circuit;
  const bias = circuit.ops.findLast((o) => o.op === 'addPlain') as { c: number };
  const constants = circuit.constants.map((c, i) => (i === bias.c ? Float64Array.from(c, (v, j) => (j === 0 ? v + 50 : v)) : c));
  return { ...toy.served, server: serverModelOf({ ...circuit, constants }, toy.toy.params, toy.toy.modelHash) };
}

async function predict(): Promise<{ isError: boolean; text: string; outputs?: number[][] }> {
  const fhe = await FheClient.create(sealBackend, toy.clientModel);
  const keys = fhe.evaluationKeys();
  const client = new Client({ name: 'test', version: '0' });
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await Promise.all([createMcpServer(service, LOCAL_TENANT, { log: () => {} }).connect(st), client.connect(ct)]);
  await client.listTools();
  try {
    const CHUNK = 1024 * 1024;
    const count = Math.ceil(keys.bytes.length / CHUNK);
    for (let i = 0; i < count; i++) {
      await client.callTool({ name: 'upload_keys', arguments: { keys_id: keys.keysId, index: i, count, data: encodeBase64(keys.bytes.subarray(i * CHUNK, (i + 1) * CHUNK)) } });
    }
    const request = fhe.encrypt(toySamples(2, toy.toy.circuit.inputSize, 41));
    const r = (await client.callTool({ name: 'predict_toy', arguments: { keys_id: keys.keysId, ciphertexts: encodeBase64(request.bytes) } }, undefined, {
      timeout: 120_000,
    })) as CallToolResult;
    const text = (r.content[0] as { text: string }).text;
    if (r.isError) return { isError: true, text };
    const result = new Uint8Array(Buffer.from((r.structuredContent as { result: string }).result, 'base64'));
    return { isError: false, text, outputs: fhe.decrypt(result, 2).map((row) => [...row]) };
  } finally {
    await client.close();
    fhe.dispose();
  }
}

/** Run `during` while the attacker keeps back-dating the honest reviewers' heartbeats (one HSET each, repeated). */
async function withBackdatedHeartbeats<T>(during: () => Promise<T>): Promise<T> {
  let stop = false;
  const loop = (async () => {
    for (let i = 0; i < 100_000 && !stop; i++) {
      for (const h of honest) await attacker.hset(`dp:node:${h.identity.id}`, 'last_heartbeat', BACKDATED);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    return await during();
  } finally {
    stop = true;
    await loop;
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-sybil-'));
  redis = await startRedis(work);
  queue = parseRedisUrl(`redis://127.0.0.1:${redis.port}`);
  attacker = new Redis({ host: '127.0.0.1', port: redis.port });
  const logger = silentLogger();
  const serverLogger = createLogger('deeppowers-serve', { destination: new Writable({ write: (chunk: Buffer, _enc, done) => (serverLog.push(chunk.toString()), done()) }) });
  compute = loadOrCreateIdentity(join(work, 'compute'), 'node');
  const listed = [nodeListLine(compute, 'compute'), ...['honest-1', 'honest-2'].map((d) => nodeListLine(loadOrCreateIdentity(join(work, d), 'node'), 'review'))];
  const trusted = new TrustedNodes(NodeList.parse(listed.join('\n'), 'nodes.txt'));
  service = await DeepPowersService.create(sealBackend, [toy.served], join(work, 'server'), {}, {
    logger: serverLogger,
    runner: (ctx) => new QueueRunner({ queue, reviewers: 2, quorum: 2, nodes: trusted, log: ctx.log, logger: serverLogger, readKeys: ctx.readKeys }),
  });
  const honestEval = await backendEvaluator(sealBackend, [toy.served]);
  const lieEval = await backendEvaluator(sealBackend, [plusFifty()]);
  disposers.push(honestEval.dispose, lieEval.dispose);
  const doctored = plusFifty();
  const lying: NodeEvaluator = async (_model, keys, inputs, onProgress, segment) => lieEval.evaluate(doctored, keys, inputs, onProgress, segment);
  const lyingCompute: NodeEvaluator = async (...args) => {
    const out = await lying(...args);
    const { sha256Hex } = await import('../../compiler/artifact/model-hash');
    lieHash = sha256Hex(out.result);
    return out;
  };
  const sybil: NodeEvaluator = async (...args) => {
    sybilJobs++;
    return lying(...args);
  };
  const common = { models: [toy.served], backend: sealBackend, queue, logger };
  nodes.push(await startWorker({ ...common, dataDir: join(work, 'compute'), role: 'compute', evaluator: lyingCompute }));
  honest = [
    await startWorker({ ...common, dataDir: join(work, 'honest-1'), role: 'review', evaluator: honestEval.evaluate }),
    await startWorker({ ...common, dataDir: join(work, 'honest-2'), role: 'review', evaluator: honestEval.evaluate }),
  ];
  nodes.push(...honest);
  // Two review workers with fresh keys that no operator listed.
  nodes.push(await startWorker({ ...common, dataDir: join(work, 'sybil-1'), role: 'review', evaluator: sybil }));
  nodes.push(await startWorker({ ...common, dataDir: join(work, 'sybil-2'), role: 'review', evaluator: sybil }));
}, 60_000);

afterAll(async () => {
  for (const t of thieves) await t.close().catch(() => {});
  for (const n of nodes) await n.close().catch(() => {});
  await service?.close();
  for (const d of disposers) d();
  attacker?.disconnect();
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('a lying compute node with Sybil reviewers', () => {
  test('the lie is real: the doctored circuit moves the first output by +50', async () => {
    // An independent check of the test double, so the tests below are about a lie that matters.
    const honestEval = await backendEvaluator(sealBackend, [toy.served]);
    const lieEval = await backendEvaluator(sealBackend, [plusFifty()]);
    const fhe = await FheClient.create(sealBackend, toy.clientModel);
    try {
      const keys = fhe.evaluationKeys();
      const request = fhe.encrypt(toySamples(2, toy.toy.circuit.inputSize, 41));
      const run = async (e: typeof honestEval, m: ServedModel) => fhe.decrypt((await e.evaluate(m, { id: keys.keysId, bytes: keys.bytes }, request.bytes, async () => {}, 0)).result, 2);
      const truth = await run(honestEval, toy.served);
      const lie = await run(lieEval, plusFifty());
      truth.forEach((row, r) => {
        expect(lie[r]![0]! - row[0]!).toBeCloseTo(50, 2);
        expect(lie[r]![1]! - row[1]!).toBeCloseTo(0, 2);
      });
    } finally {
      fhe.dispose();
      honestEval.dispose();
      lieEval.dispose();
    }
  });

  test('fresh-key reviewers and back-dated honest heartbeats: refused or disputed, never released; the unlisted nodes get no job', async () => {
    const logBefore = service.network.log.store.size;
    const r = await withBackdatedHeartbeats(predict);
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(/result disputed, not released|refused|review nodes? (are|is) up/);
    expect(r.text).not.toMatch(/verified/);
    expect(service.network.log.store.size).toBe(logBefore);
    expect(sybilJobs).toBe(0);
  });

  test('the honest reviewers contradict the liar: disputed, the compute node blamed too, both signed attestations kept as evidence', async () => {
    // Wait (bounded) until the honest reviewers' own heartbeats are fresh again after the attack.
    for (let i = 0; i < 100; i++) {
      const beats = await Promise.all(honest.map((h) => attacker.hget(`dp:node:${h.identity.id}`, 'last_heartbeat')));
      if (beats.every((b) => b !== null && b !== BACKDATED && Date.now() - Date.parse(b) < 5000)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const logBefore = service.network.log.store.size;
    const r = await predict();
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(/^result disputed, not released: 0 of 2 reviewers agree with compute node /);
    expect(service.network.log.store.size).toBe(logBefore);
    expect(sybilJobs).toBe(0);
    const status = await service.network.status();
    const count = (id: string) => status.nodes.find((n) => n.node_id === id)?.disputes;
    expect(count(compute.id)).toBe(1);
    for (const h of honest) expect(count(h.identity.id)).toBe(1);
    const evidence = status.disputes?.[0];
    expect(evidence?.compute_node).toBe(compute.id);
    const signers = (evidence?.attestations ?? []).map((a: Attestation) => [a.node_id, a.role]);
    expect(signers[0]).toEqual([compute.id, 'compute']);
    expect(signers.slice(1).sort()).toEqual(honest.map((h) => [h.identity.id, 'review']).sort());
    // Evidence anyone can check: each signature verifies, and the two sides signed different result hashes for one job.
    for (const a of evidence!.attestations) expect(() => checkAttestation(a)).not.toThrow();
    // Status shows a tenant only the evidence of its own jobs (it names job and keys ids).
    expect((await service.network.status({ tenant: LOCAL_TENANT, all: false })).disputes?.[0]?.job_id).toBe(evidence!.job_id);
    expect((await service.network.status({ tenant: 'another-tenant', all: false })).disputes).toEqual([]);
    // The same evidence in the server's job.disputed log line.
    const line = serverLog.map((l) => JSON.parse(l) as { event?: string; job_id?: string; attestations?: Attestation[] }).find((l) => l.event === 'job.disputed' && l.job_id === evidence!.job_id);
    expect(line?.attestations).toEqual(evidence!.attestations);
    const [c, ...rs] = evidence!.attestations;
    for (const a of rs) {
      expect(a.job_id).toBe(c!.job_id);
      expect(a.result_sha256).not.toBe(c!.result_sha256);
    }
  });

  test('thieves answering from the honest reviewers\' queues with their own keys: their answers do not count', async () => {
    for (const h of honest) await h.close();
    nodes.splice(nodes.indexOf(honest[0]!), 2);
    const thiefIds: Identity[] = [];
    for (const h of honest) {
      const thief = ephemeralIdentity();
      thiefIds.push(thief);
      const w = new Worker(
        nodeQueue(h.identity.id),
        async (job) => {
          const d = job.data as EvaluationJobData;
          const attestation = attest(thief, { ...d, result_sha256: lieHash, role: 'review', time: new Date().toISOString() });
          return { attestation, evaluations: 1 };
        },
        { connection: bullConnection(queue) },
      );
      w.on('error', () => {});
      thieves.push(w);
      // The thief keeps the honest node looking alive.
      await attacker.hset(`dp:node:${h.identity.id}`, { role: 'review', last_heartbeat: new Date().toISOString() });
    }
    const logBefore = service.network.log.store.size;
    const r = await predict();
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(/^result disputed, not released: 0 of 2 reviewers agree/);
    for (const [i, h] of honest.entries()) expect(r.text).toContain(`signed by node ${thiefIds[i]!.id}, not by ${h.identity.id}`);
    expect(service.network.log.store.size).toBe(logBefore);
  });
});
