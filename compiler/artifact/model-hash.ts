import { createHash } from 'node:crypto';
import { canonicalJson, type JsonObject } from './json-text';

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The model's identity: SHA-256 over the canonical JSON of the manifest without its `modelHash`
 * field (length-prefixed, so no byte can move between the two parts) followed by constants.bin.
 * Whitespace and key order in manifest.json do not matter; any change of value does.
 */
export function modelHashOf(manifestWithoutHash: JsonObject, constantsBytes: Uint8Array): string {
  const text = new TextEncoder().encode(canonicalJson(manifestWithoutHash));
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(text.length), true);
  return createHash('sha256').update(length).update(text).update(constantsBytes).digest('hex');
}
