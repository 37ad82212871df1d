import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Keystore } from '../../runtime/client/keystore';
import { LOCAL_SCOPE } from '../../runtime/client/key-scope';
import { tokenIdentity } from '../../runtime/keys/token-identity';
import { attest, checkAttestation } from '../../runtime/network/attestation';
import { readLogVkey, TransparencyLog, verifyReceipt } from '../../runtime/network/transparency-log';
import { BIN, startServe } from '../helpers/serve-process';
import { makeTestToken, SOFTHSM_MODULE, tokenObject, tokenPublicKey, type TestToken } from '../helpers/softhsm';

/**
 * Keys in a PKCS#11 token, against a real one: SoftHSM 2 (Debian's softhsm2), with a token
 * initialised here in a temporary directory. The token's own view of its objects is read with
 * OpenSC's pkcs11-tool, not with the code under test.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'sk_logreg_iris_multinomial');
const MODULE = SOFTHSM_MODULE;
const LABEL = 'deeppowers-test';
const PIN = '246810';
const PASSPHRASE = 'a passphrase that must not open a token keystore';

const tmp = mkdtempSync(join(tmpdir(), 'deeppowers-pkcs11-'));
let token: TestToken;
let conf: string;
/** Same tokens, but the token lists no Ed25519 and no AES-GCM. */
let lacking: string;
/** No tokens at all: the token has been taken away. */
let absent: string;
const compiled = join(tmp, 'iris.compiled');
const rows = join(tmp, 'rows.json');

function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: tmp,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, DEEPPOWERS_DEBUG: '', SOFTHSM2_CONF: conf, DEEPPOWERS_PKCS11_PIN: PIN, DEEPPOWERS_PASSPHRASE: PASSPHRASE, DEEPPOWERS_RECOVERY_PHRASE: '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function json(r: { code: number | null; stdout: string; stderr: string }): Record<string, unknown> {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}
/** A refusal: a non-zero exit and exactly one line on stderr. */
function refusal(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(/^deeppowers: error: [^\n]+\n$/);
  expect(r.stderr).toMatch(pattern);
}

beforeAll(() => {
  token = makeTestToken(tmp, LABEL, PIN);
  conf = token.conf;
  lacking = token.lacking;
  absent = token.absent;
  process.env.SOFTHSM2_CONF = conf;
  process.env.DEEPPOWERS_PKCS11_PIN = PIN;
  const data = JSON.parse(readFileSync(join(FIXTURE, 'data.json'), 'utf8')) as { test_inputs: number[][] };
  writeFileSync(rows, JSON.stringify(data.test_inputs.slice(0, 2)));
  const r = cli(['compile', join(FIXTURE, 'model.onnx'), '--calibration', join(FIXTURE, 'data.json'), '-o', compiled, '--layout', 'vector']);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('keystore sealed by a key in the token', () => {
  const keystore = join(tmp, 'keystore');
  let made: Record<string, unknown>;

  test('keygen → encrypt → predict through the token; the wrapping key is sensitive and never extractable', () => {
    made = json(cli(['keygen', compiled, '--keystore', keystore, '--pkcs11', MODULE, '--token-label', LABEL, '--json']));
    expect(made.token).toBe(LABEL);
    expect((made.recovery_phrase as string).split(' ')).toHaveLength(24);
    const binding = JSON.parse(readFileSync(join(keystore, 'pkcs11.json'), 'utf8')) as { key_label: string; key_id: string };
    const key = tokenObject(token, 'Secret Key Object', binding.key_label);
    expect(key).toMatch(/AES length 32/);
    expect(key).toMatch(/Access:\s+sensitive, always sensitive, never extractable, local/);
    expect(key).toContain(`ID:         ${binding.key_id}`);

    const fhe = json(cli(['predict', compiled, '--data', rows, '--keystore', keystore, '--pkcs11', MODULE, '--json']));
    const reference = json(cli(['predict', join(FIXTURE, 'model.onnx'), '--data', rows, '--json']));
    const outputs = fhe.outputs as Record<string, unknown[]>;
    const expected = reference.outputs as Record<string, unknown[]>;
    expect(outputs.output_label).toEqual(expected.output_label);
    const probs = (o: Record<string, unknown[]>) => (o.output_probability as Record<string, number>[]).flatMap((m) => Object.values(m));
    probs(outputs).forEach((p, i) => expect(Math.abs(p - probs(expected)[i]!)).toBeLessThan(0.02));
    // The same key through `keys list`: the fingerprint keygen showed.
    const listing = json(cli(['keys', 'list', '--keystore', keystore, '--pkcs11', MODULE, '--json']));
    expect((listing.keys as { fingerprint: string }[])[0]!.fingerprint).toBe(made.fingerprint);
  }, 180_000);

  test('without the token the keystore does not open: not by the passphrase, not with the token gone, not with its binding altered', () => {
    refusal(cli(['predict', compiled, '--data', rows, '--keystore', keystore]), /is sealed by key "deeppowers-keystore-[0-9a-f]{8}" in PKCS#11 token "deeppowers-test": give --pkcs11/);
    // Whoever has the directory and guesses (or knows) a passphrase has nothing: the files are sealed by the token's data key.
    expect(() => Keystore.open(keystore, PASSPHRASE, { create: false }).readSecretKey(made.model_hash as string, LOCAL_SCOPE)).toThrow(/wrong passphrase/);
    refusal(cli(['predict', compiled, '--data', rows, '--keystore', keystore, '--pkcs11', MODULE], { SOFTHSM2_CONF: absent }), /no token labelled "deeppowers-test"/);
    const copy = join(tmp, 'altered');
    cpSync(keystore, copy, { recursive: true });
    const path = join(copy, 'pkcs11.json');
    const binding = JSON.parse(readFileSync(path, 'utf8')) as { wrapped_key: string };
    const wrapped = Buffer.from(binding.wrapped_key, 'base64');
    wrapped[0]! ^= 1;
    writeFileSync(path, JSON.stringify({ ...binding, wrapped_key: wrapped.toString('base64') }));
    refusal(cli(['predict', compiled, '--data', rows, '--keystore', copy, '--pkcs11', MODULE]), /could not unwrap the data key/);
  }, 120_000);

  test('the recovery phrase rebuilds the same key with no token present (and into another token-bound keystore)', () => {
    const rebuilt = join(tmp, 'rebuilt');
    const r = json(cli(['keys', 'recover', compiled, '--keystore', rebuilt, '--json'], { SOFTHSM2_CONF: absent, DEEPPOWERS_RECOVERY_PHRASE: made.recovery_phrase as string }));
    expect((r.keys as { fingerprint: string }[])[0]!.fingerprint).toBe(made.fingerprint);
    expect(existsSync(join(rebuilt, 'pkcs11.json'))).toBe(false);
    // Or into a keystore bound to a token again: a new AES key there, the same CKKS key.
    const rebound = join(tmp, 'rebound');
    const t = json(cli(['keys', 'recover', compiled, '--keystore', rebound, '--pkcs11', MODULE, '--token-label', LABEL, '--json'], { DEEPPOWERS_RECOVERY_PHRASE: made.recovery_phrase as string }));
    expect((t.keys as { fingerprint: string }[])[0]!.fingerprint).toBe(made.fingerprint);
    expect(JSON.parse(readFileSync(join(rebound, 'pkcs11.json'), 'utf8')).key_label).not.toBe(JSON.parse(readFileSync(join(keystore, 'pkcs11.json'), 'utf8')).key_label);
  }, 120_000);
});

describe('errors a user understands, nothing written', () => {
  const fresh = () => join(tmp, `new-${Math.random().toString(16).slice(2)}`);
  test.each([
    ['wrong PIN', { DEEPPOWERS_PKCS11_PIN: '000000' }, MODULE, LABEL, /wrong PIN for token "deeppowers-test"/],
    ['missing token', {}, MODULE, 'no-such-token', /no token labelled "no-such-token" .*tokens present: "deeppowers-test"/],
    ['module not found', {}, join(tmp, 'libmissing.so'), LABEL, /PKCS#11 module \S+libmissing\.so not found/],
    ['mechanism not supported', { SOFTHSM2_CONF: 'lacking' }, MODULE, LABEL, /token "deeppowers-test" does not support CKM_AES_GCM/],
  ])('%s', (_name, env, module, label, pattern) => {
    const dir = fresh();
    // The table is built before beforeAll made the confs: 'lacking' names the one made there.
    const resolved: NodeJS.ProcessEnv = (env as NodeJS.ProcessEnv).SOFTHSM2_CONF === 'lacking' ? { SOFTHSM2_CONF: lacking } : env;
    refusal(cli(['keygen', compiled, '--keystore', dir, '--pkcs11', module, '--token-label', label], resolved), pattern);
    expect(existsSync(dir)).toBe(false);
  });

  test.each([
    ['wrong PIN', { DEEPPOWERS_PKCS11_PIN: '000000' }, MODULE, LABEL, /wrong PIN for token "deeppowers-test"/],
    ['missing token', {}, MODULE, 'no-such-token', /no token labelled "no-such-token" .*tokens present: "deeppowers-test"/],
    ['module not found', {}, join(tmp, 'libmissing.so'), LABEL, /PKCS#11 module \S+libmissing\.so not found/],
    ['no PIN and no terminal to ask on', { DEEPPOWERS_PKCS11_PIN: '' }, MODULE, LABEL, /set DEEPPOWERS_PKCS11_PIN to the user PIN of token "deeppowers-test" \(there is no terminal to ask for it on\)/],
  ])('worker and serve: %s, in one line, and no data dir is made', (_name, env, module, label, pattern) => {
    const dataDir = fresh();
    refusal(cli(['worker', '--print-id', '--data-dir', dataDir, '--pkcs11', module, '--token-label', label], env), pattern);
    expect(existsSync(dataDir)).toBe(false);
    refusal(cli(['serve', compiled, '--http', '127.0.0.1:0', '--insecure-no-auth', '--data-dir', dataDir, '--pkcs11', module, '--token-label', label], env), pattern);
    expect(existsSync(dataDir)).toBe(false);
  }, 60_000);

  test('without DEEPPOWERS_PKCS11_PIN the PIN is asked for on the terminal, and what is typed there is not shown', async () => {
    // A terminal for the command: util-linux's script runs it on a pseudo-terminal and copies that terminal's output here.
    const dataDir = fresh();
    const argv = [process.execPath, BIN, 'worker', '--print-id', '--json', '--data-dir', dataDir, '--pkcs11', MODULE, '--token-label', LABEL, '--node-key-label', 'prompted-node'];
    const command = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
      cwd: tmp,
      env: { ...process.env, DEEPPOWERS_DEBUG: '', SOFTHSM2_CONF: conf, DEEPPOWERS_PKCS11_PIN: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // Bounded: a command that never prompts nor ends is killed, and the test fails on its exit status.
    const guard = setTimeout(() => child.kill(), 45_000);
    try {
      let screen = '';
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      const prompted = new Promise<void>((resolve) =>
        child.stdout.on('data', (d: Buffer) => {
          screen += d.toString('utf8');
          if (screen.includes('user PIN for token "deeppowers-test": ')) resolve();
        }),
      );
      // Typed only once the prompt is up (before it, the terminal itself would still echo).
      await Promise.race([prompted, exited]);
      child.stdin.write(`${PIN}\r`);
      expect(await exited, screen).toBe(0);
      expect(screen).not.toContain(PIN);
      const printed = JSON.parse(screen.slice(screen.indexOf('{'), screen.lastIndexOf('}') + 1).replaceAll('\r', '')) as { public_key: string };
      expect(printed.public_key).toBe(tokenPublicKey(token, 'prompted-node'));
    } finally {
      clearTimeout(guard);
      if (child.exitCode === null && child.signalCode === null) child.kill();
    }
  }, 60_000);

  test('a keystore already sealed with a passphrase is not rebound to a token', () => {
    const dir = fresh();
    Keystore.open(dir, PASSPHRASE).writeRecoveryRoot(new Uint8Array(32).fill(7));
    refusal(cli(['keygen', compiled, '--keystore', dir, '--pkcs11', MODULE, '--token-label', LABEL]), /is already sealed with a passphrase; a token seals only a new keystore/);
    expect(existsSync(join(dir, 'pkcs11.json'))).toBe(false);
  });

  test('a token without Ed25519 refuses node and log keys in one line; no key file appears instead', () => {
    const dataDir = fresh();
    refusal(cli(['worker', '--print-id', '--data-dir', dataDir, '--pkcs11', MODULE, '--token-label', LABEL], { SOFTHSM2_CONF: lacking }), /does not support CKM_EDDSA, which Ed25519 signing needs/);
    expect(existsSync(dataDir)).toBe(false);
    refusal(cli(['serve', compiled, '--http', '127.0.0.1:0', '--insecure-no-auth', '--data-dir', dataDir, '--pkcs11', MODULE, '--token-label', LABEL], { SOFTHSM2_CONF: lacking }), /does not support CKM_EDDSA/);
    expect(existsSync(dataDir)).toBe(false);
  }, 60_000);
});

describe('node and log keys in the token', () => {
  test('attestations and checkpoints signed in the token verify with the existing verifiers under the key the token shows', async () => {
    const ref = { module: MODULE, label: LABEL };
    const node = await tokenIdentity(ref, 'test-node');
    const log = await tokenIdentity(ref, 'test-log');
    expect(node.publicKey.toString('base64')).toBe(tokenPublicKey(token, 'test-node'));
    expect(log.publicKey.toString('base64')).toBe(tokenPublicKey(token, 'test-log'));
    expect(tokenObject(token, 'Private Key Object', 'test-node')).toMatch(/Access:\s+sensitive, always sensitive, never extractable, local/);
    // Found again, not made again.
    expect((await tokenIdentity(ref, 'test-node')).publicKey).toEqual(node.publicKey);

    const claims = { job_id: 'j1', model_hash: 'a'.repeat(64), parameter_id: 'p', keys_id: 'b'.repeat(64), inputs_sha256: 'c'.repeat(64), result_sha256: 'd'.repeat(64), role: 'compute' as const, time: '2026-12-07T00:00:00.000Z' };
    const a = attest(node, claims);
    expect(() => checkAttestation(a)).not.toThrow();
    expect(() => checkAttestation({ ...a, result_sha256: 'e'.repeat(64) })).toThrow();

    const dataDir = join(tmp, 'log');
    mkdirSync(dataDir);
    const transparency = TransparencyLog.open(dataDir, log);
    try {
      const receipt = transparency.append({ kind: 'test', n: 1 });
      const logKey = readLogVkey(dataDir);
      expect(logKey.publicKey.toString('base64')).toBe(tokenPublicKey(token, 'test-log'));
      expect(verifyReceipt(receipt, logKey).index).toBe(0);
    } finally {
      transparency.store.close();
    }
    // The key is in the token, not in the data dir.
    expect(existsSync(join(dataDir, 'log-key.key'))).toBe(false);
    // The same data dir refuses to go on under another key (its checkpoints are pinned to this one).
    expect(() => TransparencyLog.open(dataDir, node)).toThrow(/is signed by deeppowers\/log\//);
  }, 60_000);

  test('`worker --print-id` and `serve` read their public keys from the token', async () => {
    const dataDir = join(tmp, 'worker');
    const id = json(cli(['worker', '--print-id', '--json', '--data-dir', dataDir, '--pkcs11', MODULE, '--token-label', LABEL, '--node-key-label', 'cli-node']));
    expect(id.public_key).toBe(tokenPublicKey(token, 'cli-node'));
    expect(json(cli(['worker', '--print-id', '--json', '--data-dir', dataDir, '--pkcs11', MODULE, '--token-label', LABEL, '--node-key-label', 'cli-node'])).node_id).toBe(id.node_id);
    expect(existsSync(join(dataDir, 'node.key'))).toBe(false);

    const serveDir = join(tmp, 'serve');
    const server = await startServe([compiled, '--http', '127.0.0.1:0', '--insecure-no-auth', '--data-dir', serveDir, '--pkcs11', MODULE, '--token-label', LABEL, '--log-key-label', 'cli-log'], tmp);
    await server.stop();
    expect(readLogVkey(serveDir).publicKey.toString('base64')).toBe(tokenPublicKey(token, 'cli-log'));
    expect(existsSync(join(serveDir, 'log-key.key'))).toBe(false);
    expect(existsSync(join(serveDir, 'node.key'))).toBe(false);
  }, 120_000);
});
