import { createHmac, randomBytes } from 'node:crypto';
import { entropyToMnemonic, mnemonicToEntropy, mnemonicToSeedSync } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { fail } from '../../compiler/errors';
import type { KeyScope } from './key-scope';

/**
 * The keystore's recovery root: 256 bits shown to the user once as a 24-word BIP39 phrase. Every
 * secret key is derived from it, the model's parameter id, its model hash and the key's scope
 * (local use, or one server's URL), so the phrase alone rebuilds every key on another machine,
 * and no two models, nor two servers of one model, share a key.
 */

export const RECOVERY_PHRASE_ENV = 'DEEPPOWERS_RECOVERY_PHRASE';
export const RECOVERY_WORDS = 24;
const ENTROPY_BYTES = 32;

export function newRecoveryEntropy(): Uint8Array {
  return new Uint8Array(randomBytes(ENTROPY_BYTES));
}

export function phraseOf(entropy: Uint8Array): string {
  if (entropy.length !== ENTROPY_BYTES) fail('BAD_ARGUMENT', `a recovery root has ${ENTROPY_BYTES} bytes, not ${entropy.length}`);
  return entropyToMnemonic(entropy, wordlist);
}

/** The root behind a phrase, with a one-line reason when it is not a 24-word BIP39 English phrase. */
export function entropyOfPhrase(phrase: string): Uint8Array {
  const words = phrase.normalize('NFKD').trim().toLowerCase().split(/\s+/).filter((w) => w !== '');
  if (words.length !== RECOVERY_WORDS) fail('BAD_ARGUMENT', `a recovery phrase has ${RECOVERY_WORDS} words, this one has ${words.length}`);
  const unknown = words.findIndex((w) => !wordlist.includes(w));
  if (unknown >= 0) fail('BAD_ARGUMENT', `word ${unknown + 1} of the recovery phrase ("${words[unknown]}") is not in the BIP39 English word list`);
  try {
    return mnemonicToEntropy(words.join(' '), wordlist);
  } catch {
    return fail('BAD_ARGUMENT', 'the recovery phrase fails its checksum: a word is wrong or two are swapped');
  }
}

/**
 * The seed of one secret key: HMAC-SHA256 keyed with the phrase's BIP39 seed over a label naming
 * the parameter set, the model hash and the key's scope (key-scope.ts). v1 named the parameter
 * set alone, so every model with the same parameters got the same key, on every server: a key
 * leaked through one (decryption results shown to a server, Li–Micciancio) would have opened them
 * all. v2 added the model hash, and is still the label of a key for local use, byte for byte, so
 * the phrase rebuilds every local key made since v2. v3 is a server's key: v2's fields and the
 * server's URL, so two servers of one model get unrelated keys. Changing a label changes every
 * key derived with it, so labels are versioned and never edited.
 */
export function secretKeySeed(entropy: Uint8Array, parameterId: string, modelHash: string, scope: KeyScope): Uint8Array {
  const bip39Seed = mnemonicToSeedSync(phraseOf(entropy));
  return new Uint8Array(createHmac('sha256', bip39Seed).update(secretKeyLabel(parameterId, modelHash.toLowerCase(), scope)).digest());
}

function secretKeyLabel(parameterId: string, modelHash: string, scope: KeyScope): string {
  switch (scope.kind) {
    case 'local':
      return `deeppowers/ckks-secret-key/v2/${parameterId}/${modelHash}`;
    case 'server':
      // A JSON array, so no choice of fields (a URL holds '/') can spell another's label.
      return `deeppowers/ckks-secret-key/v3 ${JSON.stringify([parameterId, modelHash, scope.server])}`;
  }
}
