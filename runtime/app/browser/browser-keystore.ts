import { fail } from '../../../compiler/errors';
import type { ClientKeyStore } from '../../client/client-keystore';
import type { KeyScope } from '../../client/key-scope';
import { MIN_PASSPHRASE_LENGTH, type StoredSecretKey } from '../../client/keystore';

/**
 * A page's keystore: the same records as the directory keystore of `deeppowers client` (per
 * model and scope a CKKS secret key, the recovery root, which evaluation keys went to which server), kept
 * in the browser's IndexedDB. Secret keys and the root are sealed with WebCrypto under the
 * user's passphrase: PBKDF2-HMAC-SHA256 at 600,000 iterations (OWASP's figure for PBKDF2-SHA256;
 * WebCrypto has no memory-hard KDF) to an AES-256-GCM key, a fresh 96-bit nonce per record, and
 * the record's name and header as additional data, so a sealed record moved to another name
 * (one model's key under another model) fails to open. The passphrase and the unsealed keys
 * exist only in the page's memory.
 */

export const PBKDF2_ITERATIONS = 600_000;
const FORMAT = 'deeppowers-browser-keystore';
const VERSION = 1;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const META = 'meta';
const ROOT = 'recovery-root';
const UPLOADS = 'uploads';
const NAMES = 'model-names';
/** A key's record: `secret-key/<model hash>` for local use, `secret-key/<model hash>/<server URL>` for a server's (the name is sealed in, so a record moved to another server's name fails to open). */
function secretRecord(modelHash: string, scope: KeyScope): string {
  switch (scope.kind) {
    case 'local':
      return `secret-key/${modelHash}`;
    case 'server':
      return `secret-key/${modelHash}/${scope.server}`;
  }
}

interface Sealed {
  readonly iv: Uint8Array;
  readonly ciphertext: Uint8Array;
}
interface Meta {
  readonly format: typeof FORMAT;
  readonly version: number;
  readonly kdf: { readonly name: 'PBKDF2-SHA256'; readonly iterations: number; readonly salt: Uint8Array };
  /** A known text sealed under the passphrase: a wrong passphrase is refused on open, before any key is touched. */
  readonly check: Sealed;
}
interface SecretRecord {
  readonly parameterId: string;
  readonly sealed: Sealed;
}
type Uploads = Record<string, Record<string, string>>;

export class BrowserKeystore implements ClientKeyStore {
  private constructor(
    readonly dir: string,
    private readonly db: IDBDatabase,
    private readonly key: CryptoKey,
  ) {}

  /**
   * Open (or, the first time, create) the keystore `name` in this origin's IndexedDB. A store
   * made before is opened only with the passphrase it was made with.
   */
  static async open(passphrase: string, name = 'deeppowers'): Promise<BrowserKeystore> {
    if (passphrase.length === 0) fail('BAD_ARGUMENT', 'enter the passphrase that protects the keys in this browser');
    const db = await openDatabase(`deeppowers-keystore/${name}`);
    try {
      const meta = (await get(db, META)) as Meta | undefined;
      if (meta) {
        if (meta.format !== FORMAT || meta.version !== VERSION || meta.kdf.name !== 'PBKDF2-SHA256') fail('BAD_ARGUMENT', `the browser keystore ${name} has a format this page does not read`);
        const key = await deriveKey(passphrase, meta.kdf.salt, meta.kdf.iterations);
        const check = await unseal(key, meta.check, META).catch(() => undefined);
        if (!check || new TextDecoder().decode(check) !== FORMAT) fail('BAD_ARGUMENT', 'wrong passphrase: it does not open the keys kept in this browser');
        return new BrowserKeystore(`IndexedDB ${name}`, db, key);
      }
      if (passphrase.length < MIN_PASSPHRASE_LENGTH) fail('BAD_ARGUMENT', `choose a passphrase of at least ${MIN_PASSPHRASE_LENGTH} characters: whoever copies this browser's storage can try passphrases offline`);
      const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
      const key = await deriveKey(passphrase, salt, PBKDF2_ITERATIONS);
      const created: Meta = {
        format: FORMAT,
        version: VERSION,
        kdf: { name: 'PBKDF2-SHA256', iterations: PBKDF2_ITERATIONS, salt },
        check: await seal(key, new TextEncoder().encode(FORMAT), META),
      };
      await put(db, META, created);
      return new BrowserKeystore(`IndexedDB ${name}`, db, key);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** Remove the keystore `name` and everything in it (keys, recovery root, records). */
  static async erase(name = 'deeppowers'): Promise<void> {
    await request(indexedDB.deleteDatabase(`deeppowers-keystore/${name}`));
  }

  async hasSecretKey(modelHash: string, scope: KeyScope): Promise<boolean> {
    return (await get(this.db, secretRecord(modelHash, scope))) !== undefined;
  }

  async readSecretKey(modelHash: string, scope: KeyScope): Promise<StoredSecretKey | undefined> {
    const name = secretRecord(modelHash, scope);
    const record = (await get(this.db, name)) as SecretRecord | undefined;
    if (!record) return undefined;
    const bytes = await unseal(this.key, record.sealed, `${name}/${record.parameterId}`).catch(() =>
      fail('BAD_ARGUMENT', `the browser keystore's key for model ${modelHash.slice(0, 12)}… does not open: it was altered or moved`),
    );
    return { parameterId: record.parameterId, bytes };
  }

  async writeSecretKey(modelHash: string, parameterId: string, secretKey: Uint8Array, scope: KeyScope): Promise<void> {
    const name = secretRecord(modelHash, scope);
    const record: SecretRecord = { parameterId, sealed: await seal(this.key, secretKey, `${name}/${parameterId}`) };
    await put(this.db, name, record);
    if (scope.kind === 'server') {
      // The upload recorded for this server and model was a bundle under another key.
      const all = (await get(this.db, UPLOADS)) as Uploads | undefined;
      if (all?.[scope.server]?.[modelHash] !== undefined) {
        delete all[scope.server]![modelHash];
        await put(this.db, UPLOADS, all);
      }
    }
  }

  async readRecoveryRoot(): Promise<Uint8Array | undefined> {
    const sealed = (await get(this.db, ROOT)) as Sealed | undefined;
    if (!sealed) return undefined;
    return unseal(this.key, sealed, ROOT).catch(() => fail('BAD_ARGUMENT', "the browser keystore's recovery root does not open: it was altered"));
  }

  async writeRecoveryRoot(entropy: Uint8Array): Promise<void> {
    await put(this.db, ROOT, await seal(this.key, entropy, ROOT));
  }

  async removeRecoveryRoot(): Promise<void> {
    await del(this.db, ROOT);
  }

  async recordModelName(modelHash: string, name: string): Promise<void> {
    const all = ((await get(this.db, NAMES)) as Record<string, string> | undefined) ?? {};
    if (all[modelHash] === name) return;
    all[modelHash] = name;
    await put(this.db, NAMES, all);
  }

  async uploadedKeysId(server: string, modelHash: string): Promise<string | undefined> {
    return ((await get(this.db, UPLOADS)) as Uploads | undefined)?.[server]?.[modelHash];
  }

  async recordUpload(server: string, modelHash: string, keysId: string): Promise<void> {
    const all = ((await get(this.db, UPLOADS)) as Uploads | undefined) ?? {};
    (all[server] ??= {})[modelHash] = keysId;
    await put(this.db, UPLOADS, all);
  }

  close(): void {
    this.db.close();
  }
}

async function deriveKey(passphrase: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(passphrase.normalize('NFC')), 'PBKDF2', false, ['deriveKey']);
  // Not extractable: the AES key cannot be read back out of WebCrypto, even by this page.
  return crypto.subtle.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt: salt as BufferSource, iterations }, material, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

async function seal(key: CryptoKey, plaintext: Uint8Array, binding: string): Promise<Sealed> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ciphertext = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad(binding), tagLength: 128 }, key, plaintext as BufferSource);
  return { iv, ciphertext: new Uint8Array(ciphertext) };
}

async function unseal(key: CryptoKey, sealed: Sealed, binding: string): Promise<Uint8Array> {
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.iv as BufferSource, additionalData: aad(binding), tagLength: 128 }, key, sealed.ciphertext as BufferSource);
  return new Uint8Array(plain);
}

function aad(binding: string): BufferSource {
  return new TextEncoder().encode(`${FORMAT}/v${VERSION}/${binding}`);
}

const STORE = 'records';

function openDatabase(name: string): Promise<IDBDatabase> {
  const req = indexedDB.open(name, 1);
  req.onupgradeneeded = () => req.result.createObjectStore(STORE);
  return request(req).catch((e: unknown) => fail('IO', `cannot open the browser keystore (IndexedDB ${name}): ${(e as Error)?.message ?? String(e)}`));
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

function get(db: IDBDatabase, key: string): Promise<unknown> {
  return request(db.transaction(STORE, 'readonly').objectStore(STORE).get(key));
}

async function put(db: IDBDatabase, key: string, value: unknown): Promise<void> {
  const tx = db.transaction(STORE, 'readwrite');
  tx.objectStore(STORE).put(value, key);
  await done(tx);
}

async function del(db: IDBDatabase, key: string): Promise<void> {
  const tx = db.transaction(STORE, 'readwrite');
  tx.objectStore(STORE).delete(key);
  await done(tx);
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}
