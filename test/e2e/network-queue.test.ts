import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { clientViewFromJson } from '../../compiler/artifact/views';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { auditVerify } from '../../runtime/app/audit-verify';
import { FheClient } from '../../runtime/client/fhe-client';
import { encodeBase64 } from '../../runtime/mcp/base64';
import { clientModelOfView } from '../../runtime/mcp/private-model';
import { RemoteServer } from '../../runtime/mcp/remote';
import type { ModelDescription } from '../../runtime/service/served-model';
import { PinStore } from '../../runtime/network/pins';
import { describeVerification, verifyRelease, type ReleaseReceipt } from '../../runtime/network/verify-result';
import type { RowOutputs } from '../../runtime/run/outputs';
import { writeCompiledFixture } from '../helpers/compiled-fixture';
import { loadFixture } from '../helpers/fixtures';
import { hostPrivatePredict, printNodeLine, startCliServe, startCliWorker } from '../helpers/network-cluster';
import { BIN, ROOT } from '../helpers/paths';
import { ProcessGroup, stopProcess, type WatchedProcess } from '../helpers/processes';
import { startRedis, type TestRedis } from '../helpers/redis-server';

/**
 * The compute network as users start it: Redis (started here, stopped by pid), `deeppowers
 * serve --queue … --reviewers 2 --quorum 2`, one compute and two review `deeppowers worker`
 * processes, and a host calling private_predict through `deeppowers client`. Then the same as
 * an MCP task, a compute worker killed mid-job, and Redis going away and coming back.
 */

const FIXTURE = loadFixture('sk_logreg_iris_multinomial');
const ROWS = FIXTURE.data.test_inputs.slice(0, 4) as number[][];
const PASSPHRASE = 'network e2e passphrase, not a real one';

const group = new ProcessGroup();
let work: string;
const nodesFile = () => join(work, 'nodes.txt');
let compiledDir: string;
let redisPort: number;
let redis: TestRedis | undefined;
let server: WatchedProcess;
let serverUrl: string;
const workers: Record<string, WatchedProcess> = {};
const nodeIds: Record<string, string> = {};
const queueUrl = () => `redis://127.0.0.1:${redisPort}`;

const printId = (name: string, role: 'compute' | 'review') => printNodeLine(group, role, join(work, name));

async function startWorker(name: string, role: 'compute' | 'review'): Promise<void> {
  const w = await startCliWorker(group, compiledDir, queueUrl(), join(work, name), role, ['--lock-ms', '3000']);
  workers[name] = w.worker;
  nodeIds[name] = w.nodeId;
}

/** An MCP client straight to the server, plus an FHE client with keys uploaded, for calls the host's client does not make. */
async function directClient(): Promise<{ mcp: Client; fhe: FheClient; keysId: string; description: ModelDescription; remote: RemoteServer }> {
  const remote = await RemoteServer.connect({ url: serverUrl });
  const description = await remote.describe('iris');
  const fhe = await FheClient.create(sealBackend, clientModelOfView(clientViewFromJson(description.client_view)));
  const keys = fhe.evaluationKeys();
  await remote.uploadKeys(keys.keysId, keys.bytes);
  const mcp = new Client({ name: 'direct', version: '0' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(serverUrl)));
  await mcp.listTools();
  return { mcp, fhe, keysId: keys.keysId, description, remote };
}

function bodySamples(rows: number, count: number): Float64Array[] {
  return Array.from({ length: count }, (_, i) => Float64Array.from(ROWS[i % ROWS.length]!.slice(0, rows)));
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-network-'));
  compiledDir = join(work, 'iris.compiled');
  writeCompiledFixture(FIXTURE, compiledDir, 'vector');
  redis = await startRedis(work);
  redisPort = redis.port;
  const lines = await Promise.all([printId('compute-a', 'compute'), printId('review-a', 'review'), printId('review-b', 'review')]);
  writeFileSync(nodesFile(), `# the nodes this server trusts\n${lines.join('')}`);
  ({ server, url: serverUrl } = await startCliServe(group, { compiledDir, dataDir: join(work, 'server'), queueUrl: queueUrl(), reviewers: 2, quorum: 2, nodesFile: nodesFile() }));
  await Promise.all([startWorker('compute-a', 'compute'), startWorker('review-a', 'review'), startWorker('review-b', 'review')]);
});

afterAll(async () => {
  group.killAll();
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('server + 1 compute + 2 review nodes over Redis', () => {
  test('worker --print-id prints the nodes-file line of the same node id the running node uses', async () => {
    const line = await printId('review-a', 'review');
    expect(line.split(' ')[0]).toBe(nodeIds['review-a']);
    expect(readFileSync(nodesFile(), 'utf8')).toContain(line);
  });

  test('the host gets the right labels through deeppowers client, "verified: 2 of 2 reviewers, log entry N"', async () => {
    const r = await hostPrivatePredict(['--server', serverUrl, '--keystore', join(work, 'keystore')], { DEEPPOWERS_PASSPHRASE: PASSPHRASE }, 'iris', ROWS);
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    const out = r.structuredContent as { outputs: RowOutputs; verification: string };
    expect(out.outputs.output_label).toEqual(FIXTURE.data.expected.label!.slice(0, ROWS.length));
    expect(out.verification).toMatch(/^verified: 2 of 2 reviewers, log entr(y \d+|ies [\d, ]+); checkpoint cosigned by 2 reviewers(; first use of this server: pinned its log key and node set)?$/);
    const statusRes = await fetch(new URL('/status', serverUrl));
    const status = (await statusRes.json()) as { mode: string; nodes: { node_id: string; role: string; jobs_done: number }[]; reviewers: number };
    expect(status.mode).toBe('queue');
    expect(status.nodes.map((n) => [n.node_id, n.role]).sort()).toEqual(
      [
        [nodeIds['compute-a'], 'compute'],
        [nodeIds['review-a'], 'review'],
        [nodeIds['review-b'], 'review'],
      ].sort(),
    );
    expect(status.nodes.every((n) => n.jobs_done >= 1)).toBe(true);
  });

  test('the same as an MCP task: created → working → completed, result fetched later and verified', async () => {
    const { mcp, fhe, keysId, description, remote } = await directClient();
    try {
      const request = fhe.encrypt(bodySamples(description.inputs[0]!.shape[1] as number, 3));
      const statuses: string[] = [];
      let taskId = '';
      for await (const m of mcp.experimental.tasks.callToolStream(
        { name: 'predict_iris', arguments: { keys_id: keysId, ciphertexts: encodeBase64(request.bytes) } },
        CallToolResultSchema,
        { task: { ttl: 600_000 }, timeout: 120_000 },
      )) {
        if (m.type === 'taskCreated') {
          taskId = m.task.taskId;
          statuses.push('created');
        } else if (m.type === 'taskStatus') statuses.push(m.task.status);
        else if (m.type === 'error') throw m.error;
      }
      expect(statuses[0]).toBe('created');
      expect(statuses).toContain('working');
      expect(statuses.at(-1)).toBe('completed');
      const later = (await mcp.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)) as CallToolResult;
      const out = later.structuredContent as { result: string; log: ReleaseReceipt };
      const result = new Uint8Array(Buffer.from(out.result, 'base64'));
      const facts = { inputs: request.bytes, result, keysId, modelHash: description.model_hash, chainId: null };
      const v = await verifyRelease(serverUrl, PinStore.open(join(work, 'pins-task')), out.log, facts, (a, b) => remote.consistencyProof(a, b));
      expect(describeVerification([v])).toBe(
        `verified: 2 of 2 reviewers, log entry ${out.log.index}; checkpoint cosigned by 2 reviewers; first use of this server: pinned its log key and node set`,
      );
      expect(fhe.decrypt(result, 3)).toHaveLength(3);
    } finally {
      await mcp.close();
      await remote.close();
      fhe.dispose();
    }
  });

  test("worker --print-acl prints the node's Redis ACL line: its own user, the password's SHA-256, its blobs, heartbeat and queue", async () => {
    const p = group.start(process.execPath, [BIN, 'worker', '--print-acl', '--role', 'review', '--data-dir', join(work, 'review-a'), '--queue', 'rediss://node-ra:p%40ss@redis.example:6380']);
    const line = (await p.waitFor(/^user .*\n/))[0].trim();
    const id = nodeIds['review-a']!;
    const hash = createHash('sha256').update('p@ss').digest('hex');
    expect(line.split(' ').slice(0, 4)).toEqual(['user', 'node-ra', 'reset', 'on']);
    expect(line.split(' ')).toEqual(expect.arrayContaining([`#${hash}`, '~dp:blob:*', `~dp:node:${id}`, `~bull:dp-node-${id}:*`, '-@admin', '-@dangerous']));
    expect(line).not.toContain('p@ss');
    expect(line).not.toMatch(/~\*|~dp:node:\*|~bull:dp-compute/);
  });

  test('serve refuses --queue without a nodes file, and a bad one, in one line', () => {
    const serve = (...args: string[]) => spawnSync(process.execPath, [BIN, 'serve', compiledDir, '--stdio', '--data-dir', join(work, 'refused'), '--queue', queueUrl(), ...args], { cwd: ROOT, encoding: 'utf8' });
    const none = serve();
    expect(none.status).toBe(2);
    expect(none.stderr).toBe('deeppowers: error: --queue needs --nodes FILE: the nodes you trust, one line each as `deeppowers worker --print-id --role compute|review` prints it\n');
    const bad = join(work, 'bad-nodes.txt');
    writeFileSync(bad, `# ok\n${nodeIds['review-a']} review not-a-key\n`);
    const refused = serve('--nodes', bad);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe(`deeppowers: error: ${bad} line 2: the public key is 32 bytes in base64 (44 characters), got "not-a-key"\n`);
  });

  test('SIGHUP re-reads the nodes file; a bad one is reported in one line and the list in force stays', async () => {
    const good = readFileSync(nodesFile(), 'utf8');
    let from = server.output().length;
    writeFileSync(nodesFile(), `${good}not a node line\n`);
    process.kill(server.proc.pid!, 'SIGHUP');
    const bad = await server.waitFor(/nodes file not reloaded, the previous list stays in force: (.*)\n/, 30_000, from);
    expect(bad[1]).toBe(`${nodesFile()} line ${good.split('\n').length}: expected "<node id> <compute|review> <public key>" (as \`deeppowers worker --print-id\` prints it), got "not a node line"`);
    // The list in force still serves: a compute node added to the file counts after the next SIGHUP.
    writeFileSync(nodesFile(), good + (await printId('compute-b', 'compute')));
    from = server.output().length;
    process.kill(server.proc.pid!, 'SIGHUP');
    await server.waitFor(/reloaded: trusted nodes from \S+: 2 compute, 2 review/, 30_000, from);
  });

  test('a compute worker killed (by pid) mid-job: the job completes on another worker', async () => {
    await startWorker('compute-b', 'compute');
    const { fhe, keysId, description, remote } = await directClient();
    try {
      const request = fhe.encrypt(bodySamples(description.inputs[0]!.shape[1] as number, 60));
      const seen = { a: workers['compute-a']!.output().length, b: workers['compute-b']!.output().length };
      const answer = remote.predictWithReceipt('iris', keysId, request.bytes);
      const startedOn = (name: string, from: number) =>
        workers[name]!.waitFor(/"event":"job\.started","job_id":"([0-9a-f]+)"/, 90_000, from).then((m) => ({ name, jobId: m[1]! }));
      const { name: started, jobId } = await Promise.race([startedOn('compute-a', seen.a), startedOn('compute-b', seen.b)]);
      const survivor = started === 'compute-a' ? 'compute-b' : 'compute-a';
      await stopProcess(workers[started]!.proc, 'SIGKILL');
      const { result, receipt } = await answer;
      const entry = JSON.parse(Buffer.from(receipt.entry, 'base64').toString()) as { job_id: string; attestations: { node_id: string; role: string }[] };
      // The job the killed node had started is the one released, computed by the other node after the stall.
      expect(entry.job_id).toBe(jobId);
      expect(entry.attestations[0]).toMatchObject({ node_id: nodeIds[survivor], role: 'compute' });
      expect(workers[survivor]!.output().slice(seen[survivor === 'compute-a' ? 'a' : 'b'])).toMatch(/"event":"job\.started","job_id":"[0-9a-f]+","bull_job":"[0-9a-f]+","attempt":\d+,"stalled":1/);
      expect(fhe.decrypt(result, 60)).toHaveLength(60);
    } finally {
      await remote.close();
      fhe.dispose();
    }
  });

  test('Redis down: the server says so; when it is back, jobs run again', async () => {
    const { fhe, keysId, description, remote } = await directClient();
    try {
      const request = fhe.encrypt(bodySamples(description.inputs[0]!.shape[1] as number, 1));
      await redis!.stop();
      await expect(remote.predictWithReceipt('iris', keysId, request.bytes)).rejects.toThrow(
        new RegExp(`the job queue is unavailable: Redis at redis://127\\.0\\.0\\.1:${redisPort} is not reachable`),
      );
      redis = await startRedis(work, { port: redisPort });
      // Workers re-register on their next heartbeat; the first job after that runs.
      let last: unknown;
      for (let i = 0; i < 30; i++) {
        try {
          const { receipt } = await remote.predictWithReceipt('iris', keysId, request.bytes);
          expect(receipt.index).toBeGreaterThan(0);
          last = undefined;
          break;
        } catch (e) {
          last = e;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      expect(last).toBeUndefined();
    } finally {
      await remote.close();
      fhe.dispose();
    }
  });

  test("the untouched log verifies against the checkpoint the host's client kept, its latest checkpoint cosigned by both listed reviewers", async () => {
    await stopProcess(server.proc);
    // What an auditor holds from outside the log: the client's pins.json (log key and kept checkpoint) and the operator's nodes file.
    const report = await auditVerify({ dataDir: join(work, 'server'), since: join(work, 'keystore', 'pins.json'), witnessKeys: nodesFile(), minCosignatures: '2', nodes: nodesFile() });
    expect(report.ok, JSON.stringify(report.problems)).toBe(true);
    expect(report.warnings).toEqual([]);
    expect(report.entries).toBeGreaterThanOrEqual(4);
    expect(report.since!.size).toBeGreaterThan(0);
    expect(report.since!.size).toBeLessThan(report.entries);
    expect(report.latest!.cosignedBy).toHaveLength(2);
  });
});
