import { ed25519 } from '@noble/curves/ed25519.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { shake256 } from '@noble/hashes/sha3.js';
import { Buffer } from 'buffer';

/**
 * The part of node:crypto the client path uses, for the browser bundle (esbuild maps
 * `node:crypto` here; see scripts/build-browser.ts). Each function is the pure-JS twin of the
 * Node one it stands for (hashes from @noble/hashes, Ed25519 verification from @noble/curves,
 * randomness from WebCrypto), so the client code itself is the same file in Node and in a page.
 * Anything else from node:crypto is a server's or a node's job and throws here.
 */

type Input = Uint8Array | string;
const bytesOf = (x: Input): Uint8Array => (typeof x === 'string' ? new TextEncoder().encode(x) : x);

interface Digest {
  update(data: Input): Digest;
  digest(): Buffer;
  digest(encoding: 'hex' | 'base64'): string;
}

function digestOf(finish: (data: Uint8Array) => Uint8Array): Digest {
  const parts: Uint8Array[] = [];
  const d: Digest = {
    update(data: Input) {
      parts.push(bytesOf(data));
      return d;
    },
    digest(encoding?: 'hex' | 'base64'): never {
      const out = Buffer.from(finish(Buffer.concat(parts)));
      return (encoding ? out.toString(encoding) : out) as never;
    },
  } as Digest;
  return d;
}

export function createHash(algorithm: string, options?: { outputLength?: number }): Digest {
  switch (algorithm) {
    case 'sha256':
      return digestOf((data) => sha256(data));
    case 'shake256':
      return digestOf((data) => shake256(data, { dkLen: options?.outputLength ?? 32 }));
    default:
      throw new Error(`hash ${algorithm} is not available in the browser build`);
  }
}

export function createHmac(algorithm: string, key: Uint8Array): Digest {
  if (algorithm !== 'sha256') throw new Error(`HMAC-${algorithm} is not available in the browser build`);
  return digestOf((data) => hmac(sha256, key, data));
}

export function randomBytes(n: number): Buffer {
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65536 bytes per call.
  for (let at = 0; at < n; at += 65536) globalThis.crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  return Buffer.from(out);
}

export function randomFillSync<T extends ArrayBufferView>(buffer: T): T {
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  bytes.set(randomBytes(bytes.length));
  return buffer;
}

export function randomUUID(): string {
  return globalThis.crypto.randomUUID();
}

export type Hash = Digest;
export type KeyObject = PublicKey;

/** A public key as createPublicKey returns it for the DER SPKI of an Ed25519 key: its raw 32 bytes. */
interface PublicKey {
  readonly raw: Uint8Array;
}
const SPKI_ED25519_PREFIX = '302a300506032b6570032100';

export function createPublicKey(options: { key: Uint8Array; format: 'der'; type: 'spki' }): PublicKey {
  const der = Buffer.from(options.key);
  if (der.length !== 44 || der.subarray(0, 12).toString('hex') !== SPKI_ED25519_PREFIX) throw new Error('only Ed25519 SPKI public keys are read in the browser build');
  return { raw: new Uint8Array(der.subarray(12)) };
}

/** node:crypto's one-shot `verify(null, message, key, signature)` for Ed25519 (the only use here). */
export function verify(algorithm: null, message: Uint8Array, key: PublicKey, signature: Uint8Array): boolean {
  if (algorithm !== null) throw new Error('only Ed25519 signatures are verified in the browser build');
  try {
    return ed25519.verify(signature, message, key.raw, { zip215: false });
  } catch {
    return false;
  }
}

function unavailable(name: string): () => never {
  return () => {
    throw new Error(`node:crypto ${name} is not available in the browser build (a server's job)`);
  };
}
export const createPrivateKey = unavailable('createPrivateKey');
export const generateKeyPairSync = unavailable('generateKeyPairSync');
export const sign = unavailable('sign');
export const createCipheriv = unavailable('createCipheriv');
export const createDecipheriv = unavailable('createDecipheriv');
export const scryptSync = unavailable('scryptSync');
export const timingSafeEqual = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
