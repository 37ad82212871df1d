import { fail } from '../../compiler/errors';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decoded length of a base64 string of this length (an upper bound when padding is unknown). */
export function decodedLength(base64Length: number): number {
  return Math.floor((base64Length * 3) / 4);
}

/**
 * Strict standard base64 (RFC 4648 §4, padded). Node's decoder skips characters it does not know,
 * which would turn a corrupted argument into silently different bytes; this refuses instead.
 */
export function decodeBase64(text: string, what: string): Uint8Array {
  if (text.length % 4 !== 0 || !BASE64.test(text)) fail('BAD_ARGUMENT', `${what} is not valid base64`);
  return new Uint8Array(Buffer.from(text, 'base64'));
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
