import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { clientSplitOf } from '../../compiler/artifact/client-split';
import { bodyCircuits } from '../../compiler/artifact/segments';
import type { CompiledModel } from '../../compiler/artifact/types';
import { runPrologue } from '../../compiler/chain/run';
import { simulationBackend } from '../../runtime/backends/simulation-backend';
import { bodySteps } from '../../compiler/client-steps/table';
import { clientModelOfBody } from '../../runtime/client/client-model';
import { FheClient } from '../../runtime/client/fhe-client';
import { Keystore } from '../../runtime/client/keystore';
import { startHttpServer, type RunningHttpServer } from '../../runtime/mcp/http';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { PrivateModel } from '../../runtime/mcp/private-model';
import { RemoteServer } from '../../runtime/mcp/remote';
import type { DeepPowersService } from '../../runtime/mcp/service';
import { TokenTable } from '../../runtime/mcp/tokens';
import { QueueCluster } from '../helpers/network-cluster';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';

/**
 * A model with client steps (pt_mlp_digits_relu --refresh auto) served in process over HTTP, on
 * the simulation backend (the same seam as SEAL, in the clear, so three nodes run in seconds):
 * with a compute node and 2 review nodes behind a Redis queue, each segment is its own job,
 * re-executed by both reviewers against that segment's circuit and logged, and the client
 * verifies each entry; the outputs agree with PyTorch (data.json). A malformed answer to a step
 * is refused in one line and leaves the step waiting.
 */

const f = loadFixture('pt_mlp_digits_relu');
const ROWS = f.data.test_inputs.slice(0, 3) as number[][];
const EXPECTED = f.data.expected['output'] as number[][];
const TOKEN = 'alice-token-0123456789abcdef';
const cut: CompiledModel = compiledFixture(f, { layout: 'vector', refresh: 'auto' });
const served = servedModelOf(cut, 'digits');
const backend = simulationBackend();
const argmax = (xs: readonly number[]) => xs.indexOf(Math.max(...xs));

let cluster: QueueCluster;
let service: DeepPowersService;
let http: RunningHttpServer;

beforeAll(async () => {
  cluster = await QueueCluster.start({ prefix: 'dp-mcp-refresh-net-', models: [served], backend });
  service = await cluster.unanimousService('server', 'compute', ['review-1', 'review-2']);
  http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TokenTable.parse(`alice:${TOKEN}\n`), log: () => {} });
  await cluster.node('compute', 'compute');
  await cluster.node('review-1', 'review');
  await cluster.node('review-2', 'review');
}, 60_000);

afterAll(async () => {
  await http?.close();
  await cluster?.close();
});

describe('a model with client steps on compute and review nodes', () => {
  test('every segment is a job re-executed by 2 reviewers and logged; the client verifies each; outputs agree with PyTorch', async () => {
    expect(cut.refresh?.segments.length).toBe(1);
    const remote = await RemoteServer.connect({ url: http.url, token: TOKEN });
    const m = await PrivateModel.open(backend, remote, Keystore.open(cluster.dir('keystore'), 'test passphrase, not a real one'), 'digits');
    try {
      const out = await m.predict(ROWS);
      const logits = out.outputs['output'] as number[][];
      const { bound } = cut.calibration.precision;
      logits.forEach((row, r) => {
        expect(argmax(row), `row ${r}`).toBe(argmax(EXPECTED[r]!));
        row.forEach((v, i) => expect(Math.abs(v - EXPECTED[r]![i]!), `row ${r} output ${i}`).toBeLessThan(bound));
      });
      const steps = out.client_steps!.count;
      expect(steps).toBeGreaterThanOrEqual(1);
      const entries = /^verified: 2 of 2 reviewers, log entries ([\d, ]+)/.exec(out.verification);
      expect(entries, out.verification).not.toBeNull();
      expect(entries![1]!.split(', ')).toHaveLength(2 * steps);
      // The later segment's entry names it, and both reviewers attested that segment.
      const index = Number(entries![1]!.split(', ')[1]);
      const last = JSON.parse(service.network.log.store.entries(index, index + 1)[0]!.entry.toString('utf8')) as {
        segment?: number;
        attestations: { role: string; segment?: number }[];
      };
      expect(last.segment).toBe(1);
      expect(last.attestations.map((a) => [a.role, a.segment])).toEqual([
        ['compute', 1],
        ['review', 1],
        ['review', 1],
      ]);
    } finally {
      m.dispose();
      await remote.close();
    }
  }, 120_000);

  test('a malformed answer to a step is refused in one line and the step still waits', async () => {
    const remote = await RemoteServer.connect({ url: http.url, token: TOKEN });
    const fhe = await FheClient.create(backend, clientModelOfBody(bodyCircuits(cut), cut.parameters, cut.modelHash, bodySteps(cut)));
    try {
      const keys = fhe.evaluationKeys();
      await remote.uploadKeys(keys.keysId, keys.bytes);
      const request = fhe.encrypt(runPrologue(clientSplitOf(cut), inputTensor(f.data, [ROWS[0]!]))).bytes;
      const first = await remote.predictSegment('digits', keys.keysId, request, undefined);
      const step = first.step!;
      const error = await remote.predictSegment('digits', keys.keysId, Uint8Array.of(1, 2, 3), step.stepId).then(
        () => 'accepted',
        (e: unknown) => (e as Error).message,
      );
      expect(error).toMatch(/^the server refused predict_digits: /);
      expect(error).not.toMatch(/\n|\s+at /);
      const last = await remote.predictSegment('digits', keys.keysId, fhe.clientStep(step.masked, 0), step.stepId);
      expect(last.segment).toBe(1);
      expect(argmax([...fhe.decrypt(last.result!, 1)[0]!])).toBe(argmax(EXPECTED[0]!));
    } finally {
      fhe.dispose();
      await remote.close();
    }
  }, 120_000);
});
