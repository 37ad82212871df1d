/**
 * A client that lies at a softmax client step, over MCP against the real server (simulation
 * backend: the same seams as SEAL, in the clear). The hand-cut model of test/helpers/segmented-tiny.ts
 * has a softmax step, a segment, a LayerNorm step and a segment. Nothing is unmasked from a softmax
 * row, so whatever attention weights the client sends back, the rest of the model runs on them
 * exactly: steering the row to (1, 0) gives the same outputs for every input — the layers after
 * the step evaluated at a point of the liar's choosing, as SOFTMAX.dishonestClient says. The
 * served tool's description says so too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { finalizeCompiledModel } from '../../compiler/artifact/codec';
import { clientViewFromJson } from '../../compiler/artifact/views';
import { simulationBackend } from '../../runtime/backends/simulation-backend';
import { FheClient } from '../../runtime/client/fhe-client';
import { startHttpServer } from '../../runtime/mcp/http';
import { clientModelOfView } from '../../runtime/mcp/private-model';
import { RemoteServer } from '../../runtime/mcp/remote';
import { DeepPowersService } from '../../runtime/mcp/service';
import { TokenTable } from '../../runtime/mcp/tokens';
import { silentLogger } from '../../runtime/network/logger';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { segmentedTiny, segmentedTinyReference, TINY_LAYER_NORM } from '../helpers/segmented-tiny';

const TOKEN = 'mallory-0123456789abcdef0123';
const work = mkdtempSync(join(tmpdir(), 'dp-probe-norm-'));
const closers: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  rmSync(work, { recursive: true, force: true });
});

describe('a client that lies at a softmax step', () => {
  test('returning attention weights of its own runs the rest of the model on them exactly, whatever the input', async () => {
    const model = finalizeCompiledModel(segmentedTiny());
    const served = servedModelOf(model, 'tiny');
    expect(JSON.stringify(served.card)).toMatch(/at its softmax step, returning attention weights of its own runs the next segment on them exactly/);
    const backend = simulationBackend();
    const service = await DeepPowersService.create(backend, [served], join(work, 'data'), {}, { logger: silentLogger() });
    closers.push(() => service.close());
    const http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TokenTable.parse(`mallory:${TOKEN}\n`), log: () => {} });
    closers.push(() => http.close());
    const remote = await RemoteServer.connect({ url: http.url, token: TOKEN });
    closers.push(() => remote.close());
    const fhe = await FheClient.create(backend, clientModelOfView(clientViewFromJson((await remote.describe('tiny')).client_view)));
    closers.push(() => fhe.dispose());
    const keys = fhe.evaluationKeys();
    await remote.uploadKeys(keys.keysId, keys.bytes);

    /** One prediction; at the softmax step (the first) `tamper` edits what the client decrypted before its softmax. */
    async function query(x: Float64Array, tamper: (z: Float64Array[]) => void = () => {}): Promise<Float64Array> {
      let answer = await remote.predictSegment('tiny', keys.keysId, fhe.encrypt([x]).bytes, undefined);
      for (let step = 0; answer.step; step++) {
        const z = fhe.decryptStep(answer.step.masked, step);
        if (step === 0) tamper(z);
        answer = await remote.predictSegment('tiny', keys.keysId, fhe.encryptStep(z, step + 1), answer.step.stepId);
      }
      return fhe.decrypt(answer.result!, 1)[0]!;
    }

    // Vector layout, one sample: the softmax row is slots 0 and 1 of the one result ciphertext.
    const steer = (z: Float64Array[]) => {
      z[0]![0] = 40;
      z[0]![1] = -40;
    };
    // Weights (1, 0) → LayerNorm (1, −1) → γ·n + β = (1.2345, 3.25) → the last segment's (y₀, −y₁).
    const forced = [TINY_LAYER_NORM.gamma[0]! + TINY_LAYER_NORM.beta[0]!, -(-TINY_LAYER_NORM.gamma[1]! + TINY_LAYER_NORM.beta[1]!)];
    // Inputs whose honest row puts more weight on element 1 (a LayerNorm of two values is their sign pattern).
    for (const x of [Float64Array.of(1.5, 0.3, 0.5), Float64Array.of(0.8, 0.3, 0.5)]) {
      const honest = await query(x);
      segmentedTinyReference(x).forEach((w, i) => expect(Math.abs(honest[i]! - w)).toBeLessThan(0.01));
      const lied = await query(x, steer);
      lied.forEach((v, i) => expect(Math.abs(v - forced[i]!), `output ${i}`).toBeLessThan(1e-3));
      expect(Math.max(...honest.map((v, i) => Math.abs(v - forced[i]!)))).toBeGreaterThan(0.1);
    }
  }, 60_000);
});
