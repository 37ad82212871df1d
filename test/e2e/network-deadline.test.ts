import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { DeepPowersService } from '../../runtime/mcp/service';
import { loadOrCreateIdentity } from '../../runtime/network/identity';
import { predictToy, QueueCluster } from '../helpers/network-cluster';
import { servedToy } from './mcp-toy';

/**
 * Listed review nodes that only send heartbeats and never answer (a hung or hostile node) must
 * not stall requests for the whole job timeout: each assigned reviewer has a deadline, a miss is
 * named and counted against that node, and a result is released as soon as Q reviewers agree,
 * without waiting for the rest. The job timeout here is ten minutes, far beyond these tests'
 * own limits, so waiting for it fails them.
 */

const toy = servedToy('toy', 'vector');
const JOB_TIMEOUT_MS = 10 * 60_000;
let cluster: QueueCluster;
let fakeBeats: Redis;
let beating: NodeJS.Timeout;
const idOf = (name: string) => loadOrCreateIdentity(cluster.dir(name), 'node').id;

function serviceWith(name: string, nodes: [string, 'compute' | 'review'][], reviewers: number, quorum: number, reviewTimeoutMs: number): Promise<DeepPowersService> {
  return cluster.service({ name, reviewers, quorum, nodes, jobTimeoutMs: JOB_TIMEOUT_MS, reviewTimeoutMs });
}

const predict = (service: DeepPowersService) => predictToy(service, toy, { rows: 1, seed: 9, timeoutMs: JOB_TIMEOUT_MS });

beforeAll(async () => {
  cluster = await QueueCluster.start({ prefix: 'dp-deadline-', models: [toy.served] });
  await cluster.node('compute', 'compute');
  await cluster.node('honest-1', 'review');
  await cluster.node('honest-2', 'review');
  // The fake reviewers: a heartbeat every second (as a node registers itself), and nothing else.
  fakeBeats = new Redis({ host: '127.0.0.1', port: cluster.redis.port });
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
  fakeBeats?.disconnect();
  await cluster?.close();
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
