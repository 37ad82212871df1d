import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../compiler/errors';

/**
 * Ed25519 identities of the server (its log key) and of compute and review nodes. The private
 * key is made on first start and kept in the data dir (PKCS#8 PEM, mode 0600); the public key is
 * 32 raw bytes, and a node's id is derived from it, so an id can be checked against a key.
 */

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface Identity {
  /** First 16 hex digits of SHA-256 of the public key. */
  readonly id: string;
  readonly publicKey: Buffer;
  sign(message: Uint8Array): Buffer;
}

export function nodeIdOf(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

export function publicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) fail('BAD_ARGUMENT', `an Ed25519 public key is 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  return verify(null, message, publicKeyObject(publicKey), signature);
}

function identityOf(privateKey: KeyObject): Identity {
  const der = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = Buffer.from(der.subarray(der.length - 32));
  return { id: nodeIdOf(publicKey), publicKey, sign: (message) => sign(null, message, privateKey) };
}

/** A fresh identity held only in memory (tests, throwaway runs). */
export function ephemeralIdentity(): Identity {
  return identityOf(generateKeyPairSync('ed25519').privateKey);
}

/** The identity stored as `<dir>/<name>.key`, made there on first use. */
export function loadOrCreateIdentity(dir: string, name = 'identity'): Identity {
  const path = join(dir, `${name}.key`);
  if (existsSync(path)) {
    let key: KeyObject;
    try {
      key = createPrivateKey(readFileSync(path, 'utf8'));
    } catch (e) {
      return fail('BAD_ARGUMENT', `${path} is not a readable private key: ${(e as Error).message.split('\n')[0]}`);
    }
    if (key.asymmetricKeyType !== 'ed25519') fail('BAD_ARGUMENT', `${path} holds a ${key.asymmetricKeyType} key, not Ed25519`);
    return identityOf(key);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return identityOf(privateKey);
}
