import { createHmac } from 'node:crypto';
import { mnemonicToSeedSync } from '@scure/bip39';
import { describe, expect, test } from 'vitest';
import { entropyOfPhrase, phraseOf, secretKeySeed } from '../../runtime/client/recovery-phrase';

/**
 * The seed of a model's secret key: the same phrase and model give the same seed on any machine
 * (recovery), and two models with the same CKKS parameter id get different keys (so a key one
 * server's operator learns, e.g. from decryption leakage, says nothing about another model's).
 */
const ROOT = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
const PARAMS = 'ckks-n16384-q60.40.40.60-s40';
const MODEL_A = 'a'.repeat(64);
const MODEL_B = 'b'.repeat(64);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('secretKeySeed', () => {
  test('two models with the same parameter id get different seeds', () => {
    expect(hex(secretKeySeed(ROOT, PARAMS, MODEL_A))).not.toBe(hex(secretKeySeed(ROOT, PARAMS, MODEL_B)));
  });

  test('the same phrase, parameters and model give the same seed (what `keys recover` relies on), the model hash in any case', () => {
    const again = entropyOfPhrase(phraseOf(ROOT));
    expect(hex(secretKeySeed(again, PARAMS, MODEL_A.toUpperCase()))).toBe(hex(secretKeySeed(ROOT, PARAMS, MODEL_A)));
  });

  test('the seed is HMAC-SHA256 under the BIP39 seed over a versioned label naming parameters and model', () => {
    const bip39 = mnemonicToSeedSync(phraseOf(ROOT));
    const want = createHmac('sha256', bip39).update(`deeppowers/ckks-secret-key/v2/${PARAMS}/${MODEL_A}`).digest('hex');
    expect(hex(secretKeySeed(ROOT, PARAMS, MODEL_A))).toBe(want);
  });
});
