import { afterAll, beforeAll, expect, test } from 'vitest';
import { sealBackend } from '../../runtime/backends/seal/backend';
import type { DeepPowersService } from '../../runtime/mcp/service';
import { backendEvaluator, type NodeEvaluator, type RunningWorker } from '../../runtime/network/worker';
import { predictToy, QueueCluster } from '../helpers/network-cluster';
import { servedToy } from './mcp-toy';

/**
 * A review node that returns a different result (a test double: an evaluator that flips one
 * byte of an honest result) makes the job disputed: nothing is released or logged, the caller is
 * told which nodes stood on each side, and the dissenting node's dispute count goes up.
 */

const toy = servedToy('toy', 'vector');
let cluster: QueueCluster;
let service: DeepPowersService;
let compute: RunningWorker;
let liar: RunningWorker;
let honest: RunningWorker;
const disposers: (() => void)[] = [];

beforeAll(async () => {
  cluster = await QueueCluster.start({ prefix: 'dp-dispute-', models: [toy.served] });
  service = await cluster.unanimousService('server', 'compute', ['honest', 'liar']);
  const honestEval = await backendEvaluator(sealBackend, [toy.served]);
  disposers.push(honestEval.dispose);
  const lying: NodeEvaluator = async (model, keys, inputs, onProgress, segment) => {
    const out = await honestEval.evaluate(model, keys, inputs, onProgress, segment);
    const result = Uint8Array.from(out.result);
    result[result.length - 1]! ^= 0x01;
    return { ...out, result };
  };
  compute = await cluster.node('compute', 'compute', { evaluator: honestEval.evaluate });
  honest = await cluster.node('honest', 'review', { evaluator: honestEval.evaluate });
  liar = await cluster.node('liar', 'review', { evaluator: lying });
});

afterAll(async () => {
  await cluster?.close();
  for (const d of disposers) d();
});

/** One prediction through an MCP session on `on`, with fresh keys uploaded first. */
const predict = (on: DeepPowersService) => predictToy(on, toy, { rows: 2, seed: 41 });

test('a review node returning a different result: disputed, not released, not logged, nodes named, dispute counted', async () => {
  const logBefore = service.network.log.store.size;
  const r = await predict(service);
  expect(r.isError).toBe(true);
  const text = (r.content[0] as { text: string }).text;
  expect(text).toMatch(/^result disputed, not released: 1 of 2 reviewers agree with compute node [0-9a-f]{16}, 2 required/);
  expect(text).toContain(`agreeing ${honest.identity.id}`);
  expect(text).toContain(`disagreeing ${liar.identity.id}`);
  expect(r.structuredContent).toBeUndefined();
  expect(service.network.log.store.size).toBe(logBefore);
  const status = await service.network.status();
  expect(status.nodes.find((n) => n.node_id === liar.identity.id)?.disputes).toBe(1);
  expect(status.nodes.find((n) => n.node_id === honest.identity.id)?.disputes).toBe(0);
  // A signed contradiction cannot say which side lied: the compute node is counted too.
  expect(status.nodes.find((n) => n.node_id === compute.identity.id)?.disputes).toBe(1);
});

test('a compute node not on the list: its result is refused, no reviewer is asked, nothing is logged', async () => {
  // The compute node that is running is not on this server's list; the one listed is not running.
  const other = await cluster.unanimousService('server-2', 'listed-compute', ['honest']);
  const jobsBefore = (await other.network.status()).nodes.find((n) => n.node_id === honest.identity.id)?.jobs_done;
  const r = await predict(other);
  expect(r.isError).toBe(true);
  expect((r.content[0] as { text: string }).text).toBe(`result refused, not released: node ${compute.identity.id} is not on the nodes list`);
  expect(other.network.log.store.size).toBe(0);
  const status = await other.network.status();
  expect(status.nodes.find((n) => n.node_id === honest.identity.id)?.jobs_done).toBe(jobsBefore);
  expect(status.nodes.map((n) => n.node_id)).not.toContain(compute.identity.id);
});
