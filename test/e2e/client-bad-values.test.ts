import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CompiledModel } from '../../compiler/artifact/types';
import { contextSpecOf, maxEncodable } from '../../runtime/backends/backend';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { createSealContext } from '../../runtime/backends/seal/context';
import { noteTrap, sealTrapped } from '../../runtime/backends/seal/seal-module';
import { Keystore } from '../../runtime/client/keystore';
import type { OutOfRangePolicy, RowOutOfRange } from '../../runtime/data/input-range';
import { createPrivateClientServer } from '../../runtime/mcp/client';
import { startHttpServer, type RunningHttpServer } from '../../runtime/mcp/http';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { DeepPowersService } from '../../runtime/mcp/service';
import { TokenTable } from '../../runtime/mcp/tokens';
import { loadFixture } from '../helpers/fixtures';
import { toolErrorText } from '../helpers/mcp-session';
import { compiledFixture } from '../helpers/compiled-fixture';

/**
 * `deeppowers client` is a long-lived process: no row may break it. A row far outside the
 * calibrated range is clamped, refused or run as given, on its own (the other rows answer), and
 * listed with the values concerned; values the model cannot encode are refused before they reach SEAL, and a WebAssembly trap in SEAL rebuilds the instance instead of leaving every
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

async function privateClient(outOfRange?: OutOfRangePolicy): Promise<Client> {
  const keystore = Keystore.open(join(work, 'keystore'), 'test passphrase, not a real one');
  const { server, close } = createPrivateClientServer({ backend: sealBackend, remote: { url: http.url, token: TOKEN }, keystore, log: () => {}, ...(outOfRange ? { outOfRange } : {}) });
  const client = new Client({ name: 'host', version: '0' });
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(st), client.connect(ct)]);
  clients.push({ client, close });
  return client;
}

async function predict(c: Client, rows: unknown[], outOfRange?: OutOfRangePolicy): Promise<CallToolResult> {
  return (await c.callTool({ name: 'private_predict', arguments: { model: 'iris', rows, ...(outOfRange ? { out_of_range: outOfRange } : {}) } })) as CallToolResult;
}

function outOfRangeOf(r: CallToolResult): RowOutOfRange[] {
  expect(r.isError, JSON.stringify(r.content).slice(0, 400)).toBeFalsy();
  return (r.structuredContent as { out_of_range: RowOutOfRange[] }).out_of_range;
}

function labelsOf(r: CallToolResult): unknown {
  expect(r.isError, JSON.stringify(r.content).slice(0, 400)).toBeFalsy();
  return (r.structuredContent as { outputs: Record<string, unknown[]> }).outputs.output_label;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-bad-values-'));
  model = compiledFixture(FIXTURE, { layout: 'vector' });
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

  test('private_predict clamps a far row by default and answers the others; the row is listed with the values moved, in the result and its text', async () => {
    const c = await privateClient();
    expect(labelsOf(await predict(c, ROWS))).toEqual(LABELS);
    expect(outOfRangeOf(await predict(c, ROWS))).toEqual([]);
    const far = [1e300, 3, 1, 0.2];
    const r = await predict(c, [ROWS[0], far, ROWS[2]]);
    const listed = outOfRangeOf(r);
    expect(listed).toEqual([
      {
        row: 2,
        action: 'clamped',
        reason: expect.stringMatching(/^clamped: column 1 is 1e\+300, outside the calibrated range \[[0-9.]+, [0-9.]+\] by more than the margin \(allowed [0-9.-]+ to [0-9.]+\); ran with [0-9.]+$/),
        values: [{ column: 1, feature: 'column 1', value: 1e300, ran_with: expect.any(Number), allowed: [expect.any(Number), expect.any(Number)], calibrated: [expect.any(Number), expect.any(Number)] }],
      },
    ]);
    const moved = listed[0]!.values[0]!;
    // Clamped to the allowed range's top, which lies above the calibrated maximum by the margin.
    expect(moved.ran_with).toBe(moved.allowed[1]);
    expect(moved.allowed[1]).toBeGreaterThan(moved.calibrated[1]);
    const labels = labelsOf(r) as unknown[];
    expect([labels[0], labels[2]]).toEqual([LABELS[0], LABELS[2]]);
    // The clamped row's answer is the model's on the clamped row, given as such.
    expect(labels[1]).toEqual((labelsOf(await predict(c, [[moved.ran_with, 3, 1, 0.2]])) as unknown[])[0]);
    // Hosts that read only the text content see the same listing.
    const text = r.content[0]?.type === 'text' ? r.content[0].text : '';
    expect(JSON.parse(text).out_of_range).toEqual(listed);
    expect(labelsOf(await predict(c, ROWS))).toEqual(LABELS);
  }, 60_000);

  test('out_of_range "refuse": the far row gets null outputs and its own reason, the rest answer; a call of only far rows answers every row with a reason', async () => {
    const c = await privateClient();
    const far = ROWS[1]!.map((v) => v * 1000);
    const r = await predict(c, [ROWS[0], far, ROWS[2]], 'refuse');
    expect(labelsOf(r)).toEqual([LABELS[0], null, LABELS[2]]);
    const probabilities = (r.structuredContent as { outputs: Record<string, unknown[]> }).outputs.output_probability!;
    expect(probabilities[1]).toBeNull();
    expect(probabilities[0]).not.toBeNull();
    const [listed] = outOfRangeOf(r);
    expect(listed).toMatchObject({ row: 2, action: 'refused' });
    expect(listed!.values.map((v) => [v.column, v.ran_with])).toEqual([[1, null], [2, null], [3, null], [4, null]]);
    expect(listed!.reason).toMatch(/^refused: column 1 is [0-9.]+, outside the calibrated range .*; 1 more value out of range: the encrypted result for such a row can be silently wrong/);
    const all = await predict(c, [far, far], 'refuse');
    expect(labelsOf(all)).toEqual([null, null]);
    expect(outOfRangeOf(all).map((x) => [x.row, x.action])).toEqual([[1, 'refused'], [2, 'refused']]);
  }, 60_000);

  test('a client started with --out-of-range allow runs a far row as given and lists it; a value beyond what CKKS can encode is still refused', async () => {
    const c = await privateClient('allow');
    const far = await predict(c, [ROWS[0], ROWS[1]!.map((v) => v * 1000)]);
    expect(outOfRangeOf(far).map((x) => [x.row, x.action, x.values.length])).toEqual([[2, 'allowed', 4]]);
    expect(outOfRangeOf(far)[0]!.values[0]!.ran_with).toBe(ROWS[1]![0]! * 1000);
    expect(toolErrorText(await predict(c, [[5, 3, 1e30, 0.2]]))).toMatch(/row 1: value \d+ of the encrypted input .* is -?[0-9.e+]+, beyond ±[0-9.e+]+, the most this model's CKKS parameters can encode/);
    // The call's own policy wins over the client's.
    expect(labelsOf(await predict(c, [[5, 3, 1e30, 0.2]], 'refuse'))).toEqual([null]);
    expect(labelsOf(await predict(c, ROWS))).toEqual(LABELS);
  }, 60_000);
});

describe('a WebAssembly trap in SEAL', () => {
  test('rebuilds the instance: the next private_predict, client and server side, runs on a fresh one', async () => {
    const c = await privateClient();
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
