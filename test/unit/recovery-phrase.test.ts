import { createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { LOCAL_SCOPE, serverScope } from '../../runtime/client/key-scope';
import { entropyOfPhrase, phraseOf, secretKeySeed } from '../../runtime/client/recovery-phrase';

/**
 * The seed of a secret key: the same phrase, model and scope give the same seed on any machine
 * (recovery); two models with the same CKKS parameter id get different keys, and so do two
 * servers of the same model (so two operators cannot link a user's requests by key, and a key
 * one of them learns, e.g. from decryption leakage, opens nothing sent to the other).
 */
const ROOT = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
const PARAMS = 'ckks-n16384-q60.40.40.60-s40';
const MODEL_A = 'a'.repeat(64);
const MODEL_B = 'b'.repeat(64);
const SERVER_1 = 'https://one.example/mcp';
const SERVER_2 = 'https://two.example/mcp';
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * The slow reference, computed here with node:crypto alone: BIP39's seed is PBKDF2-HMAC-SHA512
 * over the phrase (NFKD) with salt "mnemonic" (no passphrase), 2048 rounds, 64 bytes; the key
 * seed is HMAC-SHA256 under it over the label.
 */
function referenceSeed(label: string): string {
  const bip39 = pbkdf2Sync(Buffer.from(phraseOf(ROOT).normalize('NFKD'), 'utf8'), Buffer.from('mnemonic', 'utf8'), 2048, 64, 'sha512');
  return createHmac('sha256', bip39).update(label, 'utf8').digest('hex');
}

describe('secretKeySeed', () => {
  test('two models with the same parameter id get different seeds', () => {
    expect(hex(secretKeySeed(ROOT, PARAMS, MODEL_A, LOCAL_SCOPE))).not.toBe(hex(secretKeySeed(ROOT, PARAMS, MODEL_B, LOCAL_SCOPE)));
    expect(hex(secretKeySeed(ROOT, PARAMS, MODEL_A, serverScope(SERVER_1)))).not.toBe(hex(secretKeySeed(ROOT, PARAMS, MODEL_B, serverScope(SERVER_1))));
  });

  test('one phrase and model: a seed per server, the same for the same server, and neither is the local one', () => {
    const one = hex(secretKeySeed(ROOT, PARAMS, MODEL_A, serverScope(SERVER_1)));
    const two = hex(secretKeySeed(ROOT, PARAMS, MODEL_A, serverScope(SERVER_2)));
    expect(one).not.toBe(two);
    expect(new Set([one, two, hex(secretKeySeed(ROOT, PARAMS, MODEL_A, LOCAL_SCOPE))]).size).toBe(3);
    // The same server, from the phrase alone (what recovery relies on), spelled as URL parsing normalizes it.
    const again = entropyOfPhrase(phraseOf(ROOT));
    expect(hex(secretKeySeed(again, PARAMS, MODEL_A, serverScope('HTTPS://ONE.example:443/mcp')))).toBe(one);
  });

  test('the same phrase, parameters and model give the same local seed, the model hash in any case', () => {
    const again = entropyOfPhrase(phraseOf(ROOT));
    expect(hex(secretKeySeed(again, PARAMS, MODEL_A.toUpperCase(), LOCAL_SCOPE))).toBe(hex(secretKeySeed(ROOT, PARAMS, MODEL_A, LOCAL_SCOPE)));
  });

  test("the seeds against the KDF computed directly: local use keeps v2's label byte for byte, a server's key is v3 with the server's URL", () => {
    expect(hex(secretKeySeed(ROOT, PARAMS, MODEL_A, LOCAL_SCOPE))).toBe(referenceSeed(`deeppowers/ckks-secret-key/v2/${PARAMS}/${MODEL_A}`));
    for (const server of [SERVER_1, SERVER_2]) {
      expect(hex(secretKeySeed(ROOT, PARAMS, MODEL_A, serverScope(server)))).toBe(referenceSeed(`deeppowers/ckks-secret-key/v3 ["${PARAMS}","${MODEL_A}","${server}"]`));
    }
  });

  test('a server is named by an http(s) URL, in one line otherwise', () => {
    expect(() => serverScope('one.example')).toThrow(/^a server is named by its URL, like http:\/\/127.0.0.1:8750\/mcp, got "one.example"$/);
    expect(() => serverScope('ftp://one.example/mcp')).toThrow(/^a server is named by an http\(s\) URL, got "ftp:\/\/one.example\/mcp"$/);
  });
});
