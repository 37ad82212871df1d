import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { clientViewFromJson } from '../../compiler/artifact/views';
import type { CompiledModel } from '../../compiler/artifact/types';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { FheClient } from '../../runtime/client/fhe-client';
import { Keystore } from '../../runtime/client/keystore';
import { clientModelOfView, PrivateModel } from '../../runtime/mcp/private-model';
import { RemoteServer } from '../../runtime/mcp/remote';
import { runPrologue } from '../../compiler/chain/run';
import { clientSplitOf } from '../../compiler/artifact/client-split';
import { writeCompiledFixture } from '../helpers/compiled-fixture';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { startServeWithTokens, type ServeProcess } from '../helpers/serve-process';
import { tempDirForFile } from '../helpers/temp-dirs';

/**
 * A model compiled with --refresh auto (pt_mlp_digits_relu: two segments at N = 16384), served by
 * a spawned `deeppowers serve --http`: `deeppowers client`'s private model drives the client step
 * (the server masks segment 1's result, the client decrypts and encrypts it again, the server
 * unmasks and runs segment 2), every segment's log entry is verified, and the logits agree with
 * PyTorch's (data.json) within the model's precision promise. A step id is answered once, by the
 * tenant that started it, with the keys it was made with.
 */
const FIXTURE = loadFixture('pt_mlp_digits_relu');
const ROWS = 2;
const TOKEN_A = 'alice-0123456789abcdef0123456789';
const TOKEN_B = 'bob-0123456789abcdef0123456789ab';

const work = tempDirForFile('dp-mcp-refresh-');
let model: CompiledModel;
let served: ServeProcess;

beforeAll(async () => {
  const dir = join(work, 'digits.compiled');
  model = writeCompiledFixture(FIXTURE, dir, 'vector', { refresh: 'auto' });
  served = await startServeWithTokens([dir], work, { alice: TOKEN_A, bob: TOKEN_B }, ['--threads', '1']);
}, 120_000);

afterAll(async () => {
  await served?.stop();
});

describe('a model with client steps over MCP', () => {
  test('private_predict runs both segments with one client step per request; logits within the promise of PyTorch', async () => {
    expect(model.refresh?.segments.length).toBe(1);
    const remote = await RemoteServer.connect({ url: served.url, token: TOKEN_A });
    try {
      const keystore = Keystore.open(join(work, 'keystore-direct'), 'refresh test passphrase', { create: true });
      const m = await PrivateModel.open(sealBackend, remote, keystore, 'digits');
      const rows = FIXTURE.data.test_inputs.slice(0, ROWS);
      const progress: { done: number; total: number }[] = [];
      const out = await m.predict(rows, { onProgress: (p) => progress.push(p) });
      // Progress counts every segment's evaluations, never going back.
      expect(progress.every((p) => p.total === 2 * ROWS)).toBe(true);
      expect(progress.at(-1)?.done).toBe(2 * ROWS);
      progress.slice(1).forEach((p, i) => expect(p.done).toBeGreaterThanOrEqual(progress[i]!.done));
      m.dispose();
      // Both rows in one request (sized by the byte budget before the first is sent): one round trip for the step.
      const steps = out.client_steps!.count;
      expect(steps).toBe(1);
      expect(out.client_steps!.bytes).toBeGreaterThan(0);
      // One log entry per segment of each request, each verified.
      const entries = /^verified: computed and signed by the server alone \(no reviewers\), log entries ([\d, ]+)(; first use of this server: pinned its log key and node set)?$/.exec(out.verification);
      expect(entries, out.verification).not.toBeNull();
      expect(entries![1]!.split(', ')).toHaveLength(2 * steps);
      const logits = out.outputs['output'] as number[][];
      const expected = FIXTURE.data.expected['output'] as number[][];
      const { bound } = model.calibration.precision;
      logits.forEach((row, r) => row.forEach((v, i) => expect(Math.abs(v - expected[r]![i]!), `row ${r} logit ${i}`).toBeLessThan(bound)));
    } finally {
      await remote.close();
    }
  }, 300_000);

  test('a step id is answered once, only by its tenant, with its keys', async () => {
    const a = await RemoteServer.connect({ url: served.url, token: TOKEN_A });
    const b = await RemoteServer.connect({ url: served.url, token: TOKEN_B });
    const description = await a.describe('digits');
    const fhe = await FheClient.create(sealBackend, clientModelOfView(clientViewFromJson(description.client_view)));
    try {
      const keys = fhe.evaluationKeys();
      await a.uploadKeys(keys.keysId, keys.bytes);
      await b.uploadKeys(keys.keysId, keys.bytes);
      const samples = runPrologue(clientSplitOf(clientViewFromJson(description.client_view)), inputTensor(FIXTURE.data, FIXTURE.data.test_inputs.slice(0, 1)));
      const request = fhe.encrypt(samples).bytes;
      const first = await a.predictSegment('digits', keys.keysId, request, undefined);
      expect(first.segment).toBe(0);
      expect(first.segments).toBe(2);
      expect(first.result).toBeUndefined();
      const step = first.step!;
      const fresh = fhe.clientStep(step.masked, 0);
      const refused = async (r: RemoteServer, keysId: string, stepId: string) => {
        try {
          await r.predictSegment('digits', keysId, fresh, stepId);
        } catch (e) {
          return (e as Error).message;
        }
        return 'accepted';
      };
      expect(await refused(b, keys.keysId, step.stepId)).toMatch(/^the server refused predict_digits: no client step [0-9a-f]{12}… is waiting: it was answered already, expired \(after 600 s\) or never made; start the prediction again$/);
      expect(await refused(a, 'f'.repeat(64), step.stepId)).toMatch(/unknown keys_id f{64}/);
      const last = await a.predictSegment('digits', keys.keysId, fresh, step.stepId);
      expect(last.segment).toBe(1);
      expect(last.step).toBeUndefined();
      expect(fhe.decrypt(last.result!, 1)[0]!.length).toBe(10);
      expect(await refused(a, keys.keysId, step.stepId)).toMatch(/no client step [0-9a-f]{12}… is waiting/);
      expect(await refused(a, keys.keysId, 'not-a-step')).toMatch(/no client step not-a-step… is waiting/);
    } finally {
      fhe.dispose();
      await a.close();
      await b.close();
    }
  }, 300_000);
});
