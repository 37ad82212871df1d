import type { KeyScope } from './key-scope';
import type { StoredSecretKey } from './keystore';

/** A value now (the Node keystore's files) or later (a page's IndexedDB). */
export type Awaitable<T> = T | Promise<T>;

/**
 * What the client side needs from a keystore, whichever platform holds it: the directory
 * keystore of `deeppowers client` (keystore.ts, files sealed under scrypt) or a page's
 * IndexedDB (browser-keystore.ts, sealed under PBKDF2 with WebCrypto). Secret keys and the
 * recovery root go in and come out only through the store's own passphrase sealing.
 */
export interface ClientKeyStore {
  /** Where the keys live, for messages: a directory, or `IndexedDB <name>` in a page. */
  readonly dir: string;
  /** One key per model and scope (local use, or one server: key-scope.ts). */
  hasSecretKey(modelHash: string, scope: KeyScope): Awaitable<boolean>;
  readSecretKey(modelHash: string, scope: KeyScope): Awaitable<StoredSecretKey | undefined>;
  /** Writing a server's key forgets the upload recorded for that server and model (a bundle under another key). */
  writeSecretKey(modelHash: string, parameterId: string, secretKey: Uint8Array, scope: KeyScope): Awaitable<void>;
  readRecoveryRoot(): Awaitable<Uint8Array | undefined>;
  writeRecoveryRoot(entropy: Uint8Array): Awaitable<void>;
  removeRecoveryRoot(): Awaitable<void>;
  /** What to call a model in key listings (its compiled directory's or its server's name). */
  recordModelName(modelHash: string, name: string): Awaitable<void>;
  /** The evaluation-key bundle last uploaded for a model to a server (its id), if recorded. */
  uploadedKeysId(server: string, modelHash: string): Awaitable<string | undefined>;
  recordUpload(server: string, modelHash: string, keysId: string): Awaitable<void>;
}
