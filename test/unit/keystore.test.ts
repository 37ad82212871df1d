import { chmodSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Keystore } from '../../runtime/client/keystore';
import { LOCAL_SCOPE, serverScope } from '../../runtime/client/key-scope';
import { tempDirsPerTest } from '../helpers/temp-dirs';

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);
const SECRET = Uint8Array.from({ length: 777 }, (_, i) => (i * 31 + 7) & 0xff);

const tempDir = tempDirsPerTest('dp-keystore-');
/** A keystore path whose dir does not exist yet. */
const freshDir = () => join(tempDir(), 'ks');

function message(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}

describe('keystore', () => {
  test('a secret key round-trips under the passphrase; the file holds neither the key nor the passphrase', () => {
    const dir = freshDir();
    Keystore.open(dir, 'correct horse battery staple').writeSecretKey(HASH_A, 'pid-1', SECRET, LOCAL_SCOPE);
    const back = Keystore.open(dir, 'correct horse battery staple').readSecretKey(HASH_A, LOCAL_SCOPE);
    expect(back?.parameterId).toBe('pid-1');
    expect(Buffer.from(back!.bytes).equals(Buffer.from(SECRET))).toBe(true);

    const raw = readFileSync(join(dir, `${HASH_A}.secret.json`));
    expect(raw.includes(Buffer.from(SECRET.subarray(0, 32)))).toBe(false);
    expect(raw.includes(Buffer.from(SECRET).toString('base64').slice(0, 40))).toBe(false);
    expect(raw.includes('correct horse')).toBe(false);
    expect(Keystore.open(dir, 'x').readSecretKey(HASH_B, LOCAL_SCOPE)).toBeUndefined();
  });

  test('directory 0700, files 0600', () => {
    const dir = freshDir();
    const ks = Keystore.open(dir, 'pass phrase one');
    ks.writeSecretKey(HASH_A, 'pid', SECRET, LOCAL_SCOPE);
    ks.recordUpload('http://127.0.0.1:1/mcp', HASH_A, 'c'.repeat(64));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
  });

  test('wrong and missing passphrases are refused with clear messages', () => {
    const dir = freshDir();
    Keystore.open(dir, 'the right one').writeSecretKey(HASH_A, 'pid', SECRET, LOCAL_SCOPE);
    expect(message(() => Keystore.open(dir, 'the wrong one').readSecretKey(HASH_A, LOCAL_SCOPE))).toMatch(/^wrong passphrase for keystore .* \(DEEPPOWERS_PASSPHRASE\)/);
    expect(message(() => Keystore.open(dir, undefined).readSecretKey(HASH_A, LOCAL_SCOPE))).toMatch(/^DEEPPOWERS_PASSPHRASE is not set/);
    expect(message(() => Keystore.open(dir, '').writeSecretKey(HASH_B, 'pid', SECRET, LOCAL_SCOPE))).toMatch(/^DEEPPOWERS_PASSPHRASE is not set/);
  });

  test('a tampered ciphertext, tag or relabelled header is refused, not decrypted to garbage', () => {
    const dir = freshDir();
    const ks = Keystore.open(dir, 'pw pw pw pw');
    ks.writeSecretKey(HASH_A, 'pid', SECRET, LOCAL_SCOPE);
    const path = join(dir, `${HASH_A}.secret.json`);
    const original = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const flipped = Buffer.from(original.ciphertext as string, 'base64');
    flipped[10]! ^= 1;
    writeFileSync(path, JSON.stringify({ ...original, ciphertext: flipped.toString('base64') }));
    expect(message(() => Keystore.open(dir, 'pw pw pw pw').readSecretKey(HASH_A, LOCAL_SCOPE))).toMatch(/^wrong passphrase .* or .* was altered/);
    writeFileSync(path, JSON.stringify({ ...original, parameter_id: 'other-params' }));
    expect(message(() => Keystore.open(dir, 'pw pw pw pw').readSecretKey(HASH_A, LOCAL_SCOPE))).toMatch(/was altered/);
    // A valid file copied under another model's name is caught by the hash inside it.
    writeFileSync(join(dir, `${HASH_B}.secret.json`), JSON.stringify(original));
    expect(message(() => Keystore.open(dir, 'pw pw pw pw').readSecretKey(HASH_B, LOCAL_SCOPE))).toMatch(/holds the key of model aaaaaaaaaaaa…, not bbbbbbbbbbbb…/);
  });

  test('a GCM tag cut to 4 or 12 bytes (its true prefix) is refused, as is a nonce of the wrong length', () => {
    const dir = freshDir();
    Keystore.open(dir, 'pw pw pw pw').writeSecretKey(HASH_A, 'pid', SECRET, LOCAL_SCOPE);
    const path = join(dir, `${HASH_A}.secret.json`);
    const original = JSON.parse(readFileSync(path, 'utf8')) as { cipher: { name: string; iv: string; tag: string } };
    const tag = Buffer.from(original.cipher.tag, 'base64');
    expect(tag.length).toBe(16);
    for (const bytes of [4, 12]) {
      writeFileSync(path, JSON.stringify({ ...original, cipher: { ...original.cipher, tag: tag.subarray(0, bytes).toString('base64') } }));
      expect(message(() => Keystore.open(dir, 'pw pw pw pw').readSecretKey(HASH_A, LOCAL_SCOPE))).toBe(`${path}: the GCM tag is ${bytes} bytes, not 16: the file was altered`);
    }
    writeFileSync(path, JSON.stringify({ ...original, cipher: { ...original.cipher, iv: Buffer.alloc(16).toString('base64') } }));
    expect(message(() => Keystore.open(dir, 'pw pw pw pw').readSecretKey(HASH_A, LOCAL_SCOPE))).toMatch(/the GCM nonce is 16 bytes, not 12/);
  });

  test('every file is sealed with scrypt N = 2^17, r = 8 (OWASP\'s minimum)', () => {
    const dir = freshDir();
    Keystore.open(dir, 'pw pw pw pw').writeSecretKey(HASH_A, 'pid', SECRET, LOCAL_SCOPE);
    const path = join(dir, `${HASH_A}.secret.json`);
    const sealed = JSON.parse(readFileSync(path, 'utf8')) as { kdf: { N: number; r: number; p: number } };
    expect(sealed.kdf).toMatchObject({ N: 2 ** 17, r: 8, p: 1 });
  });

  test('bad key-derivation settings get a one-line refusal, not an internal error', () => {
    const dir = freshDir();
    Keystore.open(dir, 'pw pw pw pw').writeSecretKey(HASH_A, 'pid', SECRET, LOCAL_SCOPE);
    const path = join(dir, `${HASH_A}.secret.json`);
    const original = JSON.parse(readFileSync(path, 'utf8')) as { kdf: Record<string, unknown> };
    const withKdf = (kdf: Record<string, unknown>) => writeFileSync(path, JSON.stringify({ ...original, kdf: { ...original.kdf, ...kdf } }));
    withKdf({ N: 3000 });
    expect(message(() => Keystore.open(dir, 'pw pw pw pw').readSecretKey(HASH_A, LOCAL_SCOPE))).toBe(`${path}: the scrypt cost N=3000 is not a power of two between 2 and 2^30`);
    withKdf({ N: 2 ** 20, r: 16 });
    expect(message(() => Keystore.open(dir, 'pw pw pw pw').readSecretKey(HASH_A, LOCAL_SCOPE))).toBe(`${path}: the scrypt settings N=1048576, r=16 need 2049 MiB, more than the 256 MiB this build allows`);
    withKdf({ r: 1000 });
    expect(message(() => Keystore.open(dir, 'pw pw pw pw').readSecretKey(HASH_A, LOCAL_SCOPE))).toMatch(/r=1000, p=1 exceed what this build accepts/);
  });

  test('a key file others can read is made private again, with a warning (as ssh insists)', () => {
    const dir = freshDir();
    const warnings: string[] = [];
    const ks = Keystore.open(dir, 'pw pw pw pw', { warn: (m) => warnings.push(m) });
    ks.writeSecretKey(HASH_A, 'pid', SECRET, LOCAL_SCOPE);
    const path = join(dir, `${HASH_A}.secret.json`);
    chmodSync(path, 0o644);
    expect(ks.readSecretKey(HASH_A, LOCAL_SCOPE)?.bytes).toEqual(SECRET);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(warnings).toEqual([`${path} was readable by others (mode 644); it is now 0600`]);
    ks.readSecretKey(HASH_A, LOCAL_SCOPE);
    expect(warnings.length).toBe(1);
  });

  test('upload records are per server and model and need no passphrase', () => {
    const dir = freshDir();
    const ks = Keystore.open(dir, undefined);
    expect(ks.uploadedKeysId('http://a/mcp', HASH_A)).toBeUndefined();
    ks.recordUpload('http://a/mcp', HASH_A, '1'.repeat(64));
    ks.recordUpload('http://b/mcp', HASH_A, '2'.repeat(64));
    const again = Keystore.open(dir, undefined);
    expect(again.uploadedKeysId('http://a/mcp', HASH_A)).toBe('1'.repeat(64));
    expect(again.uploadedKeysId('http://b/mcp', HASH_A)).toBe('2'.repeat(64));
    expect(again.uploadedKeysId('http://a/mcp', HASH_B)).toBeUndefined();
  });

  test('new keys need a passphrase of at least 10 characters, and the refusal says why', () => {
    const dir = freshDir();
    expect(message(() => Keystore.open(dir, 'short pw').writeSecretKey(HASH_A, 'pid', SECRET, LOCAL_SCOPE))).toBe(
      'DEEPPOWERS_PASSPHRASE has 8 characters; use at least 10: anyone who copies the keystore can try short passphrases offline',
    );
    expect(message(() => Keystore.open(dir, 'x').writeRecoveryRoot(new Uint8Array(32)))).toMatch(/has 1 characters; use at least 10/);
    // Characters, not bytes: ten accented letters are ten.
    Keystore.open(dir, 'éééééééééé').writeSecretKey(HASH_A, 'pid', SECRET, LOCAL_SCOPE);
    expect(Keystore.open(dir, 'éééééééééé').readSecretKey(HASH_A, LOCAL_SCOPE)?.parameterId).toBe('pid');
  });

  test('opening for reading does not create a missing keystore', () => {
    const dir = freshDir();
    expect(message(() => Keystore.open(dir, 'pw pw pw pw', { create: false }))).toMatch(/^keystore .*ks does not exist; make one with `deeppowers keygen/);
    expect(existsSync(dir)).toBe(false);
  });

  test('lists, deletes (with upload records) and keeps a sealed recovery root', () => {
    const dir = freshDir();
    const ks = Keystore.open(dir, 'pw pw pw pw');
    ks.writeSecretKey(HASH_B, 'pid-b', SECRET, LOCAL_SCOPE);
    ks.writeSecretKey(HASH_A, 'pid-a', SECRET, LOCAL_SCOPE);
    ks.recordUpload('http://a/mcp', HASH_A, '1'.repeat(64));
    ks.recordUpload('http://a/mcp', HASH_B, '2'.repeat(64));
    expect(Keystore.open(dir, undefined).listSecretKeys()).toEqual([
      { modelHash: HASH_A, parameterId: 'pid-a', scope: LOCAL_SCOPE },
      { modelHash: HASH_B, parameterId: 'pid-b', scope: LOCAL_SCOPE },
    ]);
    expect(ks.deleteSecretKey(HASH_A)).toBe(true);
    expect(ks.deleteSecretKey(HASH_A)).toBe(false);
    expect(ks.listSecretKeys().map((k) => k.modelHash)).toEqual([HASH_B]);
    expect(ks.uploads()).toEqual({ 'http://a/mcp': { [HASH_B]: '2'.repeat(64) } });

    const root = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    expect(ks.hasRecoveryRoot()).toBe(false);
    ks.writeRecoveryRoot(root);
    expect(Buffer.from(Keystore.open(dir, 'pw pw pw pw').readRecoveryRoot()!).equals(Buffer.from(root))).toBe(true);
    expect(readFileSync(join(dir, 'recovery-root.json')).includes(Buffer.from(root).toString('base64'))).toBe(false);
    expect(message(() => Keystore.open(dir, 'wrong wrong wrong').readRecoveryRoot())).toMatch(/^wrong passphrase/);
    // A secret-key file renamed to the root's name is not a root.
    writeFileSync(join(dir, 'recovery-root.json'), readFileSync(join(dir, `${HASH_B}.secret.json`)));
    expect(message(() => ks.readRecoveryRoot())).toMatch(/is not a DeepPowers recovery-root file/);
  });
  test('one key per model and scope: local and each server apart, a file moved to another server\'s name refused, a server\'s new key forgets its recorded upload', () => {
    const dir = freshDir();
    const ks = Keystore.open(dir, 'pw pw pw pw');
    const one = serverScope('http://one.example/mcp');
    const two = serverScope('http://two.example/mcp');
    const key = (n: number) => Uint8Array.from({ length: 64 }, (_, i) => (i + n) & 0xff);
    ks.recordUpload('http://one.example/mcp', HASH_A, '1'.repeat(64));
    ks.recordUpload('http://two.example/mcp', HASH_A, '2'.repeat(64));
    ks.writeSecretKey(HASH_A, 'pid', key(1), LOCAL_SCOPE);
    ks.writeSecretKey(HASH_A, 'pid', key(2), one);
    expect(ks.hasSecretKey(HASH_A, two)).toBe(false);
    ks.writeSecretKey(HASH_A, 'pid', key(3), two);
    // Each write of a server's key dropped the upload recorded for it (a bundle under another key); local keys are never uploaded.
    expect(ks.uploads()).toEqual({ 'http://one.example/mcp': {}, 'http://two.example/mcp': {} });
    const reopened = Keystore.open(dir, 'pw pw pw pw');
    expect([LOCAL_SCOPE, one, two].map((scope) => Buffer.from(reopened.readSecretKey(HASH_A, scope)!.bytes)[0])).toEqual([1, 2, 3]);
    expect(reopened.listSecretKeys().map((k) => k.scope).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([LOCAL_SCOPE, one, two]);
    const files = readdirSync(dir).filter((f) => f.endsWith('.secret.json'));
    expect(files).toHaveLength(3);
    expect(files).toContain(`${HASH_A}.secret.json`);
    // The server named inside the file decides, not the file name: server one's file under server two's name is refused.
    const [fileOne, fileTwo] = ['http://one.example/mcp', 'http://two.example/mcp'].map((url) => join(dir, files.find((f) => readFileSync(join(dir, f), 'utf8').includes(url))!));
    const sealedOne = readFileSync(fileOne, 'utf8');
    writeFileSync(fileTwo!, sealedOne);
    expect(message(() => reopened.readSecretKey(HASH_A, two))).toMatch(/holds the key for server http:\/\/one.example\/mcp, not for server http:\/\/two.example\/mcp$/);
    // And the server field is sealed in: rewriting it to the other server's URL breaks the tag.
    writeFileSync(fileTwo!, sealedOne.replace('http://one.example/mcp', 'http://two.example/mcp'));
    expect(message(() => reopened.readSecretKey(HASH_A, two))).toMatch(/^wrong passphrase .* or .* was altered/);
    expect(reopened.deleteSecretKey(HASH_A)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.secret.json'))).toEqual([]);
  });

  test("a key file written before keys had scopes (no server field, the same binding) still opens, as the key for local use", () => {
    const dir = freshDir();
    Keystore.open(dir, 'pw pw pw pw').writeSecretKey(HASH_A, 'pid', SECRET, LOCAL_SCOPE);
    const file = JSON.parse(readFileSync(join(dir, `${HASH_A}.secret.json`), 'utf8')) as Record<string, unknown>;
    // The header fields of the format as it was: nothing was added for local keys.
    expect(Object.keys(file).sort()).toEqual(['cipher', 'ciphertext', 'format', 'kdf', 'model_hash', 'parameter_id', 'version']);
    expect(Keystore.open(dir, 'pw pw pw pw').readSecretKey(HASH_A, LOCAL_SCOPE)?.bytes).toEqual(SECRET);
    expect(Keystore.open(dir, 'pw pw pw pw').readSecretKey(HASH_A, serverScope('http://one.example/mcp'))).toBeUndefined();
  });
});
