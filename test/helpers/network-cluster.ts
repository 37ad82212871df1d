import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { FheBackend } from '../../runtime/backends/backend';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { FheClient } from '../../runtime/client/fhe-client';
import { encodeBase64 } from '../../runtime/mcp/base64';
import type { ServedModel } from '../../runtime/service/served-model';
import { DeepPowersService, LOCAL_TENANT } from '../../runtime/mcp/service';
import { silentLogger, type Logger } from '../../runtime/network/logger';
import { TrustedNodes, type ListedRole } from '../../runtime/network/node-list';
import { parseRedisUrl, type RedisAddress } from '../../runtime/network/queue';
import { QueueRunner } from '../../runtime/network/queue-runner';
import { startWorker, type RunningWorker, type WorkerOptions } from '../../runtime/network/worker';
import { toySamples } from '../e2e/seal-test-circuits';
import type { ServedToy } from '../e2e/mcp-toy';
import { connectHost, connectInMemory, uploadInChunks } from './mcp-session';
import { BIN } from './paths';
import type { ProcessGroup, WatchedProcess } from './processes';
import { startRedis, type RedisOptions, type TestRedis } from './redis-server';
import { trustedNodesOf } from './trusted-nodes';

/**
 * The compute network's setup, shared by the network tests: in process, a Redis with queue
 * services (reviewers, quorum, a nodes list) and nodes on it, and the calls a client makes
 * through them; or as users start it, `deeppowers serve --queue`, `deeppowers worker` and
 * `deeppowers client` processes.
 */

// --- in process ---

export interface ClusterOptions {
  /** The work dir's prefix under the OS's temporary folder. */
  readonly prefix: string;
  /** What the services serve and the nodes evaluate. */
  readonly models: readonly ServedModel[];
  /** Default: SEAL. */
  readonly backend?: FheBackend;
  /** Redis's own options; run in the fresh work dir first (to write the certificates or ACL file they name). */
  readonly redis?: (work: string) => RedisOptions;
}

export interface ClusterServiceOptions {
  /** Its data dir, under the work dir. */
  readonly name: string;
  readonly reviewers: number;
  readonly quorum: number;
  /** The nodes list, or the names (data dirs under the work dir) and roles of the nodes to list. */
  readonly nodes: TrustedNodes | readonly (readonly [name: string, role: ListedRole])[];
  /** Default: plain redis:// to the cluster's Redis, no user. */
  readonly queue?: RedisAddress;
  readonly logger?: Logger;
  readonly jobTimeoutMs?: number;
  readonly reviewTimeoutMs?: number;
}

/**
 * A Redis on a free loopback port in a fresh work dir, and the queue services (as `deeppowers
 * serve --queue … --nodes FILE` runs them) and nodes started on it; `close` stops them all.
 */
export class QueueCluster {
  /** The nodes still to close (a test that closes one itself takes it out). */
  readonly nodes: RunningWorker[] = [];
  private readonly services: DeepPowersService[] = [];
  readonly logger = silentLogger();

  private constructor(
    readonly work: string,
    readonly redis: TestRedis,
    private readonly models: readonly ServedModel[],
    private readonly backend: FheBackend,
  ) {}

  static async start(o: ClusterOptions): Promise<QueueCluster> {
    const work = mkdtempSync(join(tmpdir(), o.prefix));
    try {
      const redis = await startRedis(work, o.redis?.(work));
      return new QueueCluster(work, redis, o.models, o.backend ?? sealBackend);
    } catch (e) {
      rmSync(work, { recursive: true, force: true });
      throw e;
    }
  }

  /** A data dir under the work dir. */
  dir(name: string): string {
    return join(this.work, name);
  }

  /** The cluster's Redis as a plain redis:// address with no user. */
  get queue(): RedisAddress {
    return parseRedisUrl(`redis://127.0.0.1:${this.redis.port}`);
  }

  async service(o: ClusterServiceOptions): Promise<DeepPowersService> {
    const logger = o.logger ?? this.logger;
    const nodes = o.nodes instanceof TrustedNodes ? o.nodes : trustedNodesOf(o.nodes.map(([name, role]) => [this.dir(name), role] as const));
    const queue = o.queue ?? this.queue;
    const timeouts = { ...(o.jobTimeoutMs !== undefined ? { jobTimeoutMs: o.jobTimeoutMs } : {}), ...(o.reviewTimeoutMs !== undefined ? { reviewTimeoutMs: o.reviewTimeoutMs } : {}) };
    const service = await DeepPowersService.create(this.backend, this.models, this.dir(o.name), {}, {
      logger,
      runner: (ctx) => new QueueRunner({ queue, reviewers: o.reviewers, quorum: o.quorum, nodes, log: ctx.log, logger, readKeys: ctx.readKeys, ...timeouts }),
    });
    this.services.push(service);
    return service;
  }

  /**
   * A service listing one compute node and the review nodes `reviewers` (data dir names), each of
   * which re-executes every job and must agree: reviewers and quorum are their count.
   */
  async unanimousService(name: string, compute: string, reviewers: readonly string[], extra: Pick<ClusterServiceOptions, 'queue' | 'logger'> = {}): Promise<DeepPowersService> {
    return this.service({ name, reviewers: reviewers.length, quorum: reviewers.length, nodes: [[compute, 'compute'], ...reviewers.map((r) => [r, 'review'] as const)], ...extra });
  }

  /** A node with its data dir `name` under the work dir; `evaluator` and `queue` as in WorkerOptions (default: honest, the cluster's Redis). */
  async node(name: string, role: ListedRole, extra: Pick<WorkerOptions, 'evaluator'> & { readonly queue?: RedisAddress } = {}): Promise<RunningWorker> {
    const worker = await startWorker({ models: this.models, backend: this.backend, queue: this.queue, logger: this.logger, ...extra, dataDir: this.dir(name), role });
    this.nodes.push(worker);
    return worker;
  }

  /** Close the nodes, then the services, then Redis; remove the work dir. */
  async close(): Promise<void> {
    for (const n of this.nodes) await n.close().catch(() => {});
    for (const s of this.services) await s.close().catch(() => {});
    await this.redis.stop();
    rmSync(this.work, { recursive: true, force: true });
  }
}

export interface ToyRequest {
  /** How many toy rows, and the seed they are drawn with. */
  readonly rows: number;
  readonly seed: number;
  readonly timeoutMs?: number;
}

/**
 * One predict_<toy> call through a fresh in-memory MCP session on `service` (on SEAL), with
 * fresh keys uploaded first. `read` sees the answer while the client that can decrypt it is still alive.
 */
export async function predictToy<T = CallToolResult>(
  service: DeepPowersService,
  toy: ServedToy,
  request: ToyRequest,
  read: (r: CallToolResult, fhe: FheClient) => T = (r) => r as T,
): Promise<T> {
  const fhe = await FheClient.create(sealBackend, toy.clientModel);
  const keys = fhe.evaluationKeys();
  let client: Client | undefined;
  try {
    client = await connectInMemory(service, LOCAL_TENANT);
    const upload = await uploadInChunks(client, keys.keysId, keys.bytes);
    if (upload.isError) throw new Error(`upload_keys refused: ${JSON.stringify(upload.content)}`);
    const ciphertexts = encodeBase64(fhe.encrypt(toySamples(request.rows, toy.toy.circuit.inputSize, request.seed)).bytes);
    const r = (await client.callTool({ name: toy.served.card.tool, arguments: { keys_id: keys.keysId, ciphertexts } }, undefined, {
      timeout: request.timeoutMs ?? 120_000,
    })) as CallToolResult;
    return read(r, fhe);
  } finally {
    await client?.close();
    fhe.dispose();
  }
}

// --- as users start it ---

/** The line `deeppowers worker --print-id` prints: node id, role, public key. */
export const NODE_LINE = /^([0-9a-f]{16}) (compute|review) ([A-Za-z0-9+/]{43}=)\n/;

/** The node's line for the nodes file, as the operator gets it: `deeppowers worker --print-id`. */
export async function printNodeLine(group: ProcessGroup, role: ListedRole, dataDir: string, extra: readonly string[] = []): Promise<string> {
  const p = group.start(process.execPath, [BIN, 'worker', '--print-id', '--role', role, '--data-dir', dataDir, ...extra]);
  return (await p.waitFor(NODE_LINE))[0];
}

export interface CliWorker {
  readonly worker: WatchedProcess;
  /** The node id it says it runs as. */
  readonly nodeId: string;
}

/** `deeppowers worker DIR --queue URL --data-dir … --role …`, once it has said which node it is. */
export async function startCliWorker(group: ProcessGroup, compiledDir: string, queueUrl: string, dataDir: string, role: ListedRole, extra: readonly string[] = []): Promise<CliWorker> {
  const worker = group.start(process.execPath, [BIN, 'worker', compiledDir, '--queue', queueUrl, '--data-dir', dataDir, '--role', role, ...extra]);
  const nodeId = (await worker.waitFor(new RegExp(`deeppowers worker: ${role} node ([0-9a-f]{16})`)))[1]!;
  return { worker, nodeId };
}

export interface CliServeOptions {
  readonly compiledDir: string;
  readonly dataDir: string;
  readonly queueUrl: string;
  readonly reviewers: number;
  readonly quorum: number;
  readonly nodesFile: string;
  readonly extra?: readonly string[];
}

/** `deeppowers serve DIR --http 127.0.0.1:0 --insecure-no-auth --queue URL …`, once it says where it listens. */
export async function startCliServe(group: ProcessGroup, o: CliServeOptions): Promise<{ server: WatchedProcess; url: string }> {
  const server = group.start(process.execPath, [
    BIN, 'serve', o.compiledDir, '--http', '127.0.0.1:0', '--insecure-no-auth', '--data-dir', o.dataDir,
    '--queue', o.queueUrl, '--reviewers', String(o.reviewers), '--quorum', String(o.quorum), '--nodes', o.nodesFile, ...(o.extra ?? []),
  ]);
  const url = (await server.waitFor(/listening on (http:\/\/\S+\/mcp)/))[1]!;
  return { server, url };
}

/** A host calling private_predict through `deeppowers client …` (see connectHost). */
export async function hostPrivatePredict(clientArgs: readonly string[], env: Record<string, string>, model: string, rows: readonly (readonly number[])[]): Promise<CallToolResult> {
  const host = await connectHost(clientArgs, env);
  try {
    return (await host.callTool({ name: 'private_predict', arguments: { model, rows } })) as CallToolResult;
  } finally {
    await host.close();
  }
}
