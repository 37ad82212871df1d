import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Redis } from 'ioredis';
import { fail } from '../../compiler/errors';
import type { Attestation } from './attestation';
import type { ListedNode, ListedRole } from './node-list';
import type { DisputeRecord } from './status';

/**
 * What the server and the nodes share through Redis: the queue names, the job payloads (ids and
 * hashes only — ciphertexts and keys travel as blobs keyed by their SHA-256), the blob store,
 * and the node registry (heartbeats and counters).
 */

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
  /** The URL without its credentials, for messages. */
  readonly url: string;
  /** An ACL user (`redis://USER:PASSWORD@…`); absent: the default user. */
  readonly username?: string;
  readonly password?: string;
  /** `rediss://`: TLS, checked against `ca` when given (else the system's CAs); the certificate must name the host (a DNS name or IP address). */
  readonly tls?: { readonly ca?: Buffer; readonly servername?: string };
}

/**
 * `redis://[[USER]:PASSWORD@]HOST[:PORT]` or `rediss://…` (TLS; `caFile` is the PEM of the CA
 * that signed the server's certificate). Credentials are percent-decoded, as in any URL.
 */
export function parseRedisUrl(url: string, options: { readonly caFile?: string } = {}): RedisAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return fail('BAD_ARGUMENT', `--queue must be a URL like redis://127.0.0.1:6379 or rediss://:PASSWORD@HOST:6380, got "${redact(url)}"`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') fail('BAD_ARGUMENT', `--queue must be a redis:// or rediss:// URL, got "${redact(url)}"`);
  if (u.pathname !== '' && u.pathname !== '/') fail('BAD_ARGUMENT', `--queue: DeepPowers uses Redis database 0; drop "${u.pathname}" from the URL`);
  const tls = u.protocol === 'rediss:';
  if (options.caFile !== undefined && !tls) fail('BAD_ARGUMENT', '--redis-ca is for a rediss:// (TLS) URL');
  const port = u.port === '' ? 6379 : Number(u.port);
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return fail('BAD_ARGUMENT', '--queue: the user or password in the URL is not valid percent-encoding');
    }
  };
  let ca: Buffer | undefined;
  if (options.caFile !== undefined) {
    try {
      ca = readFileSync(options.caFile);
    } catch (e) {
      fail('BAD_ARGUMENT', `cannot read --redis-ca ${options.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!/-----BEGIN CERTIFICATE-----/.test(ca.toString('latin1'))) fail('BAD_ARGUMENT', `--redis-ca ${options.caFile} holds no PEM certificate`);
  }
  return {
    host,
    port,
    url: `${u.protocol}//${u.host || `127.0.0.1:${port}`}`,
    ...(u.username ? { username: decode(u.username) } : {}),
    ...(u.password ? { password: decode(u.password) } : {}),
    // SNI carries DNS names only (RFC 6066); an IP address is checked against the certificate's IP SANs.
    ...(tls ? { tls: { ...(isIP(host) ? {} : { servername: host }), ...(ca ? { ca } : {}) } } : {}),
  };
}

/** A URL as it may be printed: the password replaced. */
function redact(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
}

/** What ioredis needs to reach and log in to `addr`. */
function connectOptions(addr: RedisAddress): { host: string; port: number; username?: string; password?: string; tls?: { ca?: Buffer; servername?: string } } {
  return {
    host: addr.host,
    port: addr.port,
    ...(addr.username !== undefined ? { username: addr.username } : {}),
    ...(addr.password !== undefined ? { password: addr.password } : {}),
    ...(addr.tls ? { tls: { ...addr.tls } } : {}),
  };
}

/** ioredis options for BullMQ connections: reconnect forever (Redis coming back is recovery), never time commands out. */
export function bullConnection(addr: RedisAddress): ReturnType<typeof connectOptions> & { maxRetriesPerRequest: null; retryStrategy: (n: number) => number } {
  return { ...connectOptions(addr), maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(200 * n, 2000) };
}

/** A plain client for blobs and the registry: fails a command at once while Redis is down instead of queueing it. */
export function redisClient(addr: RedisAddress): Redis {
  const r = new Redis({ ...connectOptions(addr), maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: (n) => Math.min(200 * n, 2000) });
  r.on('error', () => {
    // Reported where a command fails; ioredis keeps reconnecting.
  });
  return r;
}

/** Resolve once `redis` is connected, or after `ms` (the caller checks `status`). */
function whenReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export const COMPUTE_QUEUE = 'dp-compute';
export function nodeQueue(nodeId: string): string {
  return `dp-node-${nodeId}`;
}

/** An evaluation for a compute node (name 'evaluate') or a re-execution for a review node (name 'review'). */
export interface EvaluationJobData {
  readonly job_id: string;
  readonly model_hash: string;
  readonly parameter_id: string;
  readonly keys_id: string;
  readonly inputs_sha256: string;
  /** Which circuit of a body with client steps (absent: 0). */
  readonly segment?: number;
  /** The client's nonce for the prediction this job is part of; nodes sign it into their attestations. */
  readonly chain_id?: string;
}

export interface EvaluationJobResult {
  readonly attestation: Attestation;
  readonly evaluations: number;
}

/** A witness request for a review node (name 'cosign'): the checkpoint and a consistency proof from a size it may hold. */
export interface CosignJobData {
  readonly checkpoint: string;
  readonly vkey: string;
  /** Consistency proofs from earlier sizes, keyed by size, so the witness can check from whatever it last cosigned. */
  readonly proofs: Record<string, string[]>;
}

export interface CosignJobResult {
  readonly line: string;
}

/**
 * Redis keys, laid out so that an ACL user per node (redis-acl.ts) can be given exactly what its
 * role needs: blobs (content-addressed, checked by hash on every read), its own heartbeat hash and
 * its own queue (or the shared compute queue); the blame counters and dispute evidence are the
 * server's alone.
 */
export const BLOB_PREFIX = 'dp:blob:';
export const nodeKey = (id: string) => `dp:node:${id}`;
export const blameKey = (id: string) => `dp:blame:${id}`;
export const DISPUTES_KEY = 'dp:disputes';
const DISPUTES_KEPT = 100;

export class BlobStore {
  constructor(private readonly redis: Redis) {}

  async has(sha256: string): Promise<boolean> {
    return (await this.redis.exists(BLOB_PREFIX + sha256)) === 1;
  }

  async put(sha256: string, bytes: Uint8Array, ttlSeconds: number): Promise<void> {
    await this.redis.set(BLOB_PREFIX + sha256, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'EX', ttlSeconds);
  }

  async get(sha256: string): Promise<Buffer | null> {
    return this.redis.getBuffer(BLOB_PREFIX + sha256);
  }
}

export interface NodeRecord {
  readonly node_id: string;
  readonly role: ListedRole;
  /** The key the operator listed for it. */
  readonly public_key: string;
  /** '' when the node never sent one. */
  readonly last_heartbeat: string;
  /** Reported by the node itself. */
  readonly jobs_done: number;
  /** Reported by the node itself. */
  readonly failures: number;
  /** Counted by the server: jobs disputed with this node on the losing side (a compute node whose result a reviewer contradicted, or a dissenting reviewer). */
  readonly disputes: number;
  /** Counted by the server: reviews this node was assigned and did not answer before its deadline. */
  readonly timeouts: number;
}

/** The counters the server keeps against a node. */
export type Blame = 'disputes' | 'timeouts';

export class NodeRegistry {
  constructor(private readonly redis: Redis) {}

  /** A node's own heartbeat; the server reads it only for nodes on its list. */
  async heartbeat(nodeId: string, role: ListedRole): Promise<void> {
    await this.redis.hset(nodeKey(nodeId), { role, last_heartbeat: new Date().toISOString() });
  }

  /** A node counting its own jobs. */
  async count(nodeId: string, field: 'jobs_done' | 'failures'): Promise<void> {
    await this.redis.hincrby(nodeKey(nodeId), field, 1);
  }

  /** The server counting against a node. */
  async blame(nodeId: string, field: Blame): Promise<void> {
    await this.redis.hincrby(blameKey(nodeId), field, 1);
  }

  /** The listed nodes with what Redis says of them; a hash of a node not on the list is never read. */
  async records(listed: readonly ListedNode[]): Promise<NodeRecord[]> {
    const out: NodeRecord[] = [];
    for (const n of [...listed].sort((a, b) => a.node_id.localeCompare(b.node_id))) {
      const h = await this.redis.hgetall(nodeKey(n.node_id));
      const b = await this.redis.hgetall(blameKey(n.node_id));
      out.push({
        node_id: n.node_id,
        role: n.role,
        public_key: n.public_key,
        last_heartbeat: h.last_heartbeat ?? '',
        jobs_done: Number(h.jobs_done ?? 0),
        failures: Number(h.failures ?? 0),
        disputes: Number(b.disputes ?? 0),
        timeouts: Number(b.timeouts ?? 0),
      });
    }
    return out;
  }

  /** Which of `listed` sent a heartbeat at most `freshMs` ago. */
  async fresh(listed: readonly ListedNode[], freshMs: number): Promise<string[]> {
    const now = Date.now();
    return (await this.records(listed)).filter((n) => now - Date.parse(n.last_heartbeat) <= freshMs).map((n) => n.node_id);
  }

  /** Keep a dispute's evidence (the latest 100). */
  async recordDispute(record: DisputeRecord): Promise<void> {
    await this.redis.lpush(DISPUTES_KEY, JSON.stringify(record));
    await this.redis.ltrim(DISPUTES_KEY, 0, DISPUTES_KEPT - 1);
  }

  /** The latest disputes, newest first. */
  async disputes(count = 20): Promise<DisputeRecord[]> {
    // Only the server writes this list where Redis has per-node ACL users; without them, skip what is not a record.
    return (await this.redis.lrange(DISPUTES_KEY, 0, count - 1)).flatMap((s) => {
      try {
        const r = JSON.parse(s) as DisputeRecord;
        return typeof r === 'object' && r !== null && typeof r.job_id === 'string' && typeof r.tenant === 'string' && Array.isArray(r.attestations) ? [r] : [];
      } catch {
        return [];
      }
    });
  }
}

/** What the server and a node each open on Redis: a plain client, with the blob store and the node registry on it. */
export class SharedStore {
  readonly redis: Redis;
  readonly blobs: BlobStore;
  readonly registry: NodeRegistry;

  constructor(readonly address: RedisAddress) {
    this.redis = redisClient(address);
    this.blobs = new BlobStore(this.redis);
    this.registry = new NodeRegistry(this.redis);
  }

  /** Whether Redis is connected, waiting up to `ms` for a connection still being made. */
  async ready(ms: number): Promise<boolean> {
    await whenReady(this.redis, ms);
    return this.redis.status === 'ready';
  }

  disconnect(): void {
    this.redis.disconnect();
  }
}
