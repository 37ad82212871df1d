import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CompiledModel } from '../../compiler/artifact/types';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { LOCAL_SCOPE } from '../../runtime/client/key-scope';
import { Keystore } from '../../runtime/client/keystore';
import { keystoreClient, secretKeyFingerprint } from '../../runtime/client/model-keys';
import { phraseOf } from '../../runtime/client/recovery-phrase';
import { listKeys, recoverKeystore, type KeyListing } from '../../runtime/cli/keys';
import { createPrivateClientServer } from '../../runtime/mcp/client';
import { startHttpServer, type RunningHttpServer } from '../../runtime/mcp/http';
import { clientModelOfView } from '../../runtime/mcp/private-model';
import { RemoteServer } from '../../runtime/mcp/remote';
import { DeepPowersService } from '../../runtime/mcp/service';
import { TokenTable } from '../../runtime/mcp/tokens';
import { silentLogger } from '../../runtime/network/logger';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { clientViewFromJson } from '../../compiler/artifact/views';
import { compiledFixture } from '../helpers/compiled-fixture';
import { loadFixture } from '../helpers/fixtures';

/**
 * One keystore, two servers (two operators) that serve the same model, through `deeppowers
 * client`'s code path (the MCP private client, SEAL on both sides, in process): each server gets
 * evaluation keys and ciphertexts under its own secret key, so the two cannot link the user's
 * requests by key, and a key one learns opens nothing sent to the other. Before, the keystore
 * held one key per model and both servers got that key's evaluation keys (`keys list` showed one
 * key, one fingerprint). The phrase alone rebuilds both keys; a keystore from before keeps its
 * key as the key for local use, and a server it had uploaded to gets its own key and a new bundle.
 */
const FIXTURE = loadFixture('sk_logreg_iris_multinomial');
const ROWS = FIXTURE.data.test_inputs.slice(0, 2) as number[][];
const LABELS = (FIXTURE.data.expected.label as number[]).slice(0, 2);
const PROBABILITIES = (FIXTURE.data.expected.probabilities as number[][]).slice(0, 2);
const TOKEN = 'alice-0123456789abcdef0123456789';
const PASSPHRASE = 'per-server test passphrase, not a real one';

let work: string;
let model: CompiledModel;
const services: DeepPowersService[] = [];
const servers: RunningHttpServer[] = [];
let urls: string[];
let passphraseBefore: string | undefined;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-key-per-server-'));
  model = compiledFixture(FIXTURE, { layout: 'vector' });
  for (const name of ['one', 'two']) {
    const service = await DeepPowersService.create(sealBackend, [servedModelOf(model, 'iris')], join(work, `data-${name}`), {}, { logger: silentLogger() });
    services.push(service);
    servers.push(await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TokenTable.parse(`alice:${TOKEN}\n`), log: () => {} }));
  }
  urls = servers.map((s) => s.url);
  // listKeys and recoverKeystore open keystores as the CLI does: the passphrase from the environment.
  passphraseBefore = process.env.DEEPPOWERS_PASSPHRASE;
  process.env.DEEPPOWERS_PASSPHRASE = PASSPHRASE;
}, 120_000);

afterAll(async () => {
  if (passphraseBefore === undefined) delete process.env.DEEPPOWERS_PASSPHRASE;
  else process.env.DEEPPOWERS_PASSPHRASE = passphraseBefore;
  for (const s of servers) await s.close();
  for (const s of services) await s.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** private_predict on `url`'s iris through the client code path, with the keystore in `dir`; checked against scikit-learn's outputs. */
async function predictOn(url: string, dir: string): Promise<void> {
  const { server, close } = createPrivateClientServer({ backend: sealBackend, remote: { url, token: TOKEN }, keystore: Keystore.open(dir, PASSPHRASE), log: () => {} });
  const client = new Client({ name: 'host', version: '0' });
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(st), client.connect(ct)]);
  try {
    const r = (await client.callTool({ name: 'private_predict', arguments: { model: 'iris', rows: ROWS } })) as CallToolResult;
    expect(r.isError, JSON.stringify(r.content).slice(0, 400)).toBeFalsy();
    const outputs = (r.structuredContent as { outputs: Record<string, unknown[]> }).outputs;
    expect(outputs.output_label).toEqual(LABELS);
    // Probabilities too: a result evaluated under another key's evaluation keys decrypts to noise, whatever its argmax.
    (outputs.output_probability as Record<string, number>[]).forEach((p, i) => Object.values(p).forEach((v, k) => expect(Math.abs(v - PROBABILITIES[i]![k]!)).toBeLessThan(0.02)));
  } finally {
    await client.close();
    await close();
  }
}

type Key = KeyListing['keys'][number];
const byServer = (l: KeyListing): Record<string, Key> => Object.fromEntries(l.keys.map((k) => [k.server ?? 'local', k]));

describe('a secret key per server', () => {
  let before: Record<string, Key>;
  const keystore = () => join(work, 'keystore');

  test('one keystore used against two servers of the same model: two keys, two fingerprints, each server holding only its own bundle', async () => {
    for (const url of urls) await predictOn(url, keystore());
    before = byServer(await listKeys(keystore()));
    // Exactly one key per server, none for local use (nothing ran locally).
    expect(Object.keys(before).sort()).toEqual([...urls].sort());
    const [one, two] = urls.map((u) => before[u]!);
    expect(one!.model_hash).toBe(model.modelHash);
    expect(two!.model_hash).toBe(model.modelHash);
    expect(one!.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(one!.fingerprint).not.toBe(two!.fingerprint);
    // Each key lists the one upload made with it, to its own server; the bundles differ.
    expect(one!.uploads).toEqual([{ server: urls[0], keys_id: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    expect(two!.uploads).toEqual([{ server: urls[1], keys_id: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    expect(one!.uploads[0]!.keys_id).not.toBe(two!.uploads[0]!.keys_id);
    // And server two never received server one's bundle (nor the reverse).
    const [remoteOne, remoteTwo] = await Promise.all(urls.map((url) => RemoteServer.connect({ url, token: TOKEN })));
    try {
      expect(await remoteOne!.hasKeys(one!.uploads[0]!.keys_id)).toBe(true);
      expect(await remoteTwo!.hasKeys(one!.uploads[0]!.keys_id)).toBe(false);
      expect(await remoteOne!.hasKeys(two!.uploads[0]!.keys_id)).toBe(false);
    } finally {
      await remoteOne!.close();
      await remoteTwo!.close();
    }
  }, 180_000);

  test('recovery from the phrase alone: each server gets its key back on first use, with no keygen', async () => {
    const root = Keystore.open(keystore(), PASSPHRASE).readRecoveryRoot();
    expect(root).toBeDefined();
    const recovered = join(work, 'recovered');
    const r = await recoverKeystore(recovered, [], phraseOf(root!));
    expect(r).toEqual({ keystore: recovered, recovery_root: 'restored', keys: [] });
    for (const url of urls) await predictOn(url, recovered);
    const after = byServer(await listKeys(recovered));
    expect(Object.keys(after).sort()).toEqual([...urls].sort());
    for (const url of urls) expect(after[url]!.fingerprint, url).toBe(before[url]!.fingerprint);
  }, 180_000);

  test("a keystore from before per-server keys: its one key stays as stored (the local key), and a server it was uploaded to gets its own key and a new bundle", async () => {
    // What an older client left: the model's one key (v2's label, which local keys still use) and its bundle on server one, recorded.
    const dir = join(work, 'old');
    const old = Keystore.open(dir, PASSPHRASE);
    const remote = await RemoteServer.connect({ url: urls[0]!, token: TOKEN });
    let oldFingerprint: string;
    let oldKeysId: string;
    try {
      const view = clientViewFromJson((await remote.describe('iris')).client_view);
      const { client } = await keystoreClient(sealBackend, old, clientModelOfView(view), LOCAL_SCOPE, { name: 'iris' });
      try {
        oldFingerprint = secretKeyFingerprint(client.exportSecretKey());
        const bundle = client.evaluationKeys();
        await remote.uploadKeys(bundle.keysId, bundle.bytes);
        old.recordUpload(urls[0]!, model.modelHash, bundle.keysId);
        oldKeysId = bundle.keysId;
      } finally {
        client.dispose();
      }
    } finally {
      await remote.close();
    }
    // The client does not reuse the recorded bundle (it is under the old key): it derives server one's key and uploads its bundle.
    await predictOn(urls[0]!, dir);
    const listed = byServer(await listKeys(dir));
    expect(Object.keys(listed).sort()).toEqual(['local', urls[0]].sort());
    expect(listed.local!.fingerprint).toBe(oldFingerprint);
    expect(listed[urls[0]!]!.fingerprint).not.toBe(oldFingerprint);
    expect(listed[urls[0]!]!.uploads).toEqual([{ server: urls[0], keys_id: expect.not.stringMatching(oldKeysId) }]);
    expect(listed.local!.uploads).toEqual([]);
  }, 180_000);
});
