import { createHash } from 'node:crypto';
import { fail } from '../../compiler/errors';
import type { FheBackend } from '../backends/backend';
import type { ClientModel } from './client-model';
import { FheClient } from './fhe-client';
import type { ClientKeyStore } from './client-keystore';
import { describeScope, type KeyScope } from './key-scope';
import { newRecoveryEntropy, phraseOf, secretKeySeed } from './recovery-phrase';

/**
 * A model's client with its secret key for one scope (local use, or one server) from the
 * keystore: the stored key when there is one, otherwise the key derived from the keystore's
 * recovery root (made on first use), the model's parameter id, its hash and the scope, then
 * stored. Every key this makes can be rebuilt from the phrase and the scope.
 */
export interface KeystoreClient {
  readonly client: FheClient;
  /** `stored`: the keystore already held this model's key; `derived`: made from the recovery root now and stored. */
  readonly secretKey: 'stored' | 'derived';
  /** The recovery phrase, only when this call created the keystore's recovery root (show it once). */
  readonly recoveryPhrase?: string;
}

export async function keystoreClient(
  backend: FheBackend,
  keystore: ClientKeyStore,
  model: ClientModel,
  scope: KeyScope,
  /** `name`: what to call the model in `keys list` (its compiled directory's or its server's name). */
  options: { readonly replace?: boolean; readonly name?: string } = {},
): Promise<KeystoreClient> {
  const { modelHash } = model;
  if (options.name !== undefined) await keystore.recordModelName(modelHash, options.name);
  const { parameterId } = model.parameters;
  if (!options.replace) {
    const stored = await keystore.readSecretKey(modelHash, scope);
    if (stored) {
      if (stored.parameterId !== parameterId) {
        const server = scope.kind === 'server' ? ` --server ${scope.server}` : '';
        fail('BAD_ARGUMENT', `the keystore's key for model ${modelHash.slice(0, 12)}… (${describeScope(scope)}) was made for parameter set ${stored.parameterId}, the model now uses ${parameterId}; replace it with \`deeppowers keygen <compiled> --keystore ${keystore.dir}${server} --force\``);
      }
      return { client: await FheClient.create(backend, model, stored.bytes), secretKey: 'stored' };
    }
  }
  const existingRoot = await keystore.readRecoveryRoot();
  const root = existingRoot ?? newRecoveryEntropy();
  const client = await FheClient.derive(backend, model, secretKeySeed(root, parameterId, modelHash, scope));
  try {
    // A new root is kept only together with the first key made from it, so a failure here never
    // leaves a root whose phrase nobody saw.
    if (!existingRoot) await keystore.writeRecoveryRoot(root);
    try {
      await keystore.writeSecretKey(modelHash, parameterId, client.exportSecretKey(), scope);
    } catch (e) {
      if (!existingRoot) await keystore.removeRecoveryRoot();
      throw e;
    }
  } catch (e) {
    client.dispose();
    throw e;
  }
  const recoveryPhrase = existingRoot ? undefined : phraseOf(root);
  return { client, secretKey: 'derived', ...(recoveryPhrase !== undefined ? { recoveryPhrase } : {}) };
}

/** A secret key's fingerprint: SHA-256 (hex) of its serialization as the keystore holds it. */
export function secretKeyFingerprint(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
