import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../compiler/errors';
import { describeScope, sameScope, type KeyScope } from './key-scope';

/**
 * The client's keystore: one directory (mode 0700) holding, per compiled model and scope (local
 * use, or one server: key-scope.ts), the CKKS secret key encrypted under a passphrase (scrypt →
 * AES-256-GCM, file mode 0600), and a plain record of
 * which evaluation-key bundle was uploaded to which server. Secret keys never leave this
 * directory in the clear; evaluation keys are not stored at all (they are public-side material,
 * regenerated from the secret key whenever a server needs them again).
 */

export const PASSPHRASE_ENV = 'DEEPPOWERS_PASSPHRASE';
/**
 * Shortest passphrase accepted for new keys. Whoever copies the keystore can try passphrases
 * offline as fast as scrypt allows; a short one is found anyway.
 */
export const MIN_PASSPHRASE_LENGTH = 10;
const FORMAT = 'deeppowers-secret-key';
const ROOT_FORMAT = 'deeppowers-recovery-root';
const VERSION = 1;
const UPLOADS_FILE = 'uploads.json';
/** Model hash → the name the model was last used under (a compiled directory's, or a server's): for `keys list`. */
const NAMES_FILE = 'models.json';
const ROOT_FILE = 'recovery-root.json';
const SECRET_SUFFIX = '.secret.json';
const HASH = /^[0-9a-f]{64}$/;
/**
 * A key file's name: `<model hash>.secret.json` for local use (the only kind before keys had
 * scopes, so every older keystore's files read as local keys), `<model hash>.<16 hex digits of
 * SHA-256 of the server's URL>.secret.json` for a server's; the file names its server in full.
 */
const SECRET_FILE = /^([0-9a-f]{64})(?:\.([0-9a-f]{16}))?\.secret\.json$/;

/**
 * scrypt cost of every file this build seals: N = 2^17, r = 8, p = 1, OWASP's minimum for scrypt
 * (Password Storage Cheat Sheet): 128·N·r = 128 MiB and ~0.3 s per unlock. It runs in Node's
 * native crypto (OpenSSL), off the V8 heap and outside SEAL's WebAssembly memory. Files sealed
 * by older builds at 2^15 still open (their settings are read from the file).
 */
const SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;
/** The most memory a file's settings may ask of scrypt: twice this build's own, so a hostile file cannot make an unlock take gigabytes. */
const SCRYPT_MAXMEM = 256 * 1024 * 1024;
/** GCM parameters: a 96-bit nonce and the full 128-bit tag (a shorter tag is easier to forge). */
const IV_BYTES = 12;
const TAG_BYTES = 16;

type Kdf = { readonly name: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: string };

/** What every sealed file holds besides its own header fields. */
interface Sealed {
  readonly kdf: Kdf;
  readonly cipher: { readonly name: 'aes-256-gcm'; readonly iv: string; readonly tag: string };
  readonly ciphertext: string;
}

interface SecretKeyFile extends Sealed {
  readonly format: typeof FORMAT;
  readonly version: number;
  readonly model_hash: string;
  readonly parameter_id: string;
  /** The server whose key this is (its URL); absent for a key for local use. */
  readonly server?: string;
}

interface RecoveryRootFile extends Sealed {
  readonly format: typeof ROOT_FORMAT;
  readonly version: number;
}

/** A secret key the keystore holds, as listed without the passphrase. */
export interface SecretKeyEntry {
  readonly modelHash: string;
  readonly parameterId: string;
  readonly scope: KeyScope;
}

type UploadRecord = Record<string, Record<string, string>>;

export interface StoredSecretKey {
  readonly parameterId: string;
  readonly bytes: Uint8Array;
}

/** Where the keystore reports what it repaired (a key file others could read); stderr by default. */
export type KeystoreWarn = (message: string) => void;

export interface KeystoreOpenOptions {
  /** Create the directory when it is missing (default true). */
  readonly create?: boolean;
  readonly warn?: KeystoreWarn;
}

export class Keystore {
  private readonly derived = new Map<string, Buffer>();

  private constructor(
    readonly dir: string,
    private readonly passphrase: string | undefined,
    private readonly warn: KeystoreWarn,
  ) {}

  /**
   * Open a keystore directory, creating it unless `create` is false (commands that only read
   * keys must not leave an empty keystore behind a typo). The passphrase is only needed to
   * read or write secret keys.
   */
  static open(dir: string, passphrase: string | undefined = process.env[PASSPHRASE_ENV], options: KeystoreOpenOptions = {}): Keystore {
    if (options.create === false && !existsSync(dir)) {
      fail('BAD_ARGUMENT', `keystore ${dir} does not exist; make one with \`deeppowers keygen <compiled> --keystore ${dir}\` or rebuild one with \`deeppowers keys recover --keystore ${dir}\``);
    }
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
    } catch (e) {
      fail('IO', `cannot use keystore directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!statSync(dir).isDirectory()) fail('IO', `keystore ${dir} is not a directory`);
    const warn = options.warn ?? ((m: string) => process.stderr.write(`deeppowers: warning: ${m}\n`));
    return new Keystore(dir, passphrase === '' ? undefined : passphrase, warn);
  }

  hasSecretKey(modelHash: string, scope: KeyScope): boolean {
    return existsSync(this.secretPath(modelHash, scope));
  }

  /** The secret key for a model in a scope, decrypted; undefined if the keystore has none. */
  readSecretKey(modelHash: string, scope: KeyScope): StoredSecretKey | undefined {
    const path = this.secretPath(modelHash, scope);
    if (!existsSync(path)) return undefined;
    this.protect(path);
    const file = parseSecretFile(readFileSync(path, 'utf8'), path);
    if (file.model_hash !== modelHash) fail('BAD_ARGUMENT', `keystore file ${path} holds the key of model ${file.model_hash.slice(0, 12)}…, not ${modelHash.slice(0, 12)}…`);
    const held = scopeOfFile(file);
    if (!sameScope(held, scope)) fail('BAD_ARGUMENT', `keystore file ${path} holds the key for ${describeScope(held)}, not for ${describeScope(scope)}`);
    return { parameterId: file.parameter_id, bytes: this.unseal(file, secretFileBinding(file), path) };
  }

  /**
   * Store a model's key for a scope. A server's recorded upload for the model is forgotten: it
   * was a bundle under the key this one replaces, and the next use must upload this key's.
   */
  writeSecretKey(modelHash: string, parameterId: string, secretKey: Uint8Array, scope: KeyScope): void {
    const header = { format: FORMAT, version: VERSION, model_hash: modelHash, parameter_id: parameterId, ...(scope.kind === 'server' ? { server: scope.server } : {}) } as const;
    const path = this.secretPath(modelHash, scope);
    this.writeSealed(path, header, (kdf) => secretFileBinding({ ...header, kdf }), secretKey);
    if (scope.kind === 'server' && this.uploadedKeysId(scope.server, modelHash) !== undefined) {
      const all = this.readUploads();
      delete all[scope.server]![modelHash];
      this.writeUploads(all);
    }
  }

  /** The secret keys this keystore holds, per model and scope (no passphrase needed). */
  listSecretKeys(): SecretKeyEntry[] {
    const out: SecretKeyEntry[] = [];
    for (const name of readdirSync(this.dir).sort()) {
      if (!SECRET_FILE.test(name)) continue;
      const path = join(this.dir, name);
      const file = parseSecretFile(readFileSync(path, 'utf8'), path);
      out.push({ modelHash: file.model_hash, parameterId: file.parameter_id, scope: scopeOfFile(file) });
    }
    return out;
  }

  /** Remove a model's secret keys (every scope) and its upload records; false when there was none. */
  deleteSecretKey(modelHash: string): boolean {
    if (!HASH.test(modelHash)) fail('BAD_ARGUMENT', `model hash must be 64 lowercase hex digits, got "${modelHash}"`);
    const files = readdirSync(this.dir).filter((name) => SECRET_FILE.exec(name)?.[1] === modelHash);
    const had = files.length > 0;
    for (const name of files) unlinkSync(join(this.dir, name));
    const all = this.readUploads();
    let changed = false;
    for (const server of Object.keys(all)) {
      if (all[server]![modelHash] !== undefined) {
        delete all[server]![modelHash];
        changed = true;
      }
    }
    if (changed) this.writeUploads(all);
    const names = this.modelNames();
    if (names[modelHash] !== undefined) {
      delete names[modelHash];
      writePrivate(join(this.dir, NAMES_FILE), `${JSON.stringify(names, null, 2)}\n`);
    }
    return had;
  }

  hasRecoveryRoot(): boolean {
    return existsSync(join(this.dir, ROOT_FILE));
  }

  /** The recovery root every derived secret key comes from; undefined if this keystore has none. */
  readRecoveryRoot(): Uint8Array | undefined {
    const path = join(this.dir, ROOT_FILE);
    if (!existsSync(path)) return undefined;
    this.protect(path);
    const file = parseRootFile(readFileSync(path, 'utf8'), path);
    return this.unseal(file, rootFileBinding(file), path);
  }

  writeRecoveryRoot(entropy: Uint8Array): void {
    const header = { format: ROOT_FORMAT, version: VERSION } as const;
    this.writeSealed(join(this.dir, ROOT_FILE), header, (kdf) => rootFileBinding({ ...header, kdf }), entropy);
  }

  removeRecoveryRoot(): void {
    const path = join(this.dir, ROOT_FILE);
    if (existsSync(path)) unlinkSync(path);
  }

  /** Every recorded upload: server URL → model hash → keys_id. */
  uploads(): Readonly<Record<string, Readonly<Record<string, string>>>> {
    return this.readUploads();
  }

  /** The keys_id last uploaded to `server` for this model, if any. */
  uploadedKeysId(server: string, modelHash: string): string | undefined {
    return this.readUploads()[server]?.[modelHash];
  }

  recordUpload(server: string, modelHash: string, keysId: string): void {
    const all = this.readUploads();
    (all[server] ??= {})[modelHash] = keysId;
    this.writeUploads(all);
  }

  /** Model hash → the name it was last used under. Names are labels for people, never used to pick a key. */
  modelNames(): Record<string, string> {
    const path = join(this.dir, NAMES_FILE);
    if (!existsSync(path)) return {};
    try {
      const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
    } catch {
      // fall through: a damaged record only costs the names in `keys list`
    }
    return {};
  }

  recordModelName(modelHash: string, name: string): void {
    const names = this.modelNames();
    if (names[modelHash] === name) return;
    names[modelHash] = name;
    writePrivate(join(this.dir, NAMES_FILE), `${JSON.stringify(names, null, 2)}\n`);
  }

  private writeUploads(all: UploadRecord): void {
    writePrivate(join(this.dir, UPLOADS_FILE), `${JSON.stringify(all, null, 2)}\n`);
  }

  private readUploads(): UploadRecord {
    const path = join(this.dir, UPLOADS_FILE);
    if (!existsSync(path)) return {};
    try {
      const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as UploadRecord;
    } catch {
      // fall through: a damaged record only costs a re-upload
    }
    return {};
  }

  private requirePassphrase(): string {
    if (this.passphrase === undefined) {
      fail('BAD_ARGUMENT', `${PASSPHRASE_ENV} is not set: the keystore's secret keys are encrypted with that passphrase`);
    }
    return this.passphrase;
  }

  /** Seal `plain` under the passphrase into `path`, with `binding` (the header) authenticated alongside. */
  private writeSealed(path: string, header: object, binding: (kdf: Kdf) => Buffer, plain: Uint8Array): void {
    const passphrase = this.requirePassphrase();
    const length = [...passphrase.normalize('NFC')].length;
    if (length < MIN_PASSPHRASE_LENGTH) {
      fail('BAD_ARGUMENT', `${PASSPHRASE_ENV} has ${length} characters; use at least ${MIN_PASSPHRASE_LENGTH}: anyone who copies the keystore can try short passphrases offline`);
    }
    const kdf: Kdf = { name: 'scrypt', ...SCRYPT, salt: randomBytes(16).toString('base64') };
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keyFor(passphrase, kdf, path), iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(binding(kdf));
    const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
    const file = {
      ...header,
      kdf,
      cipher: { name: 'aes-256-gcm', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64') },
      ciphertext: ciphertext.toString('base64'),
    };
    writePrivate(path, `${JSON.stringify(file, null, 2)}\n`);
  }

  private unseal(file: Sealed, binding: Buffer, path: string): Uint8Array {
    const passphrase = this.requirePassphrase();
    const iv = Buffer.from(file.cipher.iv, 'base64');
    const tag = Buffer.from(file.cipher.tag, 'base64');
    if (iv.length !== IV_BYTES) fail('BAD_ARGUMENT', `${path}: the GCM nonce is ${iv.length} bytes, not ${IV_BYTES}: the file was altered`);
    // Node accepts any tag from 4 to 16 bytes and compares only that many: a cut tag must be refused here.
    if (tag.length !== TAG_BYTES) fail('BAD_ARGUMENT', `${path}: the GCM tag is ${tag.length} bytes, not ${TAG_BYTES}: the file was altered`);
    const key = this.keyFor(passphrase, file.kdf, path);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(binding);
      decipher.setAuthTag(tag);
      return new Uint8Array(Buffer.concat([decipher.update(Buffer.from(file.ciphertext, 'base64')), decipher.final()]));
    } catch {
      return fail('BAD_ARGUMENT', `wrong passphrase for keystore ${this.dir} (${PASSPHRASE_ENV}), or ${path} was altered`);
    }
  }

  private keyFor(passphrase: string, kdf: Kdf, path: string): Buffer {
    const id = `${kdf.salt}/${kdf.N}/${kdf.r}/${kdf.p}`;
    let key = this.derived.get(id);
    if (!key) {
      try {
        key = scryptSync(passphrase.normalize('NFC'), Buffer.from(kdf.salt, 'base64'), 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: SCRYPT_MAXMEM });
      } catch (e) {
        // checkKdf refuses every setting known to make scrypt throw; anything left is still the file's fault.
        return fail('BAD_ARGUMENT', `${path}: scrypt refused the key-derivation settings (N=${kdf.N}, r=${kdf.r}, p=${kdf.p}): ${(e as Error).message}`);
      }
      this.derived.set(id, key);
    }
    return key;
  }

  /**
   * A key file anyone but its owner can read or write is made private (0600) with a warning,
   * as ssh insists on for private keys: the key is encrypted, but a readable file invites
   * offline passphrase guessing.
   */
  private protect(path: string): void {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) === 0) return;
    try {
      chmodSync(path, 0o600);
    } catch (e) {
      fail('IO', `${path} is readable by others (mode ${mode.toString(8)}) and cannot be made private: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.warn(`${path} was readable by others (mode ${mode.toString(8)}); it is now 0600`);
  }

  private secretPath(modelHash: string, scope: KeyScope): string {
    if (!HASH.test(modelHash)) fail('BAD_ARGUMENT', `model hash must be 64 lowercase hex digits, got "${modelHash}"`);
    switch (scope.kind) {
      case 'local':
        return join(this.dir, `${modelHash}${SECRET_SUFFIX}`);
      case 'server':
        return join(this.dir, `${modelHash}.${createHash('sha256').update(scope.server).digest('hex').slice(0, 16)}${SECRET_SUFFIX}`);
    }
  }
}

/**
 * Everything but the ciphertext is authenticated too, so a file cannot be relabelled as another
 * model's key, nor a server's key as another server's or as a local one (a local key's binding
 * is the one every keystore before scopes wrote, so those files still open).
 */
function secretFileBinding(f: Pick<SecretKeyFile, 'format' | 'version' | 'model_hash' | 'parameter_id' | 'kdf' | 'server'>): Buffer {
  const fields = [f.format, f.version, f.model_hash, f.parameter_id, f.kdf.name, f.kdf.N, f.kdf.r, f.kdf.p, f.kdf.salt];
  return Buffer.from(JSON.stringify(f.server === undefined ? fields : [...fields, f.server]));
}

function scopeOfFile(f: SecretKeyFile): KeyScope {
  return f.server === undefined ? { kind: 'local' } : { kind: 'server', server: f.server };
}

function rootFileBinding(f: Pick<RecoveryRootFile, 'format' | 'version' | 'kdf'>): Buffer {
  return Buffer.from(JSON.stringify([f.format, f.version, f.kdf.name, f.kdf.N, f.kdf.r, f.kdf.p, f.kdf.salt]));
}

function parseSecretFile(text: string, path: string): SecretKeyFile {
  const v = parseSealed(text, path, FORMAT, 'secret-key') as Partial<SecretKeyFile> & Sealed;
  if (typeof v.model_hash !== 'string' || typeof v.parameter_id !== 'string') fail('BAD_ARGUMENT', `${path}: missing model hash or parameter id`);
  if (v.server !== undefined && typeof v.server !== 'string') fail('BAD_ARGUMENT', `${path}: the server field is not a URL`);
  return v as SecretKeyFile;
}

function parseRootFile(text: string, path: string): RecoveryRootFile {
  return parseSealed(text, path, ROOT_FORMAT, 'recovery-root') as RecoveryRootFile;
}

function parseSealed(text: string, path: string, format: string, what: string): Sealed & { readonly format: string; readonly version: number } {
  let v: Partial<Sealed & { format: string; version: number }>;
  try {
    v = JSON.parse(text) as Partial<Sealed & { format: string; version: number }>;
  } catch {
    return fail('BAD_ARGUMENT', `keystore file ${path} is not JSON`);
  }
  if (v.format !== format) fail('BAD_ARGUMENT', `${path} is not a DeepPowers ${what} file`);
  if (v.version !== VERSION) fail('BAD_ARGUMENT', `${path} has format version ${v.version}, this build reads ${VERSION}`);
  const kdf = v.kdf;
  if (!kdf || kdf.name !== 'scrypt' || ![kdf.N, kdf.r, kdf.p].every((x) => Number.isInteger(x) && x > 0) || typeof kdf.salt !== 'string') {
    fail('BAD_ARGUMENT', `${path}: bad key-derivation settings`);
  }
  checkKdf(kdf, path);
  if (v.cipher?.name !== 'aes-256-gcm' || typeof v.cipher.iv !== 'string' || typeof v.cipher.tag !== 'string' || typeof v.ciphertext !== 'string') {
    fail('BAD_ARGUMENT', `${path}: bad cipher fields`);
  }
  return v as Sealed & { readonly format: string; readonly version: number };
}

/**
 * scrypt's own rules (N a power of two above 1) and this build's memory bound (128·N·r bytes at
 * most SCRYPT_MAXMEM), checked here so a damaged or hostile file gets a one-line refusal.
 */
function checkKdf(kdf: Kdf, path: string): void {
  const { N, r, p } = kdf;
  if (N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 30) fail('BAD_ARGUMENT', `${path}: the scrypt cost N=${N} is not a power of two between 2 and 2^30`);
  if (r > 64 || p > 16) fail('BAD_ARGUMENT', `${path}: the scrypt settings r=${r}, p=${p} exceed what this build accepts (r ≤ 64, p ≤ 16)`);
  const memory = 128 * N * r + 128 * r * p;
  if (memory > SCRYPT_MAXMEM) {
    fail('BAD_ARGUMENT', `${path}: the scrypt settings N=${N}, r=${r} need ${Math.ceil(memory / 2 ** 20)} MiB, more than the ${SCRYPT_MAXMEM / 2 ** 20} MiB this build allows`);
  }
}

/** Write via a temporary file, mode 0600 from the start, so no reader ever sees a partial or world-readable file. */
export function writePrivate(path: string, text: string): void {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
