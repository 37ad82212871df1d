import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { DeepPowersService } from '../../runtime/mcp/service';
import { loadOrCreateIdentity, type Identity } from '../../runtime/network/identity';
import { parseRedisUrl, SharedStore, type RedisAddress } from '../../runtime/network/queue';
import { nodeAclLine } from '../../runtime/network/redis-acl';
import { predictToy, QueueCluster } from '../helpers/network-cluster';
import type { RedisOptions } from '../helpers/redis-server';
import { servedToy } from './mcp-toy';

/**
 * The queue across machines as docs/network.md sets it up: Redis over TLS (rediss://, a certificate
 * this test makes with openssl, checked against its CA) with an ACL file — no default user, the
 * server's own user, and each node as its own user with the line `worker --print-acl` prints. A compute node's user then cannot write another
 * node's heartbeat, the server's blame counters or dispute evidence, or take a reviewer's jobs.
 */

const toy = servedToy('toy', 'vector');
const SERVER_PASSWORD = 'server password, not a real one';
let cluster: QueueCluster;
let caFile: string;
let service: DeepPowersService;
let compute: Identity;
let reviewer: Identity;
const urlOf = (user: string, password: string) => `rediss://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${cluster.redis.port}`;
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

/** Certificates, node identities and the users file in `work`; Redis's options to serve TLS only, with that file. */
function tlsWithAcl(work: string): RedisOptions {
  makeCertificates(work);
  caFile = join(work, 'ca.pem');
  compute = loadOrCreateIdentity(join(work, 'compute'), 'node');
  reviewer = loadOrCreateIdentity(join(work, 'reviewer'), 'node');
  // The users file as docs/network.md describes it: no default user, the server's user, and each node's line as
  // `worker --print-acl` prints it (the node's URL is only parsed for its user and password there).
  const nodeLines = ([[compute, 'compute'], [reviewer, 'review']] as const).map(([id, role]) =>
    nodeAclLine(id.id, role, parseRedisUrl(`redis://${encodeURIComponent(nodeUser(id).user)}:${encodeURIComponent(nodeUser(id).password)}@127.0.0.1:1`)),
  );
  const serverHash = createHash('sha256').update(SERVER_PASSWORD).digest('hex');
  writeFileSync(join(work, 'users.acl'), ['user default off', `user dp-server on #${serverHash} ~* &* +@all`, ...nodeLines, ''].join('\n'));
  return {
    extra: ['--tls-cert-file', join(work, 'redis.pem'), '--tls-key-file', join(work, 'redis.key'), '--tls-ca-cert-file', caFile, '--tls-auth-clients', 'no', '--aclfile', join(work, 'users.acl')],
    portArgs: (port) => ['--port', '0', '--tls-port', String(port)],
  };
}

beforeAll(async () => {
  cluster = await QueueCluster.start({ prefix: 'dp-redis-tls-', models: [toy.served], redis: tlsWithAcl });
  service = await cluster.unanimousService('server', 'compute', ['reviewer'], { queue: addressOf('dp-server', SERVER_PASSWORD) });
  const as = (id: Identity) => addressOf(nodeUser(id).user, nodeUser(id).password);
  await cluster.node('compute', 'compute', { queue: as(compute) });
  await cluster.node('reviewer', 'review', { queue: as(reviewer) });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

describe('the queue over rediss:// with a password and an ACL user per node', () => {
  test('a prediction is computed, reviewed and released', async () => {
    const r = await predictToy(service, toy, { rows: 1, seed: 5 });
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ verification: { reviewers: 1, quorum: 1, agreeing: [reviewer.id] } });
    const status = await service.network.status();
    expect(status.nodes.map((n) => [n.node_id, n.jobs_done])).toEqual(
      [
        [compute.id, 1],
        [reviewer.id, 1],
      ].sort(),
    );
  });

  test("a compute node's user can write its own heartbeat, and cannot touch the registry, the blame or a reviewer's queue", async () => {
    const { user, password } = nodeUser(compute);
    const r = new Redis({ host: '127.0.0.1', port: cluster.redis.port, username: user, password, tls: { ca: [readFileSync(caFile)] }, maxRetriesPerRequest: 1 });
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
    const anonymous = new SharedStore(parseRedisUrl(`rediss://127.0.0.1:${cluster.redis.port}`, { caFile }));
    try {
      expect(await Promise.all([noCa.ready(3000), wrong.ready(3000), anonymous.ready(3000)])).toEqual([false, false, false]);
    } finally {
      noCa.disconnect();
      wrong.disconnect();
      anonymous.disconnect();
    }
  });
});
