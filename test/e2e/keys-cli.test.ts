import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, startServeWithTokens, type ServeProcess } from '../helpers/serve-process';

/**
 * `deeppowers keys upload | list | delete` against a real `deeppowers serve`: keys reach the
 * server without curl, ids are printed in full, and the keystore records what went where.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'sk_logreg_iris_multinomial');
const TOKEN = 'keys-cli-token-0123456789abcdef';
const ENV = { DEEPPOWERS_PASSPHRASE: 'keys cli passphrase', DEEPPOWERS_TOKEN: TOKEN };

const tmp = mkdtempSync(join(tmpdir(), 'deeppowers-keys-cli-'));
const compiled = join(tmp, 'iris.compiled');
const keystore = join(tmp, 'keystore');
let serve: ServeProcess;

function cli(args: readonly string[], env: NodeJS.ProcessEnv = ENV) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 90_000, env: { ...process.env, DEEPPOWERS_DEBUG: '', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function json(r: ReturnType<typeof cli>): Record<string, unknown> {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

beforeAll(async () => {
  const r = cli(['compile', join(FIXTURE, 'model.onnx'), '--calibration', join(FIXTURE, 'data.json'), '-o', compiled]);
  expect(r.code, r.stderr).toBe(0);
  serve = await startServeWithTokens([compiled], tmp, { alice: TOKEN }, [], tmp);
}, 120_000);
afterAll(async () => {
  await serve?.stop();
});

describe('deeppowers keys', () => {
  test('upload sends the evaluation keys once, prints the full id, and the server has them', async () => {
    const up = json(cli(['keys', 'upload', compiled, '--server', serve.url, '--keystore', keystore, '--json']));
    expect(up.status).toBe('uploaded');
    expect(up.keys_id).toMatch(/^[0-9a-f]{64}$/);
    expect(up.recovery_phrase as string).toMatch(/^(\w+ ){23}\w+$/);
    const head = await fetch(serve.url.replace(/mcp$/, `keys/${up.keys_id as string}`), { method: 'HEAD', headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(head.status).toBe(200);

    const again = json(cli(['keys', 'upload', compiled, '--server', serve.url, '--keystore', keystore, '--json']));
    expect(again).toMatchObject({ status: 'present', keys_id: up.keys_id, fingerprint: up.fingerprint, recovery_phrase: null });

    const text = cli(['keys', 'upload', compiled, '--server', serve.url, '--keystore', keystore]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`keys id          ${up.keys_id as string}`);

    const listed = json(cli(['keys', 'list', '--keystore', keystore, '--json']));
    // The model's name (the compiled directory's, as the server names it), next to its hash.
    expect(listed.keys).toEqual([{ model: 'iris', model_hash: up.model_hash, server: serve.url, parameter_id: expect.stringMatching(/^[0-9a-f]{16}$/), fingerprint: up.fingerprint, uploads: [{ server: serve.url, keys_id: up.keys_id }] }]);
    // Without the passphrase the list still shows what is there, not the fingerprints.
    const blind = json(cli(['keys', 'list', '--keystore', keystore, '--json'], {}));
    expect((blind.keys as { fingerprint: unknown }[])[0]!.fingerprint).toBeNull();
    const listText = cli(['keys', 'list', '--keystore', keystore]);
    expect(listText.stdout).toMatch(new RegExp(`model hash   ${up.model_hash as string}\n  model\\s+iris\n  for\\s+${serve.url}\n`));

    // keygen --server names the key upload made (nothing is sent); keygen alone makes the key for local use, another key.
    const forServer = json(cli(['keygen', compiled, '--keystore', keystore, '--server', serve.url, '--json']));
    expect(forServer).toMatchObject({ server: serve.url, secret_key: 'reused', fingerprint: up.fingerprint });
    const local = json(cli(['keygen', compiled, '--keystore', keystore, '--json']));
    expect(local).toMatchObject({ server: null, secret_key: 'derived' });
    expect(local.fingerprint).not.toBe(up.fingerprint);
    const both = json(cli(['keys', 'list', '--keystore', keystore, '--json'])).keys as { server: string | null; fingerprint: string; uploads: unknown[] }[];
    expect(both.map((k) => [k.server, k.fingerprint, k.uploads.length]).sort()).toEqual([[null, local.fingerprint, 0], [serve.url, up.fingerprint, 1]].sort());
  }, 120_000);

  test('upload refuses a model the server does not serve, and a refused token, in one line', () => {
    const other = join(tmp, 'other.compiled');
    const lr = join(ROOT, 'models', 'breast-cancer-logreg');
    expect(cli(['compile', join(lr, 'model.onnx'), '--calibration', join(lr, 'calibration.json'), '-o', other]).code).toBe(0);
    const notServed = cli(['keys', 'upload', other, '--server', serve.url, '--keystore', keystore]);
    expect(notServed.code).toBe(2);
    expect(notServed.stderr).toMatch(/^deeppowers: error: the server at .* does not serve .*other\.compiled \(model hash [0-9a-f]{64}\); it serves: iris/);
    const badToken = cli(['keys', 'upload', compiled, '--server', serve.url, '--keystore', keystore, '--token', 'wrong-token-0123456789']);
    expect(badToken.code).toBe(2);
    expect(badToken.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(badToken.stderr).toMatch(/refused the token \(HTTP 401\)/);
  }, 120_000);

  test('a keystore recovered from the phrase uploads the same key, with no keygen in between (the key path `deeppowers client` takes too)', () => {
    const first = join(tmp, 'ks-recover-a');
    const up = json(cli(['keys', 'upload', compiled, '--server', serve.url, '--keystore', first, '--json']));
    const second = join(tmp, 'ks-recover-b');
    const recovered = json(cli(['keys', 'recover', '--keystore', second, '--json'], { ...ENV, DEEPPOWERS_RECOVERY_PHRASE: up.recovery_phrase as string }));
    expect(recovered.keys).toEqual([]);
    // keystoreClient derives the server's key from the recovered root on first use, as keygen, predict and private_predict do.
    const again = json(cli(['keys', 'upload', compiled, '--server', serve.url, '--keystore', second, '--json']));
    expect(again.fingerprint).toBe(up.fingerprint);
    expect(again.recovery_phrase).toBeNull();
    expect(again.status).toBe('uploaded');
  }, 120_000);

  test('delete removes the key and its upload records; a second delete says there is none', () => {
    const listed = json(cli(['keys', 'list', '--keystore', keystore, '--json']));
    const keys = listed.keys as { model_hash: string }[];
    expect(keys.length).toBeGreaterThan(0);
    const gone = json(cli(['keys', 'delete', compiled, '--keystore', keystore, '--json']));
    expect(gone.deleted).toBe(true);
    expect((json(cli(['keys', 'list', '--keystore', keystore, '--json'])).keys as { model_hash: string }[]).map((k) => k.model_hash)).not.toContain(gone.model_hash);
    const twice = cli(['keys', 'delete', gone.model_hash as string, '--keystore', keystore]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/holds no key for model [0-9a-f]{64}/);
  }, 120_000);
});
