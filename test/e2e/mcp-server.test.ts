import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { simulateSamples } from '../../runtime/backends/simulate';
import { FheClient } from '../../runtime/client/fhe-client';
import { encodeBase64 } from '../../runtime/mcp/base64';
import { DeepPowersService, LOCAL_TENANT } from '../../runtime/mcp/service';
import { toySamples } from './seal-test-circuits';
import { servedToy } from './mcp-toy';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { connectInMemory, toolErrorText, uploadInChunks } from '../helpers/mcp-session';
import { tempDirForFile } from '../helpers/temp-dirs';

/** In-process MCP tests of `deeppowers serve`'s tools: the toy circuit, stdio-style chunked key upload. */

const vectorToy = servedToy('toy_vector', 'vector');
const otherToy = servedToy('toy_other', 'vector', 99);
const CHUNK = 256 * 1024;

const dataDir = tempDirForFile('dp-mcp-server-');
let service: DeepPowersService;
let client: Client;
let fhe: FheClient;
let keysId: string;

const connect = (tenant: string) => connectInMemory(service, tenant);

async function call(c: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await c.callTool({ name, arguments: args })) as CallToolResult;
}

beforeAll(async () => {
  service = await DeepPowersService.create(sealBackend, [vectorToy.served, otherToy.served], dataDir, {
    maxChunkBytes: CHUNK,
    maxConcurrency: 1,
    maxCiphertextBytes: 4 * 1024 * 1024,
  });
  client = await connect(LOCAL_TENANT);
  fhe = await FheClient.create(sealBackend, vectorToy.clientModel);
  const bundle = fhe.evaluationKeys();
  keysId = bundle.keysId;
  const done = await uploadInChunks(client, keysId, bundle.bytes, CHUNK);
  expect(done.structuredContent).toMatchObject({ keys_id: keysId, complete: true, bytes: bundle.bytes.length });
});

afterAll(async () => {
  await client?.close();
  fhe?.dispose();
  service?.dispose();
});

describe('deeppowers serve tools (in-process)', () => {
  test('tools: one predict_<model> per model, plus list/describe/keys tools', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['describe_model', 'has_keys', 'list_models', 'predict_toy_other', 'predict_toy_vector', 'status', 'upload_keys']);
    const list = await call(client, 'list_models', {});
    expect((list.structuredContent as { models: { model: string; tool: string }[] }).models.map((m) => m.tool)).toEqual(['predict_toy_vector', 'predict_toy_other']);
    const d = await call(client, 'describe_model', { model: 'toy_vector' });
    expect(d.structuredContent).toMatchObject({
      model_hash: vectorToy.toy.modelHash,
      layout: 'vector',
      rotation_steps: vectorToy.toy.circuit.rotationSteps,
      ckks: { poly_modulus_degree: 8192, parameter_id: vectorToy.served.server.parameters.parameterId },
    });
  });

  test('predict: encrypted in, encrypted out, equal to the simulation after decryption; progress per evaluation', async () => {
    const samples = toySamples(3, vectorToy.toy.circuit.inputSize, 21);
    const request = fhe.encrypt(samples);
    const progress: number[] = [];
    const r = (await client.callTool({ name: 'predict_toy_vector', arguments: { keys_id: keysId, ciphertexts: encodeBase64(request.bytes) } }, CallToolResultSchema, {
      onprogress: (p) => progress.push(p.progress),
    })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    const out = r.structuredContent as { result: string; evaluations: number; bytes_in: number; timings: { total_ms: number } };
    expect(out.evaluations).toBe(3);
    expect(out.bytes_in).toBe(request.bytes.length);
    expect(progress).toEqual([0, 1, 2, 3]);
    // The text mirror an LLM might read carries no ciphertext.
    expect((r.content[0] as { text: string }).text).not.toContain(out.result.slice(0, 64));
    const got = fhe.decrypt(new Uint8Array(Buffer.from(out.result, 'base64')), request.samples);
    const want = simulateSamples(vectorToy.toy.circuit, samples);
    got.forEach((row, s) => row.forEach((v, i) => expect(Math.abs(v - want[s]![i]!)).toBeLessThan(0.02)));
  });

  test('bad inputs give isError with a one-line reason, and the server keeps serving', async () => {
    const request = encodeBase64(fhe.encrypt(toySamples(1, vectorToy.toy.circuit.inputSize, 22)).bytes);
    const otherClient = await FheClient.create(sealBackend, otherToy.clientModel);
    const foreign = encodeBase64(otherClient.encrypt(toySamples(1, vectorToy.toy.circuit.inputSize, 22)).bytes);
    otherClient.dispose();

    const reasons = [
      toolErrorText(await call(client, 'describe_model', { model: 'nope' })),
      toolErrorText(await call(client, 'predict_nope', { keys_id: keysId, ciphertexts: request })),
      toolErrorText(await call(client, 'predict_toy_vector', { keys_id: 'f'.repeat(64), ciphertexts: request })),
      toolErrorText(await call(client, 'predict_toy_vector', { keys_id: 'not-a-hash', ciphertexts: request })),
      toolErrorText(await call(client, 'predict_toy_vector', { keys_id: keysId, ciphertexts: foreign })),
      toolErrorText(await call(client, 'predict_toy_vector', { keys_id: keysId, ciphertexts: `${request.slice(0, 100)}!!!!${request.slice(104)}` })),
      toolErrorText(await call(client, 'predict_toy_vector', { keys_id: keysId, ciphertexts: 'A'.repeat(6 * 1024 * 1024) })),
      toolErrorText(await call(client, 'predict_toy_vector', { keys_id: keysId, ciphertexts: request.slice(0, request.length - 400) })),
      toolErrorText(await call(client, 'predict_toy_other', { keys_id: keysId, ciphertexts: foreign })),
      toolErrorText(await call(client, 'predict_toy_vector', { keys_id: keysId })),
    ];
    expect(reasons[0]).toBe('unknown model "nope"; this server has: toy_vector, toy_other');
    expect(reasons[1]).toMatch(/Tool predict_nope not found/);
    expect(reasons[2]).toMatch(/^unknown keys_id f{64}: upload the evaluation keys first/);
    expect(reasons[3]).toMatch(/^keys_id is 64 lowercase hex digits/);
    expect(reasons[4]).toMatch(/^encrypted input: made for model [0-9a-f]{12}…, not for this model/);
    expect(reasons[5]).toBe('ciphertexts is not valid base64');
    expect(reasons[6]).toMatch(/^ciphertexts too large: about 4718592 bytes, this server accepts at most 4194304 per call$/);
    expect(reasons[7]).toMatch(/^encrypted input: (truncated|not a DeepPowers)/);
    expect(reasons[8]).toMatch(/^evaluation keys [0-9a-f]{12}… were made for another model$/);
    expect(reasons[9]).toMatch(/Input validation error/);
    for (const r of reasons) expect(r).not.toContain('\n');

    const ok = await call(client, 'predict_toy_vector', { keys_id: keysId, ciphertexts: request });
    expect(ok.isError).toBeFalsy();
  });

  test('chunked key upload: out-of-order chunks and a hash mismatch are refused; keys are per tenant', async () => {
    const other = await FheClient.create(sealBackend, vectorToy.clientModel);
    const bundle = other.evaluationKeys();
    other.dispose();
    const half = encodeBase64(bundle.bytes.subarray(0, CHUNK));
    expect(toolErrorText(await call(client, 'upload_keys', { keys_id: bundle.keysId, index: 1, count: 3, data: half }))).toMatch(/no upload of [0-9a-f]{12}… is in progress/);
    const wrongId = '0'.repeat(64);
    expect(toolErrorText(await uploadInChunks(client, wrongId, bundle.bytes, CHUNK))).toMatch(/^the bytes hash to [0-9a-f]{12}…, not to the keys id 000000000000…/);
    expect((await call(client, 'has_keys', { keys_id: wrongId })).structuredContent).toEqual({ keys_id: wrongId, present: false, bytes: 0 });
    for (const malformed of ['abc', 'F'.repeat(64), `${'0'.repeat(63)}g`]) {
      expect(toolErrorText(await call(client, 'has_keys', { keys_id: malformed }))).toMatch(/^keys_id is 64 lowercase hex digits/);
    }

    // Another tenant cannot use (or even see) keys it did not upload.
    const stranger = await connect('stranger');
    const request = encodeBase64(fhe.encrypt(toySamples(1, vectorToy.toy.circuit.inputSize, 23)).bytes);
    expect((await call(stranger, 'has_keys', { keys_id: keysId })).structuredContent).toMatchObject({ present: false });
    expect(toolErrorText(await call(stranger, 'predict_toy_vector', { keys_id: keysId, ciphertexts: request }))).toMatch(/^unknown keys_id/);
    await stranger.close();
  });

  test('bounded concurrency: a second prediction while one runs gets "server busy"; cancellation stops evaluating', async () => {
    const samples = toySamples(8, vectorToy.toy.circuit.inputSize, 24);
    const args = { keys_id: keysId, ciphertexts: encodeBase64(fhe.encrypt(samples).bytes) };
    const evaluate = vi.spyOn(service.fhe, 'evaluate');
    const abort = new AbortController();
    let busy: CallToolResult | undefined;
    const first = client.callTool({ name: 'predict_toy_vector', arguments: args }, CallToolResultSchema, {
      signal: abort.signal,
      onprogress: (p) => {
        if (p.progress === 1) {
          void call(client, 'predict_toy_vector', args).then((r) => {
            busy = r;
            abort.abort('user cancelled');
          });
        }
      },
    });
    await expect(first).rejects.toThrow(/user cancelled/);
    await vi.waitFor(() => expect(busy).toBeDefined());
    expect(toolErrorText(busy!)).toBe('server busy: 1 encrypted predictions are already running; retry shortly');
    // The cancelled request frees its slot without running all 8 evaluations.
    await vi.waitFor(async () => expect((await call(client, 'has_keys', { keys_id: keysId })).isError).toBeFalsy());
    await vi.waitFor(() => {
      const slot = service.tryAcquire(LOCAL_TENANT);
      expect('release' in slot).toBe(true);
      if ('release' in slot) slot.release();
    });
    expect(evaluate.mock.calls.length).toBeLessThan(8);
    evaluate.mockRestore();
  });
});
