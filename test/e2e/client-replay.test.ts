import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CompiledModel } from '../../compiler/artifact/types';
import { simulationBackend } from '../../runtime/backends/simulation-backend';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { clientSplitOf } from '../../compiler/artifact/client-split';
import { bodyCircuits } from '../../compiler/artifact/segments';
import { runPrologue } from '../../compiler/chain/run';
import { bodySteps } from '../../compiler/client-steps/table';
import { clientModelOfBody } from '../../runtime/client/client-model';
import { FheClient } from '../../runtime/client/fhe-client';
import { Keystore } from '../../runtime/client/keystore';
import { startHttpServer, type RunningHttpServer } from '../../runtime/mcp/http';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { PrivateModel } from '../../runtime/mcp/private-model';
import { RemoteServer, type SegmentAnswer } from '../../runtime/mcp/remote';
import { DeepPowersService } from '../../runtime/mcp/service';
import { TokenTable } from '../../runtime/mcp/tokens';
import { silentLogger } from '../../runtime/network/logger';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';

/**
 * A server that lies to `deeppowers client` about a model with client steps
 * (pt_mlp_digits_relu --refresh auto, two segments), served in process on the simulation
 * backend: (1) it answers request 2's client step with request 1's final answer and receipt, a
 * genuine logged result of the same model, keys and segment; (2) it shows the client one log
 * (fork A), then another history under the same log key (fork B). Both were printed as
 * verified before the client bound each prediction to a chain id and kept checkpoints.
 */

const f = loadFixture('pt_mlp_digits_relu');
const ROWS = f.data.test_inputs.slice(0, 2) as number[][];
const TOKEN = 'alice-token-0123456789abcdef';
const PASSPHRASE = 'replay test passphrase, not a real one';
const cut: CompiledModel = compiledFixture(f, { layout: 'vector', refresh: 'auto' });
const served = servedModelOf(cut, 'digits');
const backend = simulationBackend();

let work: string;
const services: DeepPowersService[] = [];
const servers: RunningHttpServer[] = [];

async function serve(dataDir: string): Promise<{ service: DeepPowersService; url: string }> {
  const service = await DeepPowersService.create(backend, [served], dataDir, {}, { logger: silentLogger() });
  const http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TokenTable.parse(`alice:${TOKEN}\n`), log: () => {} });
  services.push(service);
  servers.push(http);
  return { service, url: http.url };
}

/**
 * A RemoteServer the client sees under one fixed URL (so one set of pins), whose calls go to
 * `target()` and whose segment answers `rewrite` may replace.
 */
function liar(target: () => RemoteServer, rewrite: (answer: SegmentAnswer, stepId: string | undefined) => SegmentAnswer = (a) => a): RemoteServer {
  return new Proxy({} as RemoteServer, {
    get(_t, prop) {
      if (prop === 'options') return { ...target().options, url: 'http://liar.example/mcp' };
      if (prop === 'predictSegment') {
        return async (...args: Parameters<RemoteServer['predictSegment']>) => rewrite(await target().predictSegment(...args), args[3]);
      }
      const value = (target() as unknown as Record<string | symbol, unknown>)[prop];
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target()) : value;
    },
  });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'dp-client-replay-'));
}, 60_000);

afterAll(async () => {
  for (const h of servers) await h.close().catch(() => {});
  for (const s of services) await s.close().catch(() => {});
  rmSync(work, { recursive: true, force: true });
});

describe('the server binds each segment to the chain id', () => {
  test("a step answered under another chain_id is refused; each entry records the chain id and the step's two hashes", async () => {
    const { url, service } = await serve(join(work, 'chain-server'));
    const remote = await RemoteServer.connect({ url, token: TOKEN });
    const fhe = await FheClient.create(backend, clientModelOfBody(bodyCircuits(cut), cut.parameters, cut.modelHash, bodySteps(cut)));
    try {
      const keys = fhe.evaluationKeys();
      await remote.uploadKeys(keys.keysId, keys.bytes);
      const chain = 'a1'.repeat(32);
      const request = fhe.encrypt(runPrologue(clientSplitOf(cut), inputTensor(f.data, [ROWS[0]!]))).bytes;
      const first = await remote.predictSegment('digits', keys.keysId, request, undefined, { chainId: chain });
      const fresh = fhe.clientStep(first.step!.masked, 0);
      const other = await remote.predictSegment('digits', keys.keysId, fresh, first.step!.stepId, { chainId: 'b2'.repeat(32) }).then(
        () => 'accepted',
        (e: unknown) => (e as Error).message,
      );
      expect(other).toMatch(/^the server refused predict_digits: client step [0-9a-f]{12}… belongs to another prediction \(another chain_id\); start the prediction again$/);

      const again = await remote.predictSegment('digits', keys.keysId, request, undefined, { chainId: chain });
      const refreshed = fhe.clientStep(again.step!.masked, 0);
      const last = await remote.predictSegment('digits', keys.keysId, refreshed, again.step!.stepId, { chainId: chain });
      const entry = (i: number) => JSON.parse(service.network.log.store.entries(i, i + 1)[0]!.entry.toString('utf8')) as Record<string, unknown>;
      const e0 = entry(again.receipt.index);
      const e1 = entry(last.receipt.index);
      expect(e0).toMatchObject({ chain_id: chain, inputs_sha256: sha256Hex(request) });
      expect(e0.step).toBeUndefined();
      expect(e1).toMatchObject({ chain_id: chain, segment: 1, step: { masked_sha256: sha256Hex(again.step!.masked), returned_sha256: sha256Hex(refreshed) } });
      expect((e1.attestations as { chain_id?: string }[]).map((a) => a.chain_id)).toEqual([chain]);
    } finally {
      fhe.dispose();
      await remote.close();
    }
  }, 120_000);
});

describe('a lying server against deeppowers client', () => {
  test("request 2 answered with request 1's final answer and receipt is refused", async () => {
    const { url } = await serve(join(work, 'replay-server'));
    const remote = await RemoteServer.connect({ url, token: TOKEN });
    let kept: SegmentAnswer | undefined;
    let replay = false;
    const lying = liar(
      () => remote,
      (answer, stepId) => {
        if (stepId === undefined || !answer.result) return answer;
        if (!replay) kept = answer;
        return replay ? kept! : answer;
      },
    );
    const m = await PrivateModel.open(backend, lying, Keystore.open(join(work, 'keystore-replay'), PASSPHRASE), 'digits');
    try {
      const first = await m.predict([ROWS[0]!]);
      expect(first.verification).toMatch(/^verified: computed and signed by the server alone \(no reviewers\), log entries \d+, \d+/);
      expect(kept).toBeDefined();
      replay = true;
      const second = await m.predict([ROWS[1]!]).then(
        (r) => `accepted: ${r.verification} ${JSON.stringify(r.outputs)}`,
        (e: unknown) => (e as Error).message,
      );
      expect(second).toMatch(/^log entry \d+ belongs to another prediction \(its chain id is not the one this client chose for this request\): a stale or replayed answer$/);
    } finally {
      m.dispose();
      await remote.close();
    }
  }, 120_000);

  test('fork A (size 9) then fork B (size 3, another history) under the same log key: B is refused', async () => {
    const dirA = join(work, 'fork-a');
    const a = await serve(dirA);
    const dirB = join(work, 'fork-b');
    mkdirSync(dirB, { recursive: true });
    // The operator runs two histories with one log key (and one server node key, so only the log differs).
    for (const file of ['log-key.key', 'node.key']) copyFileSync(join(dirA, file), join(dirB, file));
    const b = await serve(dirB);
    expect(b.service.network.log.vkey).toBe(a.service.network.log.vkey);
    for (let i = 0; i < 7; i++) a.service.network.log.append({ filler: `a-${i}` });
    for (let i = 0; i < 2; i++) b.service.network.log.append({ filler: `b-${i}` });

    const remoteA = await RemoteServer.connect({ url: a.url, token: TOKEN });
    const remoteB = await RemoteServer.connect({ url: b.url, token: TOKEN });
    let current = remoteA;
    const keystore = Keystore.open(join(work, 'keystore-fork'), PASSPHRASE);
    try {
      const onA = await PrivateModel.open(backend, liar(() => current), keystore, 'digits');
      expect((await onA.predict([ROWS[0]!])).verification).toMatch(/log entries 7, 8/);
      expect(a.service.network.log.store.size).toBe(9);
      onA.dispose();
      current = remoteB;
      const onB = await PrivateModel.open(backend, liar(() => current), keystore, 'digits');
      const text = await onB.predict([ROWS[0]!]).then(
        (r) => `accepted: ${r.verification}`,
        (e: unknown) => (e as Error).message,
      );
      onB.dispose();
      expect(text).toMatch(/^http:\/\/liar\.example\/mcp gave no consistency proof between checkpoint 3 and 9 of its log \(.*\); a forked or rewritten log$/);
      expect(b.service.network.log.store.size).toBe(3);
    } finally {
      await remoteA.close();
      await remoteB.close();
    }
  }, 120_000);
});
