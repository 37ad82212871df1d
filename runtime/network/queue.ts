import { Redis } from 'ioredis';
import { fail } from '../../compiler/errors';
import type { Attestation, NodeRole } from './attestation';

/**
 * What the server and the nodes share through Redis: the queue names, the job payloads (ids and
 * hashes only — ciphertexts and keys travel as blobs keyed by their SHA-256), the blob store,
 * and the node registry (heartbeats and counters).
 */

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
  readonly url: string;
}

export function parseRedisUrl(url: string): RedisAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return fail('BAD_ARGUMENT', `--queue must be a URL like redis://127.0.0.1:6379, got "${url}"`);
  }
  if (u.protocol !== 'redis:') fail('BAD_ARGUMENT', `--queue must be a redis:// URL, got "${url}"`);
  const port = u.port === '' ? 6379 : Number(u.port);
  return { host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port, url: `redis://${u.host || `127.0.0.1:${port}`}` };
}

/** ioredis options for BullMQ connections: reconnect forever (Redis coming back is recovery), never time commands out. */
export function bullConnection(addr: RedisAddress): { host: string; port: number; maxRetriesPerRequest: null; retryStrategy: (n: number) => number } {
  return { host: addr.host, port: addr.port, maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(200 * n, 2000) };
}

/** A plain client for blobs and the registry: fails a command at once while Redis is down instead of queueing it. */
export function redisClient(addr: RedisAddress): Redis {
  const r = new Redis({ host: addr.host, port: addr.port, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: (n) => Math.min(200 * n, 2000) });
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

const BLOB_PREFIX = 'dp:blob:';
const NODES_KEY = 'dp:nodes';
const nodeKey = (id: string) => `dp:node:${id}`;

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
  readonly role: NodeRole;
  readonly last_heartbeat: string;
  readonly jobs_done: number;
  readonly failures: number;
  readonly disputes: number;
}

export class NodeRegistry {
  constructor(private readonly redis: Redis) {}

  async heartbeat(nodeId: string, role: NodeRole): Promise<void> {
    await this.redis.sadd(NODES_KEY, nodeId);
    await this.redis.hset(nodeKey(nodeId), { role, last_heartbeat: new Date().toISOString() });
  }

  async count(nodeId: string, field: 'jobs_done' | 'failures' | 'disputes'): Promise<void> {
    await this.redis.hincrby(nodeKey(nodeId), field, 1);
  }

  async list(): Promise<NodeRecord[]> {
    const ids = (await this.redis.smembers(NODES_KEY)).sort();
    const out: NodeRecord[] = [];
    for (const id of ids) {
      const h = await this.redis.hgetall(nodeKey(id));
      out.push({
        node_id: id,
        role: (h.role ?? 'compute') as NodeRole,
        last_heartbeat: h.last_heartbeat ?? '',
        jobs_done: Number(h.jobs_done ?? 0),
        failures: Number(h.failures ?? 0),
        disputes: Number(h.disputes ?? 0),
      });
    }
    return out;
  }

  /** Review nodes whose heartbeat is at most `freshMs` old. */
  async liveReviewers(freshMs: number): Promise<string[]> {
    const now = Date.now();
    return (await this.list()).filter((n) => n.role === 'review' && now - Date.parse(n.last_heartbeat) <= freshMs).map((n) => n.node_id);
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
