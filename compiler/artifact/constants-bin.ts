import { fail } from '../errors';

/**
 * constants.bin: the compiled model's bulk numbers, so the manifest stays readable and floats
 * stay bit-exact. Little-endian throughout:
 *
 *   header  "DPCONST\0" (8 bytes) · u32 version (1) · u32 entry count
 *   entry   u32 kind (1 = float64 vector, 2 = string list) · u32 element count · data · zero
 *           padding to a multiple of 8 bytes
 *   data    float64 vector: count × f64
 *           string list:    count × (u32 UTF-8 byte length · bytes)
 *
 * Every entry starts 8-byte aligned. Entries are referred to by index from manifest.json.
 */

export type ConstantEntry =
  | { readonly kind: 'f64'; readonly data: Float64Array }
  | { readonly kind: 'strings'; readonly data: readonly string[] };

export const CONSTANTS_MAGIC = 'DPCONST\0';
export const CONSTANTS_VERSION = 1;
const HEADER_BYTES = 16;
const KIND_F64 = 1;
const KIND_STRINGS = 2;
const U32_MAX = 0xffffffff;

export function encodeConstants(entries: readonly ConstantEntry[]): Uint8Array {
  const encoder = new TextEncoder();
  const encodedStrings = entries.map((e) => (e.kind === 'strings' ? e.data.map((s) => encoder.encode(s)) : null));
  let size = HEADER_BYTES;
  entries.forEach((e, i) => {
    if (e.data.length > U32_MAX) fail('BAD_ARTIFACT', `constant ${i} has ${e.data.length} elements, more than constants.bin can hold`);
    size += 8 + padded(e.kind === 'f64' ? e.data.length * 8 : encodedStrings[i]!.reduce((s, b) => s + 4 + b.length, 0));
  });
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 8; i++) bytes[i] = CONSTANTS_MAGIC.charCodeAt(i);
  view.setUint32(8, CONSTANTS_VERSION, true);
  view.setUint32(12, entries.length, true);
  let at = HEADER_BYTES;
  entries.forEach((e, i) => {
    view.setUint32(at, e.kind === 'f64' ? KIND_F64 : KIND_STRINGS, true);
    view.setUint32(at + 4, e.data.length, true);
    at += 8;
    const start = at;
    if (e.kind === 'f64') {
      for (const x of e.data) {
        view.setFloat64(at, x, true);
        at += 8;
      }
    } else {
      for (const b of encodedStrings[i]!) {
        view.setUint32(at, b.length, true);
        bytes.set(b, at + 4);
        at += 4 + b.length;
      }
    }
    at = start + padded(at - start);
  });
  return bytes;
}

export function decodeConstants(bytes: Uint8Array): ConstantEntry[] {
  const bad = (why: string): never => fail('BAD_ARTIFACT', `constants.bin: ${why}`);
  if (bytes.length < HEADER_BYTES) bad(`only ${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header (truncated)`);
  for (let i = 0; i < 8; i++) {
    if (bytes[i] !== CONSTANTS_MAGIC.charCodeAt(i)) bad('does not start with the DeepPowers constants signature');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== CONSTANTS_VERSION) bad(`container version ${version} is not supported (this build reads ${CONSTANTS_VERSION})`);
  const count = view.getUint32(12, true);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const entries: ConstantEntry[] = [];
  let at = HEADER_BYTES;
  const need = (n: number, what: string): void => {
    if (at + n > bytes.length) bad(`truncated: ${what} needs ${n} bytes at offset ${at}, the file has ${bytes.length - at} left`);
  };
  for (let i = 0; i < count; i++) {
    need(8, `entry ${i} header`);
    const kind = view.getUint32(at, true);
    const length = view.getUint32(at + 4, true);
    at += 8;
    const start = at;
    if (kind === KIND_F64) {
      need(length * 8, `entry ${i} (${length} float64)`);
      const data = new Float64Array(length);
      for (let k = 0; k < length; k++) data[k] = view.getFloat64(at + 8 * k, true);
      at += length * 8;
      entries.push({ kind: 'f64', data });
    } else if (kind === KIND_STRINGS) {
      const data: string[] = [];
      for (let k = 0; k < length; k++) {
        need(4, `entry ${i} string ${k} length`);
        const n = view.getUint32(at, true);
        need(4 + n, `entry ${i} string ${k}`);
        try {
          data.push(decoder.decode(bytes.subarray(at + 4, at + 4 + n)));
        } catch {
          bad(`entry ${i} string ${k} is not valid UTF-8`);
        }
        at += 4 + n;
      }
      entries.push({ kind: 'strings', data });
    } else {
      bad(`entry ${i} at offset ${start - 8} has unknown kind ${kind}`);
    }
    const end = start + padded(at - start);
    need(end - at, `entry ${i} padding`);
    for (; at < end; at++) if (bytes[at] !== 0) bad(`entry ${i} has nonzero padding at offset ${at}`);
  }
  if (at !== bytes.length) bad(`${bytes.length - at} unexpected bytes after the last of ${count} entries`);
  return entries;
}

function padded(n: number): number {
  return Math.ceil(n / 8) * 8;
}
