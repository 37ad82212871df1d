import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CompiledModel } from '../../compiler/artifact/types';
import { simulationBackend } from '../../runtime/backends/simulation-backend';
import { Keystore } from '../../runtime/client/keystore';
import { startHttpServer, type RunningHttpServer } from '../../runtime/mcp/http';
import { PrivateModel } from '../../runtime/mcp/private-model';
import { RemoteServer } from '../../runtime/mcp/remote';
import type { DeepPowersService } from '../../runtime/mcp/service';
import { TokenTable } from '../../runtime/mcp/tokens';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { compiledFixture } from '../helpers/compiled-fixture';
import { loadFixture } from '../helpers/fixtures';
import { QueueCluster } from '../helpers/network-cluster';

/**
 * A transformer served as a tool through the compute network: pt_attn_digits_rows compiled with
 * default options (vector layout, six segments at N = 16384, a client step between each two:
 * attention, Softmax, LayerNorm and the GELU feed-forward evaluated by the server), served in
 * process over HTTP with a compute node and 2 review nodes behind a Redis queue, on the
 * simulation backend (the same seam as SEAL, in the clear, so three nodes run each segment in
 * seconds; the README's session runs it on SEAL through `deeppowers serve` and `client`).
 * `deeppowers client`'s private model drives the five client steps; each segment is a job
 * re-executed by both reviewers and logged; the client verifies every entry, and the logits give
 * torch's labels (data.json).
 */

const f = loadFixture('pt_attn_digits_rows');
const ROWS = f.data.test_inputs.slice(0, 2) as number[][][];
const TORCH = f.data.expected['output'] as number[][];
const LABELS = f.data.expected['label_derived'] as number[];
const TOKEN = 'alice-token-0123456789abcdef';
const backend = simulationBackend();
const argmax = (xs: readonly number[]) => xs.indexOf(Math.max(...xs));

let model: CompiledModel;
let cluster: QueueCluster;
let service: DeepPowersService;
let http: RunningHttpServer;

beforeAll(async () => {
  // Default options but the layout: auto lowers the batch layout too, only to find it over the heap.
  model = compiledFixture(f, { layout: 'vector' });
  cluster = await QueueCluster.start({ prefix: 'dp-mcp-transformer-net-', models: [servedModelOf(model, 'attn')], backend });
  service = await cluster.unanimousService('server', 'compute', ['review-1', 'review-2']);
  http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TokenTable.parse(`alice:${TOKEN}\n`), log: () => {} });
  await cluster.node('compute', 'compute');
  await cluster.node('review-1', 'review');
  await cluster.node('review-2', 'review');
}, 240_000);

afterAll(async () => {
  await http?.close();
  await cluster?.close();
});

describe('a transformer on compute and review nodes', () => {
  test('private_predict runs every segment as a job re-executed by 2 reviewers and logged, the client steps in between; torch\'s labels', async () => {
    const segments = (model.refresh?.segments.length ?? 0) + 1;
    expect(segments).toBeGreaterThan(2);
    const remote = await RemoteServer.connect({ url: http.url, token: TOKEN });
    const m = await PrivateModel.open(backend, remote, Keystore.open(cluster.dir('keystore'), 'test passphrase, not a real one'), 'attn');
    try {
      const out = await m.predict(ROWS);
      const logits = out.outputs['output'] as number[][];
      const { approximationError, noiseBound } = model.calibration.precision;
      logits.forEach((row, r) => {
        expect(argmax(row), `row ${r}`).toBe(LABELS[r]);
        // Within what the compile bounds, and within one of torch's logits (as transformer-seal asks of SEAL).
        row.forEach((v, i) => expect(Math.abs(v - TORCH[r]![i]!), `row ${r} logit ${i}`).toBeLessThan(Math.min(1, approximationError + noiseBound)));
      });
      // Both rows in one request: one round trip per client step.
      expect(out.client_steps!.count).toBe(segments - 1);
      const entries = /^verified: 2 of 2 reviewers, log entries ([\d, ]+)/.exec(out.verification);
      expect(entries, out.verification).not.toBeNull();
      const indices = entries![1]!.split(', ').map(Number);
      expect(indices).toHaveLength(segments);
      // Each entry names its segment, and the compute node and both reviewers attested that segment.
      indices.forEach((index, k) => {
        const entry = JSON.parse(service.network.log.store.entries(index, index + 1)[0]!.entry.toString('utf8')) as {
          segment?: number;
          attestations: { role: string; segment?: number }[];
        };
        expect(entry.segment ?? 0, `entry ${index}`).toBe(k);
        expect(entry.attestations.map((a) => [a.role, a.segment ?? 0])).toEqual([
          ['compute', k],
          ['review', k],
          ['review', k],
        ]);
      });
    } finally {
      m.dispose();
      await remote.close();
    }
  }, 300_000);
});
