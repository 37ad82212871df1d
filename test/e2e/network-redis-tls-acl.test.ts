import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import { loadOrCreateIdentity, type Identity } from '../../runtime/network/identity';
import { silentLogger } from '../../runtime/network/logger';
import { parseRedisUrl, SharedStore, type RedisAddress } from '../../runtime/network/queue';
import { QueueRunner } from '../../runtime/network/queue-runner';
import { nodeAclLine } from '../../runtime/network/redis-acl';
import { startWorker, type RunningWorker } from '../../runtime/network/worker';
import { startRedis, type TestRedis } from '../helpers/redis-server';
import { trustedNodesOf } from '../helpers/trusted-nodes';
import { servedToy } from './mcp-toy';
import { toySamples } from './seal-test-circuits';

/**
 * The queue across machines as the README sets it up: Redis over TLS (rediss://, a certificate
 * this test makes with openssl, checked against its CA) with an ACL file — no default user, the
 * server's own user, and each node as its own user with the line `worker --print-acl` prints. A compute node's user then cannot write another
 * node's heartbeat, the server's blame counters or dispute evidence, or take a reviewer's jobs.
 */

const toy = servedToy('toy', 'vector');
const SERVER_PASSWORD = 'server password, not a real one';
let work: string;
let redis: TestRedis;
let caFile: string;
let service: DeepPowersService;
const nodes: RunningWorker[] = [];
let compute: Identity;
let reviewer: Identity;
const urlOf = (user: string, password: string) => `rediss://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${redis.port}`;
const addressOf = (user: string, password: string): RedisAddress => parseRedisUrl(urlOf(user, password), { caFile });
const nodeUser = (id: Identity) => ({ user: `node-${id.id}`, password: `password of ${id.id}` });

function makeCertificates(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=deeppowers test CA');
  ssl('req', ...ec, '-keyout', 'redis.key', '-out', 'redis.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'redis.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'redis.pem', '-days', '1', '-extfile', 'san.ext');
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-redis-tls-'));
  makeCertificates(work);
  caFile = join(work, 'ca.pem');
  compute = loadOrCreateIdentity(join(work, 'compute'), 'node');
  reviewer = loadOrCreateIdentity(join(work, 'reviewer'), 'node');
  // The users file as the README describes it: no default user, the server's user, and each node's line as
  // `worker --print-acl` prints it (the node's URL is only parsed for its user and password there).
  const nodeLines = ([[compute, 'compute'], [reviewer, 'review']] as const).map(([id, role]) =>
    nodeAclLine(id.id, role, parseRedisUrl(`redis://${encodeURIComponent(nodeUser(id).user)}:${encodeURIComponent(nodeUser(id).password)}@127.0.0.1:1`)),
  );
  const serverHash = createHash('sha256').update(SERVER_PASSWORD).digest('hex');
  writeFileSync(join(work, 'users.acl'), ['user default off', `user dp-server on #${serverHash} ~* &* +@all`, ...nodeLines, ''].join('\n'));
  redis = await startRedis(
    work,
    ['--tls-cert-file', join(work, 'redis.pem'), '--tls-key-file', join(work, 'redis.key'), '--tls-ca-cert-file', caFile, '--tls-auth-clients', 'no', '--aclfile', join(work, 'users.acl')],
    (port) => ['--port', '0', '--tls-port', String(port)],
  );
  const logger = silentLogger();
  const queue = addressOf('dp-server', SERVER_PASSWORD);
  service = await DeepPowersService.create(sealBackend, [toy.served], join(work, 'server'), {}, {
    logger,
    runner: (ctx) =>
      new QueueRunner({
        queue,
        reviewers: 1,
        quorum: 1,
        nodes: trustedNodesOf([
          [join(work, 'compute'), 'compute'],
          [join(work, 'reviewer'), 'review'],
        ]),
        log: ctx.log,
        logger,
        readKeys: ctx.readKeys,
      }),
  });
  const common = { models: [toy.served], backend: sealBackend, logger };
  const as = (id: Identity) => addressOf(nodeUser(id).user, nodeUser(id).password);
  nodes.push(await startWorker({ ...common, queue: as(compute), dataDir: join(work, 'compute'), role: 'compute' }));
  nodes.push(await startWorker({ ...common, queue: as(reviewer), dataDir: join(work, 'reviewer'), role: 'review' }));
}, 60_000);

afterAll(async () => {
  for (const n of nodes) await n.close().catch(() => {});
  await service?.close();
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the queue over rediss:// with a password and an ACL user per node', () => {
  test('a prediction is computed, reviewed and released', async () => {
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
      const request = fhe.encrypt(toySamples(1, toy.toy.circuit.inputSize, 5));
      const r = (await client.callTool({ name: 'predict_toy', arguments: { keys_id: keys.keysId, ciphertexts: encodeBase64(request.bytes) } }, undefined, {
        timeout: 120_000,
      })) as CallToolResult;
      expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
      expect(r.structuredContent).toMatchObject({ verification: { reviewers: 1, quorum: 1, agreeing: [reviewer.id] } });
      const status = await service.network.status();
      expect(status.nodes.map((n) => [n.node_id, n.jobs_done])).toEqual(
        [
          [compute.id, 1],
          [reviewer.id, 1],
        ].sort(),
      );
    } finally {
      await client.close();
      fhe.dispose();
    }
  });

  test("a compute node's user can write its own heartbeat, and cannot touch the registry, the blame or a reviewer's queue", async () => {
    const { user, password } = nodeUser(compute);
    const r = new Redis({ host: '127.0.0.1', port: redis.port, username: user, password, tls: { ca: [readFileSync(caFile)] }, maxRetriesPerRequest: 1 });
    r.on('error', () => {});
    try {
      await r.hset(`dp:node:${compute.id}`, 'last_heartbeat', new Date().toISOString());
      const refused = async (p: Promise<unknown>) => expect(await p.then(() => 'allowed', (e: Error) => e.message)).toMatch(/^NOPERM/);
      await refused(r.hset(`dp:node:${reviewer.id}`, 'last_heartbeat', '2000-01-01T00:00:00.000Z'));
      await refused(r.hincrby(`dp:blame:${reviewer.id}`, 'disputes', 1));
      await refused(r.lpush('dp:disputes', '{}'));
      await refused(r.zadd(`bull:dp-node-${reviewer.id}:wait`, 0, 'x'));
      await refused(r.lpop(`bull:dp-node-${reviewer.id}:wait`));
      await refused(r.call('FLUSHALL'));
      await refused(r.call('ACL', 'SETUSER', user, '~*'));
    } finally {
      r.disconnect();
    }
  });

  test('no connection without the CA, with a wrong password, or as the default user', async () => {
    const noCa = new SharedStore(parseRedisUrl(urlOf('dp-server', SERVER_PASSWORD)));
    const wrong = new SharedStore(addressOf(nodeUser(compute).user, 'not the password'));
    const anonymous = new SharedStore(parseRedisUrl(`rediss://127.0.0.1:${redis.port}`, { caFile }));
    try {
      expect(await Promise.all([noCa.ready(3000), wrong.ready(3000), anonymous.ready(3000)])).toEqual([false, false, false]);
    } finally {
      noCa.disconnect();
      wrong.disconnect();
      anonymous.disconnect();
    }
  });
});
