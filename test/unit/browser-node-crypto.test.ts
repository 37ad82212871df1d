import * as nodeCrypto from 'node:crypto';
import { describe, expect, test } from 'vitest';
import * as shim from '../../runtime/app/browser/node-crypto';

/**
 * The browser bundle's stand-in for node:crypto (runtime/app/browser/node-crypto.ts) against
 * Node's own: every hash, HMAC and Ed25519 verification the client path makes must give the same
 * answer in a page, or keys derived from a recovery phrase, envelope hashes and log checks differ.
 */
const inputs = [new Uint8Array(0), new TextEncoder().encode('deeppowers'), nodeCrypto.randomBytes(100_003)];

describe('the browser node:crypto stand-in agrees with Node', () => {
  test('sha256 (hex, bytes, chained updates)', () => {
    for (const x of inputs) {
      expect(shim.createHash('sha256').update(x).digest('hex')).toBe(nodeCrypto.createHash('sha256').update(x).digest('hex'));
      const node = nodeCrypto.createHash('sha256').update('a').update(x).update(new Uint8Array([0, 1])).digest();
      expect(Buffer.from(shim.createHash('sha256').update('a').update(x).update(new Uint8Array([0, 1])).digest()).equals(node)).toBe(true);
    }
  });

  test('shake256 with an output length (the secret-key sampler) and HMAC-SHA256 (the recovery-phrase seed)', () => {
    for (const x of inputs) {
      for (const outputLength of [32, 8192]) {
        expect(shim.createHash('shake256', { outputLength }).update(x).digest('hex')).toBe(nodeCrypto.createHash('shake256', { outputLength }).update(x).digest('hex'));
      }
      const key = nodeCrypto.randomBytes(64);
      expect(shim.createHmac('sha256', key).update(x).digest('hex')).toBe(nodeCrypto.createHmac('sha256', key).update(x).digest('hex'));
    }
  });

  test('Ed25519 verification: a Node signature verifies, a flipped bit or another key does not', () => {
    const { publicKey, privateKey } = nodeCrypto.generateKeyPairSync('ed25519');
    const der = publicKey.export({ format: 'der', type: 'spki' });
    const message = new TextEncoder().encode('checkpoint body');
    const signature = nodeCrypto.sign(null, message, privateKey);
    const key = shim.createPublicKey({ key: der, format: 'der', type: 'spki' });
    expect(shim.verify(null, message, key, signature)).toBe(true);
    const flipped = Buffer.from(signature);
    flipped[10] ^= 1;
    expect(shim.verify(null, message, key, flipped)).toBe(false);
    const other = nodeCrypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
    expect(shim.verify(null, message, shim.createPublicKey({ key: other, format: 'der', type: 'spki' }), signature)).toBe(false);
  });

  test('what a page has no use for refuses loudly', () => {
    expect(() => shim.createHash('md5')).toThrow(/not available in the browser build/);
    expect(() => shim.scryptSync()).toThrow(/not available in the browser build/);
  });
});
