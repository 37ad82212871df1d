import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../compiler/errors';
import { Keystore, writePrivate, type KeystoreOpenOptions } from '../client/keystore';
import { ATTRIBUTES, CKM } from './pkcs11';
import { onToken, openToken, requireMechanisms, type TokenRef } from './token';

/**
 * A keystore whose data key is wrapped by an AES-256 key inside a PKCS#11 token. The data key
 * (256 random bits) takes the place of the passphrase: it seals every file of the keystore the
 * usual way (scrypt → AES-256-GCM). It is stored only wrapped, in `pkcs11.json`, by CKM_AES_GCM
 * under a token key generated in the token as sensitive and not extractable, so the keystore
 * directory alone (a copy, a backup, a stolen disk) opens nothing: unwrapping needs the token
 * and its user PIN. The recovery phrase rebuilds the keys without the token (`keys recover`).
 */

export const BINDING_FILE = 'pkcs11.json';
const FORMAT = 'deeppowers-keystore-pkcs11';
const VERSION = 1;
const IV_BYTES = 12;
const DATA_KEY_BYTES = 32;

interface Binding {
  readonly format: typeof FORMAT;
  readonly version: number;
  readonly token_label: string;
  /** CKA_LABEL and CKA_ID (hex) of the AES key in the token. */
  readonly key_label: string;
  readonly key_id: string;
  readonly wrap: { readonly mechanism: 'CKM_AES_GCM'; readonly iv: string };
  /** The data key under the token key: ciphertext ‖ 16-byte tag, base64. */
  readonly wrapped_key: string;
}

/** Every field but the wrapped key is authenticated, so the file cannot be pointed at another key or token. */
function bindingAad(b: Pick<Binding, 'format' | 'version' | 'token_label' | 'key_label' | 'key_id'>): Buffer {
  return Buffer.from(JSON.stringify([b.format, b.version, b.token_label, b.key_label, b.key_id]));
}

/** The token a keystore is bound to; undefined for a passphrase keystore. */
export function keystoreToken(dir: string): { readonly tokenLabel: string; readonly keyLabel: string } | undefined {
  const b = readBinding(dir);
  return b ? { tokenLabel: b.token_label, keyLabel: b.key_label } : undefined;
}

function readBinding(dir: string): Binding | undefined {
  const path = join(dir, BINDING_FILE);
  if (!existsSync(path)) return undefined;
  let v: Partial<Binding>;
  try {
    v = JSON.parse(readFileSync(path, 'utf8')) as Partial<Binding>;
  } catch {
    return fail('BAD_ARGUMENT', `${path} is not JSON`);
  }
  if (v.format !== FORMAT) fail('BAD_ARGUMENT', `${path} is not a DeepPowers keystore token binding`);
  if (v.version !== VERSION) fail('BAD_ARGUMENT', `${path} has format version ${v.version}, this build reads ${VERSION}`);
  if (
    typeof v.token_label !== 'string' ||
    typeof v.key_label !== 'string' ||
    typeof v.key_id !== 'string' ||
    v.wrap?.mechanism !== 'CKM_AES_GCM' ||
    typeof v.wrap.iv !== 'string' ||
    typeof v.wrapped_key !== 'string'
  ) {
    fail('BAD_ARGUMENT', `${path}: missing or malformed fields`);
  }
  return v as Binding;
}

/** The token side of the keystore options: a module, and a token label (optional once the keystore names its token). */
export interface KeystoreToken {
  readonly module: string;
  readonly label?: string;
}

/**
 * Open a keystore: a token-bound one through its token (refused without it), a passphrase one
 * as before. With `token` and `create`, a new (empty) keystore is bound to the token: an AES key
 * is generated there and the data key is wrapped under it. Nothing is written before the token
 * has accepted the PIN and shown it has the mechanisms.
 */
export async function openKeystore(dir: string, token: KeystoreToken | undefined, options: KeystoreOpenOptions = {}): Promise<Keystore> {
  const binding = readBinding(dir);
  if (binding) {
    if (!token) {
      fail('BAD_ARGUMENT', `keystore ${dir} is sealed by key "${binding.key_label}" in PKCS#11 token "${binding.token_label}": give --pkcs11 <module> (PIN in DEEPPOWERS_PKCS11_PIN), or rebuild it without the token from its recovery phrase (deeppowers keys recover)`);
    }
    if (token.label !== undefined && token.label !== binding.token_label) {
      fail('BAD_ARGUMENT', `keystore ${dir} is bound to token "${binding.token_label}", not "${token.label}"`);
    }
    return Keystore.open(dir, await unwrapDataKey(dir, binding, { module: token.module, label: binding.token_label }), options);
  }
  if (!token) return Keystore.open(dir, undefined, options);
  if (token.label === undefined) fail('BAD_ARGUMENT', `keystore ${dir} is not bound to a token yet: give --token-label <label> to bind it`);
  if (options.create === false) fail('BAD_ARGUMENT', `keystore ${dir} is not bound to a token (it has no ${BINDING_FILE}); drop --pkcs11 to open it with its passphrase`);
  return bindNewKeystore(dir, { module: token.module, label: token.label }, options);
}

async function unwrapDataKey(dir: string, b: Binding, ref: TokenRef): Promise<string> {
  const session = await openToken(ref);
  const keys = onToken(session, 'finding the keystore key', () => session.find('secret', b.key_label));
  const id = Buffer.from(b.key_id, 'hex');
  const key = keys.find((k) => onToken(session, 'reading CKA_ID', () => session.attribute(k, ATTRIBUTES.ID)).equals(id));
  if (key === undefined) {
    fail('BAD_ARGUMENT', `token "${b.token_label}" has no key "${b.key_label}" with id ${b.key_id}: keystore ${dir} cannot be opened without it; rebuild it from its recovery phrase (deeppowers keys recover)`);
  }
  try {
    const dataKey = session.decryptGcm(key, Buffer.from(b.wrap.iv, 'base64'), bindingAad(b), Buffer.from(b.wrapped_key, 'base64'));
    if (dataKey.length !== DATA_KEY_BYTES) throw new Error('length');
    return dataKey.toString('hex');
  } catch {
    return fail('BAD_ARGUMENT', `token "${b.token_label}" could not unwrap the data key of keystore ${dir}: ${join(dir, BINDING_FILE)} was altered or belongs to another key`);
  }
}

async function bindNewKeystore(dir: string, ref: TokenRef, options: KeystoreOpenOptions): Promise<Keystore> {
  if (existsSync(dir)) {
    const existing = Keystore.open(dir, undefined, { ...options, create: false });
    if (existing.hasRecoveryRoot() || existing.listSecretKeys().length > 0) {
      fail('BAD_ARGUMENT', `keystore ${dir} is already sealed with a passphrase; a token seals only a new keystore: recover its phrase into a new directory with --pkcs11`);
    }
  }
  const session = await openToken(ref);
  requireMechanisms(session, [CKM.AES_KEY_GEN, CKM.AES_GCM], 'wrapping the keystore key', 'use a passphrase keystore instead (run without --pkcs11)');
  const keyId = randomBytes(16);
  const header = { format: FORMAT, version: VERSION, token_label: ref.label, key_label: `deeppowers-keystore-${keyId.subarray(0, 4).toString('hex')}`, key_id: keyId.toString('hex') } as const;
  const key = onToken(session, 'generating the keystore key', () => session.generateAesKey(header.key_label, keyId));
  const dataKey = randomBytes(DATA_KEY_BYTES);
  const iv = randomBytes(IV_BYTES);
  const wrapped = onToken(session, 'wrapping the data key', () => session.encryptGcm(key, iv, bindingAad(header), dataKey));
  const binding: Binding = { ...header, wrap: { mechanism: 'CKM_AES_GCM', iv: iv.toString('base64') }, wrapped_key: wrapped.toString('base64') };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writePrivate(join(dir, BINDING_FILE), `${JSON.stringify(binding, null, 2)}\n`);
  return Keystore.open(dir, dataKey.toString('hex'), options);
}
