import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeCompiledModel, encodeCompiledModel } from '../../compiler/artifact/codec';
import { DeepPowersError } from '../../compiler/errors';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { importModel } from '../../compiler/onnx/import';
import { compileModel } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { FheClient, type EvaluationKeyBundle } from '../../runtime/client/fhe-client';
import { batchTensor, parseRows } from '../../runtime/data/load-rows';
import { startHttpServer, type RunningHttpServer } from '../../runtime/mcp/http';
import { DeepPowersService } from '../../runtime/mcp/service';
import { TokenTable } from '../../runtime/mcp/tokens';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { mulberry32 } from '../helpers/random';
import { simulateSamples } from '../../runtime/backends/simulate';
import { toySamples } from './seal-test-circuits';
import { servedToy } from './mcp-toy';
import { tempDirForFile } from '../helpers/temp-dirs';

/**
 * A seeded, bounded fuzz pass over every input a DeepPowers process takes from outside: ONNX
 * files, data files, compiled models, ciphertext envelopes, key uploads, bearer tokens and MCP
 * sessions. Every input must end in a clean error (DeepPowersError, or an HTTP status below 500)
 * or an answer; afterwards the server must still answer a valid request correctly. The server
 * listens on 127.0.0.1 only; each class has a fixed count, so the suite is bounded in time.
 */

const SEED = 0xf022;
const rand = mulberry32(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const counts: Record<string, { inputs: number; clean: number; answered: number }> = {};

/** Runs one fuzz input: a DeepPowersError is a clean refusal, anything else thrown fails the suite. */
function outcome(cls: string, run: () => unknown): void {
  const c = (counts[cls] ??= { inputs: 0, clean: 0, answered: 0 });
  c.inputs++;
  try {
    run();
    c.answered++;
  } catch (e) {
    if (!(e instanceof DeepPowersError)) throw new Error(`${cls} input ${c.inputs} (seed ${SEED}): not a clean error: ${(e as Error).stack ?? String(e)}`);
    expect(e.message).not.toContain('\n');
    c.clean++;
  }
}
function httpOutcome(cls: string, status: number): void {
  const c = (counts[cls] ??= { inputs: 0, clean: 0, answered: 0 });
  c.inputs++;
  expect(status, `${cls} input ${c.inputs} (seed ${SEED})`).toBeLessThan(500);
  if (status < 400) c.answered++;
  else c.clean++;
}

function mutateBytes(input: Uint8Array): Uint8Array {
  let b = input.slice();
  for (let s = 1 + int(3); s > 0 && b.length > 0; s--) {
    const at = int(b.length);
    switch (int(4)) {
      case 0:
        b[at] = b[at]! ^ (1 << int(8));
        break;
      case 1:
        b = b.subarray(0, at);
        break;
      case 2:
        b = Uint8Array.from([...b.subarray(0, at), ...Array.from({ length: 1 + int(8) }, () => int(256)), ...b.subarray(at)]);
        break;
      default:
        b[at] = pick([0, 0x7f, 0x80, 0xff]);
    }
  }
  return b;
}

function mutateText(text: string): string {
  const pieces = ['1e309', '-1e39', 'NaN', '', ',', ';', '\t', '"', '[', ']', '{', '}', 'null', '0x10', '1,5', '\n', '\r\n', '\uFEFF', '9'.repeat(400), 'true'];
  let t = text;
  for (let s = 1 + int(3); s > 0; s--) {
    const at = int(t.length + 1);
    t = int(3) === 0 ? t.slice(0, at) + t.slice(at + 1 + int(5)) : t.slice(0, at) + pick(pieces) + t.slice(at);
  }
  return t;
}

const iris = loadFixture('sk_logreg_iris_multinomial');
const TOKEN_A = 'alice-token-0123456789abcdef';
const toy = servedToy('toy', 'vector');
const work = tempDirForFile('dp-fuzz-');
let service: DeepPowersService;
let http: RunningHttpServer;
let fhe: FheClient;
let bundle: EvaluationKeyBundle;

beforeAll(async () => {
  service = await DeepPowersService.create(sealBackend, [toy.served], work, { maxKeyBytes: 16 * 1024 * 1024, maxMessageBytes: 1024 * 1024 });
  http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TokenTable.parse(`alice:${TOKEN_A}`), log: () => {} });
  fhe = await FheClient.create(sealBackend, toy.clientModel);
  bundle = fhe.evaluationKeys();
  const res = await fetch(new URL(`keys/${bundle.keysId}`, http.url), { method: 'PUT', body: bundle.bytes, headers: { Authorization: `Bearer ${TOKEN_A}` } });
  expect(res.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await http?.close();
  await service?.close();
  fhe?.dispose();
  console.log(`fuzz (seed ${SEED}): ${Object.entries(counts).map(([k, c]) => `${k} ${c.inputs} (${c.clean} refused, ${c.answered} answered)`).join('; ')}`);
});

describe('fuzz', () => {
  test('ONNX files: a mutated model is refused at import, or imports and runs a row or refuses it', () => {
    const bytes = new Uint8Array(readFileSync(iris.modelPath));
    const row = inputTensor(iris.data, iris.data.test_inputs.slice(0, 1));
    for (let i = 0; i < 150; i++) {
      outcome('onnx', () => {
        const graph = importModel(mutateBytes(bytes), 'fuzz.onnx');
        runGraph(graph, new Map([[graph.inputs[0]!.name, row]]));
      });
    }
  });

  test('data files: mutated CSV and JSON rows are refused with a reason, or read as finite float32 values', () => {
    const spec = { inputName: 'x', dtype: 'float32' as const, rowShape: [4], fixedBatch: null };
    const rows = iris.data.test_inputs.slice(0, 5) as number[][];
    const csv = `a,b,c,d\n${rows.map((r) => r.join(',')).join('\n')}\n`;
    const json = JSON.stringify({ rows });
    for (let i = 0; i < 300; i++) {
      const asJson = i % 2 === 0;
      outcome('data', () => {
        const batch = parseRows(mutateText(asJson ? json : csv), asJson ? 'f.json' : 'f.csv', spec);
        const t = batchTensor(batch, spec);
        for (const v of t.data) expect(Number.isFinite(v)).toBe(true);
      });
    }
  });

  test('compiled models: edited manifests and constants are refused on load, never half-read', () => {
    const model = toCompiledModel(compileModel(iris.modelPath, { calibration: inputTensor(iris.data, iris.data.calibration) }), { calibration: inputTensor(iris.data, iris.data.calibration) }, 'fuzz');
    const files = encodeCompiledModel(model);
    const manifest = typeof files.manifest === 'string' ? files.manifest : new TextDecoder().decode(files.manifest);
    for (let i = 0; i < 120; i++) {
      const editManifest = i % 3 !== 0;
      outcome('compiled', () =>
        decodeCompiledModel({
          manifest: editManifest ? mutateText(manifest) : manifest,
          constants: editManifest ? files.constants : mutateBytes(files.constants),
        }),
      );
    }
  });

  test('envelopes: mutated ciphertext envelopes are refused by the server or evaluated; the server still answers correctly after', async () => {
    const samples = toySamples(1, toy.toy.circuit.inputSize, 5);
    const request = fhe.encrypt(samples).bytes;
    const modelId = toy.served.server.modelHash;
    for (let i = 0; i < 60; i++) {
      const c = (counts['envelope'] ??= { inputs: 0, clean: 0, answered: 0 });
      c.inputs++;
      try {
        await service.withKeys('alice', bundle.keysId, () => service.fhe.evaluate(modelId, bundle.keysId, mutateBytes(request)));
        c.answered++;
      } catch (e) {
        if (!(e instanceof DeepPowersError)) throw new Error(`envelope input ${c.inputs}: not a clean error: ${String(e)}`);
        c.clean++;
      }
    }
    // The right answer after the burst: the decrypted result matches the circuit run in the clear.
    const good = await service.withKeys('alice', bundle.keysId, () => service.fhe.evaluate(modelId, bundle.keysId, request));
    const expected = simulateSamples(toy.toy.circuit, samples);
    const got = fhe.decrypt(good, 1)[0]!;
    got.forEach((v, k) => expect(Math.abs(v - expected[0]![k]!)).toBeLessThan(1e-2));
  }, 60_000);

  test('key uploads, tokens and sessions over HTTP: never a 5xx, and a valid session works after', async () => {
    const url = (path: string) => new URL(path, http.url).href;
    const auth = { Authorization: `Bearer ${TOKEN_A}` };
    for (let i = 0; i < 100; i++) {
      const body = mutateBytes(bundle.bytes.subarray(0, 2000 + int(4000)));
      const id = pick([createHash('sha256').update(body).digest('hex'), bundle.keysId, 'x'.repeat(64), '../etc', '']);
      const r = await fetch(url(`keys/${id}`), { method: pick(['PUT', 'PUT', 'HEAD', 'GET', 'DELETE', 'POST']), ...(i % 6 === 0 ? {} : { body }), headers: auth }).catch(() => undefined);
      // A rejected fetch is the server hanging up on a body it refused to read: a clean refusal too.
      if (r) await r.arrayBuffer();
      httpOutcome('key upload', r?.status ?? 499);
    }
    for (let i = 0; i < 80; i++) {
      const token = pick([TOKEN_A.slice(0, int(TOKEN_A.length)), `${TOKEN_A}x`, 'Bearer', '', '\u00e9'.repeat(20), TOKEN_A.toUpperCase()]);
      const header = pick([`Bearer ${token}`, `bearer ${token}`, token, `Basic ${token}`, `Bearer  ${token} extra`]);
      const r = await fetch(url('mcp'), { method: 'POST', body: '{}', headers: { Authorization: header.replace(/[^\x20-\x7e]/g, '?'), 'Content-Type': 'application/json' } });
      await r.arrayBuffer();
      httpOutcome('token', r.status);
      outcome('token', () => TokenTable.parse(mutateText(`alice:${TOKEN_A}\n# c\nbob:${TOKEN_A}zz\n`)));
    }
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } });
    for (let i = 0; i < 80; i++) {
      const sid = pick([undefined, 'not-a-session', '00000000-0000-0000-0000-000000000000', '\u0000'.replace(/./, '?')]);
      const r = await fetch(url('mcp'), {
        method: pick(['POST', 'GET', 'DELETE', 'PUT']),
        ...(i % 4 === 3 ? {} : { body: mutateText(init) }),
        headers: { ...auth, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...(sid ? { 'mcp-session-id': sid } : {}) },
      }).catch(() => undefined);
      // A GET on a new SSE stream stays open: read nothing, close it.
      await r?.body?.cancel();
      httpOutcome('session', r?.status ?? 499);
    }
    const ok = await fetch(url('mcp'), { method: 'POST', body: init, headers: { ...auth, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' } });
    expect(ok.status).toBe(200);
    await ok.text();
    const total = Object.values(counts).reduce((a, c) => a + c.inputs, 0);
    expect(total).toBeGreaterThan(900);
  }, 60_000);
});
