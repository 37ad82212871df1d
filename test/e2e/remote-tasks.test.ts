import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Task } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { CompiledModel } from '../../compiler/artifact/types';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { Keystore } from '../../runtime/client/keystore';
import { PrivateModel } from '../../runtime/mcp/private-model';
import { RemoteServer } from '../../runtime/mcp/remote';
import { writeCompiledFixture } from '../helpers/compiled-fixture';
import { loadFixture } from '../helpers/fixtures';
import { printNodeLine, startCliServe } from '../helpers/network-cluster';
import { ProcessGroup } from '../helpers/processes';
import { startRedis, type TestRedis } from '../helpers/redis-server';
import { startServeWithTokens, type ServeProcess } from '../helpers/serve-process';
import { tempDirForFile } from '../helpers/temp-dirs';

/**
 * The client (RemoteServer, shared by `deeppowers client`, PrivateModel and the browser client)
 * against a spawned `deeppowers serve --http`, which offers tasks for tools/call: predict_<model>
 * goes out as an MCP task (tools/call with a task, tasks/get, tasks/result; seen on the wire and
 * in the tenant's tasks/list), the labels are scikit-learn's and the log entry verifies, and an
 * abort cancels the server's task (tasks/cancel; the task ends cancelled).
 */
const IRIS = loadFixture('sk_logreg_iris_multinomial');
const TOKEN = 'tasks-0123456789abcdef0123456789ab';
const PASSPHRASE = 'remote tasks test passphrase';

const work = tempDirForFile('dp-remote-tasks-');
let served: ServeProcess;
let iris: CompiledModel;

beforeAll(async () => {
  iris = writeCompiledFixture(IRIS, join(work, 'iris'), 'vector');
  served = await startServeWithTokens([join(work, 'iris')], work, { alice: TOKEN }, ['--threads', '1']);
}, 120_000);

afterAll(async () => {
  await served?.stop();
});

interface Sent {
  readonly method: string;
  readonly params: { name?: string; task?: unknown; taskId?: string };
}

/** The JSON-RPC requests this process POSTs while `run` runs (the SDK's transport calls the global fetch). */
async function recordRequests<T>(run: () => Promise<T>): Promise<{ sent: Sent[]; outcome: PromiseSettledResult<T> }> {
  const spy = vi.spyOn(globalThis, 'fetch');
  try {
    const outcome = (await Promise.allSettled([run()]))[0]!;
    const sent = spy.mock.calls
      .map(([, init]) => init?.body)
      .filter((b): b is string => typeof b === 'string')
      .map((b) => JSON.parse(b) as Sent | { method?: undefined })
      .filter((m): m is Sent => typeof m.method === 'string');
    return { sent, outcome };
  } finally {
    spy.mockRestore();
  }
}

/** The tenant's tasks as the server lists them (tasks/list on a session of its own). */
async function tenantTasks(url: string, token?: string): Promise<Task[]> {
  const client = new Client({ name: 'tasks-test', version: '0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: token ? { Authorization: `Bearer ${token}` } : {} } }));
  try {
    const tasks: Task[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 20; page++) {
      const r = await client.experimental.tasks.listTasks(cursor);
      tasks.push(...r.tasks);
      if (!(cursor = r.nextCursor)) break;
    }
    return tasks;
  } finally {
    await client.close();
  }
}

async function openIris(remote: RemoteServer, keystoreDir: string): Promise<PrivateModel> {
  return PrivateModel.open(sealBackend, remote, Keystore.open(join(work, keystoreDir), PASSPHRASE, { create: true }), 'iris');
}

describe('predict_<model> as an MCP task', () => {
  test('the prediction goes through a task (created, polled, result read), with progress; labels are scikit-learn\'s and the log entry verifies', async () => {
    const remote = await RemoteServer.connect({ url: served.url, token: TOKEN });
    try {
      const m = await openIris(remote, 'keystore-1');
      const rows = IRIS.data.test_inputs.slice(0, 2);
      const progress: { done: number; total: number }[] = [];
      const { sent, outcome } = await recordRequests(() => m.predict(rows, { onProgress: (p) => progress.push(p) }));
      m.dispose();
      if (outcome.status === 'rejected') throw outcome.reason;
      const out = outcome.value;

      // On the wire: each request of the prediction a task-augmented tools/call of predict_iris, polled with tasks/get
      // and read with tasks/result, once each; no plain call.
      const calls = sent.filter((s) => s.method === 'tools/call' && s.params.name === 'predict_iris');
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.every((c) => c.params.task !== undefined)).toBe(true);
      const results = sent.filter((s) => s.method === 'tasks/result').map((s) => s.params.taskId!);
      expect(results).toHaveLength(calls.length);
      expect(new Set(results).size).toBe(results.length);
      const polled = new Set(sent.filter((s) => s.method === 'tasks/get').map((s) => s.params.taskId!));
      expect([...polled].sort()).toEqual([...results].sort());
      // The server kept them as this tenant's tasks, completed.
      const listed = await tenantTasks(served.url, TOKEN);
      expect(results.map((id) => listed.find((t) => t.taskId === id)?.status)).toEqual(results.map(() => 'completed'));

      // Progress still arrives (on the session's stream, the creating request having ended), up to every evaluation.
      expect(progress.length).toBeGreaterThan(0);
      expect(progress.at(-1)!.done).toBe(progress.at(-1)!.total);

      // scikit-learn's labels exactly, its probabilities within the model's promise; the log entry checked.
      const expected = IRIS.data.expected as { label: number[]; probabilities: number[][] };
      expect(out.outputs['output_label']).toEqual(expected.label.slice(0, 2));
      const probabilities = out.outputs['output_probability'] as Record<string, number>[];
      const { bound } = iris.calibration.precision;
      expected.probabilities.slice(0, 2).forEach((row, r) => row.forEach((p, k) => expect(Math.abs(probabilities[r]![String(k)]! - p), `row ${r} class ${k}`).toBeLessThan(bound)));
      // One log entry per request, each verified.
      const entries = /^verified: computed and signed by the server alone \(no reviewers\), log entr(?:y|ies) ([\d, ]+)(; first use of this server: pinned its log key and node set)?$/.exec(out.verification);
      expect(entries, out.verification).not.toBeNull();
      expect(entries![1]!.split(', ')).toHaveLength(calls.length);
    } finally {
      await remote.close();
    }
  }, 180_000);

});

/**
 * Aborting, against `deeppowers serve --queue` with a compute node listed and none running: the
 * job waits in the queue, so the task is certainly still working when the client cancels it.
 */
describe('aborting a prediction', () => {
  const group = new ProcessGroup();
  let redis: TestRedis | undefined;
  let url: string;

  beforeAll(async () => {
    const dir = join(work, 'queued');
    mkdirSync(dir);
    redis = await startRedis(dir);
    writeFileSync(join(dir, 'nodes.txt'), await printNodeLine(group, 'compute', join(dir, 'compute-a')));
    ({ url } = await startCliServe(group, {
      compiledDir: join(work, 'iris'),
      dataDir: join(dir, 'server'),
      queueUrl: `redis://127.0.0.1:${redis.port}`,
      reviewers: 0,
      quorum: 0,
      nodesFile: join(dir, 'nodes.txt'),
    }));
  }, 120_000);

  afterAll(async () => {
    group.killAll();
    await redis?.stop();
  });

  test('cancels its task on the server (tasks/cancel; the task ends cancelled, no result read)', async () => {
    const remote = await RemoteServer.connect({ url });
    try {
      const m = await openIris(remote, 'keystore-queued');
      // Keys first, so the abort lands on the prediction and not on the upload.
      await m.ensureKeys();
      const abort = new AbortController();
      // The server's first progress (job accepted) comes before the task's id: the client must still cancel that task.
      const { sent, outcome } = await recordRequests(() => m.predict(IRIS.data.test_inputs.slice(0, 1), { signal: abort.signal, onProgress: () => abort.abort() }));
      m.dispose();
      expect(outcome.status).toBe('rejected');
      expect(String((outcome as PromiseRejectedResult).reason)).toMatch(/predict_iris was cancelled \(and its task [0-9a-f]{12}… on the server\)$/);
      const created = sent.filter((s) => s.method === 'tools/call' && s.params.name === 'predict_iris');
      expect(created).toHaveLength(1);
      expect(created[0]!.params.task).toBeDefined();
      const cancels = sent.filter((s) => s.method === 'tasks/cancel');
      expect(cancels).toHaveLength(1);
      expect(sent.some((s) => s.method === 'tasks/result')).toBe(false);
      const task = (await tenantTasks(url)).find((t) => t.taskId === cancels[0]!.params.taskId);
      expect(task?.status).toBe('cancelled');
    } finally {
      await remote.close();
    }
  }, 180_000);
});
