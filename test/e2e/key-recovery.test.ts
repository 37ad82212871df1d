import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { readCompiledModel } from '../../compiler/artifact/files';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { simulateSamples } from '../../runtime/backends/simulate';
import { clientModelOf } from '../../runtime/client/client-model';
import { FheClient } from '../../runtime/client/fhe-client';
import { Keystore } from '../../runtime/client/keystore';
import { LOCAL_SCOPE } from '../../runtime/client/key-scope';
import { FheServer, serverModelOf } from '../../runtime/server/fhe-server';

/**
 * Key recovery as a user meets it: keygen shows a 24-word phrase once; a result encrypted under
 * the keystore's key is kept; the keystore is deleted; `keys recover` rebuilds it from the
 * phrase alone (stdin or DEEPPOWERS_RECOVERY_PHRASE); the old result decrypts, and the key's
 * fingerprint is the one `keys list` showed before.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'deeppowers.js');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'sk_logreg_iris_multinomial');
const PASSPHRASE = 'recovery test passphrase';

const tmp = mkdtempSync(join(tmpdir(), 'deeppowers-recovery-'));
const compiled = join(tmp, 'iris.compiled');

function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}, input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: tmp,
    encoding: 'utf8',
    timeout: 90_000,
    env: { ...process.env, DEEPPOWERS_DEBUG: '', DEEPPOWERS_PASSPHRASE: PASSPHRASE, DEEPPOWERS_RECOVERY_PHRASE: '', ...env },
    ...(input !== undefined ? { input } : {}),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function json(r: { code: number | null; stdout: string; stderr: string }): Record<string, unknown> {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}
const fingerprints = (listing: Record<string, unknown>) => (listing.keys as { model_hash: string; fingerprint: string }[]).map((k) => [k.model_hash, k.fingerprint]);

beforeAll(() => {
  const r = cli(['compile', join(FIXTURE, 'model.onnx'), '--calibration', join(FIXTURE, 'data.json'), '-o', compiled, '--layout', 'vector']);
  expect(r.code, r.stderr).toBe(0);
}, 90_000);

describe('recovery phrase', () => {
  test('keygen → encrypt → delete the keystore → recover from the phrase → the old result decrypts', async () => {
    const keystore = join(tmp, 'keystore');
    const made = json(cli(['keygen', compiled, '--keystore', keystore, '--json']));
    const phrase = made.recovery_phrase as string;
    expect(phrase.split(' ')).toHaveLength(24);
    // Shown once: the next keygen reuses the key and returns no phrase.
    expect(json(cli(['keygen', compiled, '--keystore', keystore, '--json'])).recovery_phrase).toBeNull();
    const before = json(cli(['keys', 'list', '--keystore', keystore, '--json']));
    expect(fingerprints(before)).toEqual([[made.model_hash, made.fingerprint]]);

    // A result encrypted under the keystore's key, kept while the keystore is lost.
    const model = readCompiledModel(compiled);
    const clientModel = clientModelOf(model.circuit, model.parameters, model.modelHash);
    const samples = [Float64Array.from([0.5, -1, 2, 0.25]), Float64Array.from([-0.75, 1.5, -2, 1])].map((s) => s.slice(0, clientModel.inputSize));
    const server = new FheServer(sealBackend);
    let result: Uint8Array;
    let decryptedBefore: Float64Array[];
    try {
      const modelId = await server.loadModel(serverModelOf(model.circuit, model.parameters, model.modelHash));
      const original = await FheClient.create(sealBackend, clientModel, Keystore.open(keystore, PASSPHRASE).readSecretKey(model.modelHash, LOCAL_SCOPE)!.bytes);
      try {
        const keysId = server.loadKeys(original.evaluationKeys().bytes);
        result = await server.evaluate(modelId, keysId, original.encrypt(samples).bytes);
        decryptedBefore = original.decrypt(result, samples.length);
      } finally {
        original.dispose();
      }
    } finally {
      server.dispose();
    }

    rmSync(keystore, { recursive: true, force: true });
    const recovered = json(cli(['keys', 'recover', '--keystore', keystore, compiled, '--json'], {}, `${phrase}\n`));
    expect(recovered.recovery_root).toBe('restored');
    expect((recovered.keys as { fingerprint: string }[])[0]!.fingerprint).toBe(made.fingerprint);
    expect(fingerprints(json(cli(['keys', 'list', '--keystore', keystore, '--json'])))).toEqual(fingerprints(before));

    const restored = await FheClient.create(sealBackend, clientModel, Keystore.open(keystore, PASSPHRASE).readSecretKey(model.modelHash, LOCAL_SCOPE)!.bytes);
    try {
      const after = restored.decrypt(result, samples.length);
      expect(after.map((r) => Array.from(r))).toEqual(decryptedBefore.map((r) => Array.from(r)));
      // And the values are the circuit's, not noise: the float64 simulation of the same circuit.
      const want = simulateSamples(model.circuit, samples);
      after.forEach((row, s) => row.forEach((v, i) => expect(Math.abs(v - want[s]![i]!)).toBeLessThan(0.01 * (1 + Math.abs(want[s]![i]!)))));
    } finally {
      restored.dispose();
    }
  }, 120_000);

  test('one phrase covers every model: a keystore recovered without naming models derives each key on first use', () => {
    const first = join(tmp, 'ks-first');
    const made = json(cli(['keygen', compiled, '--keystore', first, '--json']));
    const second = join(tmp, 'ks-second');
    // The phrase from the environment this time; no model named.
    const recovered = json(cli(['keys', 'recover', '--keystore', second, '--json'], { DEEPPOWERS_RECOVERY_PHRASE: made.recovery_phrase as string }));
    expect(recovered.keys).toEqual([]);
    const again = json(cli(['keygen', compiled, '--keystore', second, '--json']));
    expect(again.secret_key).toBe('derived');
    expect(again.recovery_phrase).toBeNull();
    expect(again.fingerprint).toBe(made.fingerprint);
    expect(json(cli(['keys', 'phrase', '--keystore', second, '--json'])).recovery_phrase).toBe(made.recovery_phrase);
  }, 120_000);

  test('keygen → predict → delete the keystore → recover without naming the model → predict --keystore derives the same key on first use', () => {
    const keystore = join(tmp, 'ks-predict');
    const rows = join(tmp, 'rows.json');
    writeFileSync(rows, JSON.stringify([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]));
    const made = json(cli(['keygen', compiled, '--keystore', keystore, '--json']));
    const before = json(cli(['predict', compiled, '--data', rows, '--keystore', keystore, '--json']));
    rmSync(keystore, { recursive: true, force: true });
    const recovered = json(cli(['keys', 'recover', '--keystore', keystore, '--json'], {}, `${made.recovery_phrase as string}\n`));
    expect(recovered.keys).toEqual([]);
    // No keygen in between: predict derives the model's key from the recovered root and stores it.
    const after = json(cli(['predict', compiled, '--data', rows, '--keystore', keystore, '--json']));
    expect(after.secret_key).toBe('derived');
    expect(before.secret_key).toBe('keystore');
    expect((after.outputs as Record<string, unknown>).label).toEqual((before.outputs as Record<string, unknown>).label);
    expect(fingerprints(json(cli(['keys', 'list', '--keystore', keystore, '--json'])))).toEqual([[made.model_hash, made.fingerprint]]);
    // A keystore with neither the model's key nor a recovery root says what to run.
    const empty = join(tmp, 'ks-empty');
    mkdirSync(empty);
    const refused = cli(['predict', compiled, '--data', rows, '--keystore', empty]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/holds neither a key for this model nor a recovery root; run: deeppowers keygen .* --keystore .*, or deeppowers keys recover --keystore/);
  }, 180_000);

  test('bad phrases and a keystore with another root are refused in one line', () => {
    const keystore = join(tmp, 'ks-bad');
    const made = json(cli(['keygen', compiled, '--keystore', keystore, '--json']));
    const words = (made.recovery_phrase as string).split(' ');
    const cases: [string, RegExp][] = [
      [words.slice(0, 23).join(' '), /a recovery phrase has 24 words, this one has 23/],
      [[...words.slice(0, 5), 'notaword', ...words.slice(6)].join(' '), /word 6 of the recovery phrase \("notaword"\) is not in the BIP39 English word list/],
      // All-zero entropy's checksum word is "art", so 24 × "abandon" fails the checksum.
      [Array(24).fill('abandon').join(' '), /the recovery phrase fails its checksum/],
      ['', /no recovery phrase/],
    ];
    for (const [phrase, message] of cases) {
      const r = cli(['keys', 'recover', '--keystore', join(tmp, 'ks-never'), '--json'], {}, phrase);
      expect(r.code, phrase).toBe(2);
      expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    const other = json(cli(['keygen', compiled, '--keystore', join(tmp, 'ks-other'), '--json']));
    const clash = cli(['keys', 'recover', '--keystore', keystore], {}, other.recovery_phrase as string);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/already holds a different recovery root/);
    expect(readFileSync(join(keystore, 'recovery-root.json'), 'utf8')).not.toContain(words[0]);
  }, 120_000);
});
