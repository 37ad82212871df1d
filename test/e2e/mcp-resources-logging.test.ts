import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, LoggingMessageNotificationSchema, type CallToolResult, type LoggingMessageNotification } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { FheClient } from '../../runtime/client/fhe-client';
import { encodeBase64 } from '../../runtime/mcp/base64';
import { startHttpServer, type RunningHttpServer } from '../../runtime/mcp/http';
import { loadServedModel } from '../../runtime/service/load-served-model';
import { DeepPowersService } from '../../runtime/mcp/service';
import { writeCompiledFixture } from '../helpers/compiled-fixture';
import { loadFixture } from '../helpers/fixtures';
import { servedToy } from './mcp-toy';
import { toySamples } from './seal-test-circuits';
import { tempDirForFile } from '../helpers/temp-dirs';

/**
 * `deeppowers serve` over Streamable HTTP (127.0.0.1, in process), read by the MCP SDK's client:
 * each model's card and client view as resources (resources/list, resources/read), and MCP
 * logging (logging/setLevel, notifications/message) around predictions.
 */

const toy = servedToy('toy', 'vector');
const work = tempDirForFile('dp-mcp-resources-');
let irisDir: string;
let service: DeepPowersService;
let http: RunningHttpServer;
let fhe: FheClient;
let keysId: string;

interface Session {
  readonly client: Client;
  readonly messages: LoggingMessageNotification['params'][];
}

async function open(): Promise<Session> {
  const client = new Client({ name: 'test', version: '0' });
  const messages: LoggingMessageNotification['params'][] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void messages.push(n.params));
  await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
  return { client, messages };
}

async function predict(s: Session, keys: string, rows: number): Promise<CallToolResult> {
  const request = fhe.encrypt(toySamples(rows, toy.toy.circuit.inputSize, 5));
  return (await s.client.callTool({ name: 'predict_toy', arguments: { keys_id: keys, ciphertexts: encodeBase64(request.bytes) } }, CallToolResultSchema)) as CallToolResult;
}

beforeAll(async () => {
  irisDir = join(work, 'iris.compiled');
  writeCompiledFixture(loadFixture('sk_logreg_iris_multinomial'), irisDir, 'vector');
  service = await DeepPowersService.create(sealBackend, [toy.served, loadServedModel(irisDir)], join(work, 'data'));
  http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: 'insecure-no-auth', log: () => {} });
  fhe = await FheClient.create(sealBackend, toy.clientModel);
  const bundle = fhe.evaluationKeys();
  keysId = bundle.keysId;
  const put = await fetch(new URL(`keys/${keysId}`, http.url), { method: 'PUT', body: bundle.bytes });
  expect(put.status).toBe(201);
});

afterAll(async () => {
  await http?.close();
  service?.dispose();
  fhe?.dispose();
});

describe('resources: each model’s card and client view', () => {
  test('resources/list names a card and a client view per model, with a description and a MIME type', async () => {
    const { client } = await open();
    expect(client.getServerCapabilities()).toMatchObject({ resources: {}, logging: {} });
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri).sort()).toEqual([
      'deeppowers://models/iris/card',
      'deeppowers://models/iris/client-view',
      'deeppowers://models/toy/card',
      'deeppowers://models/toy/client-view',
    ]);
    for (const r of resources) {
      expect(r.mimeType).toBe('application/json');
      expect(r.description?.length ?? 0).toBeGreaterThan(20);
    }
    await client.close();
  });

  test('the card matches the compiled manifest: inputs, outputs, clear steps on the client, the precision promise, what each side learns', async () => {
    const { client } = await open();
    const read = await client.readResource({ uri: 'deeppowers://models/iris/card' });
    expect(read.contents).toHaveLength(1);
    const content = read.contents[0]!;
    expect(content).toMatchObject({ uri: 'deeppowers://models/iris/card', mimeType: 'application/json' });
    const card = JSON.parse((content as { text: string }).text);
    // The reference: manifest.json as written on disk, read as plain JSON.
    const manifest = JSON.parse(readFileSync(join(irisDir, 'manifest.json'), 'utf8'));
    const ops = (nodes: { op: string; domain: string }[]) => nodes.map((n) => (n.domain === 'ai.onnx' ? n.op : `${n.domain}.${n.op}`));
    expect(card).toMatchObject({ model: 'iris', tool: 'predict_iris', model_hash: manifest.modelHash, task: 'classification' });
    expect(card.inputs).toEqual([{ name: manifest.input.name, shape: [null, ...manifest.input.shape], dtype: manifest.input.dtype }]);
    expect(card.outputs.map((o: { name: string }) => o.name)).toEqual(['output_label', 'output_probability']);
    expect(card.runs.client_before_encryption).toEqual(ops(manifest.prologue));
    expect(card.runs.client_after_decryption).toEqual(ops(manifest.epilogue));
    expect(card.runs.client_after_decryption).toContain('ai.onnx.ml.ZipMap');
    expect(card.runs.server).toContain(`N = ${manifest.parameters.polyModulusDegree}`);
    const promise = manifest.calibration.precision;
    expect(card.precision).toMatchObject({ relative: promise.relative, bound: promise.bound, output_range: promise.outputRange, reached: promise.reached });
    expect(card.precision.promise).toMatch(/^≤ 1% of the output range/);
    expect(card.client_learns.join(' ')).toMatch(/secret key, which never leaves it/);
    expect(card.server_learns.join(' ')).toMatch(/never a row, an output or the secret key/);
    await client.close();
  });

  test('the client-view resource is what describe_model returns; an unknown URI is an error', async () => {
    const { client } = await open();
    const view = await client.readResource({ uri: 'deeppowers://models/iris/client-view' });
    const described = (await client.callTool({ name: 'describe_model', arguments: { model: 'iris' } })) as CallToolResult;
    expect(JSON.parse((view.contents[0] as { text: string }).text)).toEqual(described.structuredContent);
    await expect(client.readResource({ uri: 'deeppowers://models/nope/card' })).rejects.toThrow(/not found/);
    await client.close();
  });
});

describe('logging: logging/setLevel and notifications/message', () => {
  test('by default (info): a prediction logs its start and end, not each evaluation', async () => {
    const s = await open();
    const r = await predict(s, keysId, 2);
    expect(r.isError).toBeFalsy();
    expect(s.messages.map((m) => m.level)).toEqual(['info', 'info']);
    expect(s.messages[0]!.data).toMatch(/^predict_toy job \S+ started/);
    expect(s.messages[1]!.data).toMatch(/^predict_toy job \S+ done: .*"evaluations":2/);
    expect(s.messages.every((m) => m.logger === 'deeppowers')).toBe(true);
    await s.client.close();
  });

  test('debug adds one message per evaluation; warning keeps only refusals; an unknown level is refused', async () => {
    const s = await open();
    expect(await s.client.setLoggingLevel('debug')).toEqual({});
    expect((await predict(s, keysId, 3)).isError).toBeFalsy();
    expect(s.messages.filter((m) => m.level === 'debug').map((m) => m.data)).toEqual([
      expect.stringMatching(/evaluation 0 of 3$/),
      expect.stringMatching(/evaluation 1 of 3$/),
      expect.stringMatching(/evaluation 2 of 3$/),
      expect.stringMatching(/evaluation 3 of 3$/),
    ]);

    s.messages.length = 0;
    await s.client.setLoggingLevel('warning');
    expect((await predict(s, keysId, 1)).isError).toBeFalsy();
    expect(s.messages).toEqual([]);
    const unknown = 'f'.repeat(64);
    expect((await predict(s, unknown, 1)).isError).toBe(true);
    expect(s.messages).toEqual([{ level: 'warning', logger: 'deeppowers', data: expect.stringMatching(new RegExp(`refused or failed: unknown keys_id ${unknown}`)) }]);

    await expect(s.client.request({ method: 'logging/setLevel', params: { level: 'loud' } }, CallToolResultSchema.pick({}))).rejects.toThrow(/-32602|Invalid/);
    await s.client.close();
  });

  test('the level is per session: another session still gets the default', async () => {
    const quiet = await open();
    await quiet.client.setLoggingLevel('error');
    const other = await open();
    expect((await predict(quiet, keysId, 1)).isError).toBeFalsy();
    expect((await predict(other, keysId, 1)).isError).toBeFalsy();
    expect(quiet.messages).toEqual([]);
    expect(other.messages.map((m) => m.level)).toEqual(['info', 'info']);
    await quiet.client.close();
    await other.client.close();
  });
});
