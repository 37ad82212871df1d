import { Writable } from 'node:stream';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { FheClient } from '../../runtime/client/fhe-client';
import type { ServedModel } from '../../runtime/service/served-model';
import { LOCAL_TENANT, type DeepPowersService } from '../../runtime/mcp/service';
import { attest, checkAttestation, type Attestation } from '../../runtime/network/attestation';
import { ephemeralIdentity, loadOrCreateIdentity, type Identity } from '../../runtime/network/identity';
import { createLogger } from '../../runtime/network/logger';
import { bullConnection, nodeQueue, type EvaluationJobData } from '../../runtime/network/queue';
import { backendEvaluator, type NodeEvaluator, type RunningWorker } from '../../runtime/network/worker';
import { serverModelOf } from '../../runtime/server/fhe-server';
import { predictToy, QueueCluster } from '../helpers/network-cluster';
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
let cluster: QueueCluster;
let attacker: Redis;
let service: DeepPowersService;
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

/** One prediction through an MCP session, with fresh keys uploaded first; the outputs decrypted when released. */
function predict(): Promise<{ isError: boolean; text: string; outputs?: number[][] }> {
  return predictToy(service, toy, { rows: 2, seed: 41 }, (r, fhe) => {
    const text = (r.content[0] as { text: string }).text;
    if (r.isError) return { isError: true, text };
    const result = new Uint8Array(Buffer.from((r.structuredContent as { result: string }).result, 'base64'));
    return { isError: false, text, outputs: fhe.decrypt(result, 2).map((row) => [...row]) };
  });
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
  cluster = await QueueCluster.start({ prefix: 'dp-sybil-', models: [toy.served] });
  attacker = new Redis({ host: '127.0.0.1', port: cluster.redis.port });
  const serverLogger = createLogger('deeppowers-serve', { destination: new Writable({ write: (chunk: Buffer, _enc, done) => (serverLog.push(chunk.toString()), done()) }) });
  compute = loadOrCreateIdentity(cluster.dir('compute'), 'node');
  service = await cluster.unanimousService('server', 'compute', ['honest-1', 'honest-2'], { logger: serverLogger });
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
  await cluster.node('compute', 'compute', { evaluator: lyingCompute });
  honest = [await cluster.node('honest-1', 'review', { evaluator: honestEval.evaluate }), await cluster.node('honest-2', 'review', { evaluator: honestEval.evaluate })];
  // Two review workers with fresh keys that no operator listed.
  await cluster.node('sybil-1', 'review', { evaluator: sybil });
  await cluster.node('sybil-2', 'review', { evaluator: sybil });
}, 60_000);

afterAll(async () => {
  for (const t of thieves) await t.close().catch(() => {});
  attacker?.disconnect();
  await cluster?.close();
  for (const d of disposers) d();
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
    cluster.nodes.splice(cluster.nodes.indexOf(honest[0]!), 2);
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
        { connection: bullConnection(cluster.queue) },
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
