import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CompiledModel } from '../../compiler/artifact/types';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { contextSpecOf, maxEncodable } from '../../runtime/backends/backend';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { createSealContext } from '../../runtime/backends/seal/context';
import { noteTrap, sealTrapped } from '../../runtime/backends/seal/seal-module';
import { Keystore } from '../../runtime/client/keystore';
import { createPrivateClientServer } from '../../runtime/mcp/client';
import { startHttpServer, type RunningHttpServer } from '../../runtime/mcp/http';
import { servedModelOf } from '../../runtime/mcp/load-served-model';
import { DeepPowersService } from '../../runtime/mcp/service';
import { TokenTable } from '../../runtime/mcp/tokens';
import { inputTensor, loadFixture } from '../helpers/fixtures';

/**
 * `deeppowers client` is a long-lived process: no row may break it. Values the model cannot
 * encode and rows far outside the calibrated range are refused (naming row and feature) before
 * they reach SEAL, and a WebAssembly trap in SEAL rebuilds the instance instead of leaving every
 * later call failing. Client and server run in this process, over loopback HTTP.
 */

const FIXTURE = loadFixture('sk_logreg_iris_multinomial');
const ROWS = FIXTURE.data.test_inputs.slice(0, 3) as number[][];
const LABELS = (FIXTURE.data.expected.label as number[]).slice(0, 3);
const TOKEN = 'alice-0123456789abcdef0123456789';

let work: string;
let model: CompiledModel;
let service: DeepPowersService;
let http: RunningHttpServer;
const clients: { client: Client; close(): Promise<void> }[] = [];

async function privateClient(allowOutOfRange: boolean): Promise<Client> {
  const keystore = Keystore.open(join(work, 'keystore'), 'test passphrase, not a real one');
  const { server, close } = createPrivateClientServer({ backend: sealBackend, remote: { url: http.url, token: TOKEN }, keystore, log: () => {}, allowOutOfRange });
  const client = new Client({ name: 'host', version: '0' });
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(st), client.connect(ct)]);
  clients.push({ client, close });
  return client;
}

async function predict(c: Client, rows: unknown[]): Promise<CallToolResult> {
  return (await c.callTool({ name: 'private_predict', arguments: { model: 'iris', rows } })) as CallToolResult;
}

function labelsOf(r: CallToolResult): unknown {
  expect(r.isError, JSON.stringify(r.content).slice(0, 400)).toBeFalsy();
  return (r.structuredContent as { outputs: Record<string, unknown[]> }).outputs.output_label;
}

function errorOf(r: CallToolResult): string {
  expect(r.isError, JSON.stringify(r).slice(0, 300)).toBe(true);
  const first = r.content[0];
  return first?.type === 'text' ? first.text : '';
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-bad-values-'));
  const options: CompileOptions = { calibration: inputTensor(FIXTURE.data, FIXTURE.data.calibration), layout: 'vector' };
  model = toCompiledModel(compileModel(FIXTURE.modelPath, options), options, 'test');
  service = await DeepPowersService.create(sealBackend, [servedModelOf(model, 'iris')], join(work, 'data'));
  http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TokenTable.parse(`alice:${TOKEN}`), log: () => {} });
}, 120_000);

afterAll(async () => {
  for (const c of clients) {
    await c.client.close();
    await c.close();
  }
  await http?.close();
  service?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe('values a model cannot take', () => {
  test('the encodable bound is half the modulus left at the input level over the scale, one bit spare', () => {
    // Data primes of 40 and 30 bits at level 1 (both left), special prime 40: 2^(70 − 2) / 2^30.
    expect(maxEncodable([40, 30, 40], 1, 2 ** 30)).toBe(2 ** 38);
    expect(maxEncodable([40, 30, 40], 0, 2 ** 30)).toBe(2 ** 8);
  });

  test('private_predict refuses huge, float32-overflowing and far out-of-range rows by row and feature, and keeps answering', async () => {
    const c = await privateClient(false);
    expect(labelsOf(await predict(c, ROWS))).toEqual(LABELS);
    expect(errorOf(await predict(c, [ROWS[0], [1e300, 3, 1, 0.2]]))).toMatch(/row 2, column 1 is 1e\+300, beyond the float32 range/);
    expect(errorOf(await predict(c, [[5, 3, 1e12, 0.2]]))).toMatch(/^row 1, column 3 is 1000000000000, outside the calibrated range \[[0-9.]+, [0-9.]+\] by more than the margin/);
    expect(errorOf(await predict(c, ROWS.map((r) => r.map((v) => v * 1000))))).toMatch(/row 1, column 1 is 6300, outside the calibrated range.*11 more values out of range.*--allow-out-of-range/);
    expect(labelsOf(await predict(c, ROWS))).toEqual(LABELS);
  }, 60_000);

  test('with --allow-out-of-range a far row runs with a warning, and a value beyond what CKKS can encode is still refused', async () => {
    const c = await privateClient(true);
    const far = await predict(c, [ROWS[0], ROWS[1]!.map((v) => v * 1000)]);
    expect(far.isError).toBeFalsy();
    expect((far.structuredContent as { warnings: string[] }).warnings).toEqual([expect.stringMatching(/^4 values in 1 row outside the calibrated range \(first: row 2, column 1/)]);
    expect(errorOf(await predict(c, [[5, 3, 1e30, 0.2]]))).toMatch(/row 1: value \d+ of the encrypted input .* is -?[0-9.e+]+, beyond ±[0-9.e+]+, the most this model's CKKS parameters can encode/);
    expect(labelsOf(await predict(c, ROWS))).toEqual(LABELS);
  }, 60_000);
});

describe('a WebAssembly trap in SEAL', () => {
  test('rebuilds the instance: the next private_predict, client and server side, runs on a fresh one', async () => {
    const c = await privateClient(false);
    expect(labelsOf(await predict(c, ROWS))).toEqual(LABELS);
    // Encoding Infinity makes SEAL write outside its heap: the trap the issue saw, here on purpose.
    const ctx = await createSealContext(contextSpecOf(model.parameters));
    const pt = new ctx.seal.Plaintext();
    let trap: unknown;
    try {
      ctx.encoder.encode(Float64Array.of(Infinity), 2 ** 20, pt);
    } catch (e) {
      trap = e;
    }
    expect(String(trap)).toMatch(/RuntimeError/);
    noteTrap(trap);
    expect(sealTrapped()).toBe(true);
    // The trapped instance is broken: even a valid encode fails on it now.
    expect(() => ctx.encoder.encode(Float64Array.of(1), 2 ** 20, pt)).toThrow();
    expect(labelsOf(await predict(c, ROWS))).toEqual(LABELS);
    expect(sealTrapped()).toBe(false);
    expect(labelsOf(await predict(c, ROWS))).toEqual(LABELS);
  }, 60_000);
});
