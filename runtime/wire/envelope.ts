import { createHash } from 'node:crypto';
import { fail } from '../../compiler/errors';

/**
 * The binary wrapper around everything that crosses between client and server: ciphertext
 * batches, evaluation-key bundles and results, whichever backend made them. A backend's own
 * serialization (SEAL's) says nothing about which model or parameter set bytes were made for, and its loader accepts many corrupted buffers
 * (flipped bits inside zstd frames decode to valid-looking polynomials), so the envelope binds the
 * parts to a model and a parameter set and checksums the whole.
 *
 * Layout (little endian):
 *   "DPWR"                      4 bytes magic
 *   version                     u16 (ENVELOPE_VERSION)
 *   kind                        u8  (1 ciphertexts, 2 eval-keys, 3 result)
 *   reserved                    u8  = 0
 *   model hash                  32 bytes (SHA-256 of the compiled model)
 *   parameter id length         u16, then that many UTF-8 bytes
 *   part count                  u32
 *   part lengths                u32 × count
 *   parts                       concatenated
 *   checksum                    32 bytes SHA-256 of everything above
 *
 * The checksum detects truncation and corruption, not forgery: anyone can recompute it. Integrity
 * against an active attacker is the transport's job (TLS); CKKS ciphertexts are malleable anyway.
 */
export const ENVELOPE_MAGIC = 'DPWR';
export const ENVELOPE_VERSION = 1;

export type EnvelopeKind = 'ciphertexts' | 'eval-keys' | 'result';
const KIND_CODES: Record<EnvelopeKind, number> = { ciphertexts: 1, 'eval-keys': 2, result: 3 };

export interface Envelope {
  readonly kind: EnvelopeKind;
  /** Lowercase hex SHA-256 of the compiled model. */
  readonly modelHash: string;
  readonly parameterId: string;
  readonly parts: readonly Uint8Array[];
}

/** What the reader requires; any mismatch is a BAD_CIPHERTEXT error naming both sides. */
export interface EnvelopeExpectation {
  readonly kind: EnvelopeKind;
  readonly modelHash: string;
  readonly parameterId: string;
  /** Exact number of parts, when the reader knows it. */
  readonly count?: number;
}

const FIXED_HEADER = 4 + 2 + 1 + 1 + 32;
const CHECKSUM_BYTES = 32;

export function writeEnvelope(env: Envelope): Uint8Array {
  const hash = hashBytes(env.modelHash);
  const pid = new TextEncoder().encode(env.parameterId);
  if (pid.length > 0xffff) fail('BAD_ARGUMENT', 'parameter id longer than 65535 bytes');
  const payload = env.parts.reduce((n, p) => n + p.length, 0);
  const headerBytes = FIXED_HEADER + 2 + pid.length + 4 + 4 * env.parts.length;
  const out = new Uint8Array(headerBytes + payload + CHECKSUM_BYTES);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(ENVELOPE_MAGIC), 0);
  view.setUint16(4, ENVELOPE_VERSION, true);
  view.setUint8(6, KIND_CODES[env.kind]);
  view.setUint8(7, 0);
  out.set(hash, 8);
  let at = FIXED_HEADER;
  view.setUint16(at, pid.length, true);
  out.set(pid, at + 2);
  at += 2 + pid.length;
  view.setUint32(at, env.parts.length, true);
  at += 4;
  for (const p of env.parts) {
    if (p.length > 0xffffffff) fail('BAD_ARGUMENT', 'an envelope part exceeds 4 GiB');
    view.setUint32(at, p.length, true);
    at += 4;
  }
  for (const p of env.parts) {
    out.set(p, at);
    at += p.length;
  }
  out.set(sha256(out.subarray(0, at)), at);
  return out;
}

/** Parse and validate. Parts are views into `bytes` (no copy). */
export function readEnvelope(bytes: Uint8Array, expect: EnvelopeExpectation): Envelope {
  const what = describe(expect.kind);
  const bad = (msg: string): never => fail('BAD_CIPHERTEXT', `${what}: ${msg}`);
  if (bytes.length < 4 || new TextDecoder().decode(bytes.subarray(0, 4)) !== ENVELOPE_MAGIC) {
    bad(`not a DeepPowers envelope (magic is not "${ENVELOPE_MAGIC}")`);
  }
  if (bytes.length < FIXED_HEADER + 2 + 4 + CHECKSUM_BYTES) bad(`truncated: ${bytes.length} bytes is shorter than any envelope`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== ENVELOPE_VERSION) bad(`envelope format version ${version}, this build reads version ${ENVELOPE_VERSION}`);

  // Lengths first, so a cut-off buffer reads as truncated rather than as a checksum mismatch.
  let at = FIXED_HEADER;
  const pidLength = view.getUint16(at, true);
  at += 2;
  if (at + pidLength + 4 > bytes.length) bad('truncated inside the header');
  const pidBytes = bytes.subarray(at, at + pidLength);
  at += pidLength;
  const count = view.getUint32(at, true);
  at += 4;
  if (at + 4 * count + CHECKSUM_BYTES > bytes.length) bad(`truncated: header announces ${count} parts`);
  const lengths: number[] = [];
  let payload = 0;
  for (let i = 0; i < count; i++) {
    const n = view.getUint32(at, true);
    lengths.push(n);
    payload += n;
    at += 4;
  }
  const expectedSize = at + payload + CHECKSUM_BYTES;
  if (bytes.length < expectedSize) bad(`truncated: ${bytes.length} of ${expectedSize} bytes`);
  if (bytes.length > expectedSize) bad(`${bytes.length - expectedSize} unexpected bytes after the checksum`);
  const body = bytes.subarray(0, expectedSize - CHECKSUM_BYTES);
  if (!equalBytes(sha256(body), bytes.subarray(expectedSize - CHECKSUM_BYTES))) {
    bad('checksum mismatch: the bytes were altered or corrupted in transit');
  }

  // Only now, with the bytes known intact, are the header's claims worth comparing.
  const kindCode = view.getUint8(6);
  const kind = (Object.keys(KIND_CODES) as EnvelopeKind[]).find((k) => KIND_CODES[k] === kindCode);
  if (!kind) bad(`unknown envelope kind ${kindCode}`);
  if (kind !== expect.kind) bad(`this is ${describe(kind!)}, not ${what}`);
  const modelHash = Buffer.from(bytes.subarray(8, 40)).toString('hex');
  if (modelHash !== normalizeHash(expect.modelHash)) {
    bad(`made for model ${modelHash.slice(0, 12)}…, not for this model ${normalizeHash(expect.modelHash).slice(0, 12)}…`);
  }
  let parameterId: string;
  try {
    parameterId = new TextDecoder('utf-8', { fatal: true }).decode(pidBytes);
  } catch {
    bad('parameter id is not UTF-8');
  }
  if (parameterId! !== expect.parameterId) bad(`made for parameter set "${parameterId!}", not "${expect.parameterId}"`);
  if (expect.count !== undefined && count !== expect.count) bad(`holds ${count} parts, expected ${expect.count}`);

  const parts: Uint8Array[] = [];
  for (const n of lengths) {
    parts.push(bytes.subarray(at, at + n));
    at += n;
  }
  return { kind: kind!, modelHash, parameterId: parameterId!, parts };
}

/**
 * The model an envelope claims to be for, read from the header alone, so a server can pick the
 * model whose expectations `readEnvelope` then checks in full. Not trustworthy by itself.
 */
export function peekEnvelopeModel(bytes: Uint8Array): string {
  if (bytes.length < FIXED_HEADER || new TextDecoder().decode(bytes.subarray(0, 4)) !== ENVELOPE_MAGIC) {
    fail('BAD_CIPHERTEXT', `not a DeepPowers envelope (magic is not "${ENVELOPE_MAGIC}" or the header is cut short)`);
  }
  return Buffer.from(bytes.subarray(8, 40)).toString('hex');
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

function describe(kind: EnvelopeKind): string {
  return kind === 'ciphertexts' ? 'encrypted input' : kind === 'eval-keys' ? 'evaluation keys' : 'encrypted result';
}

function normalizeHash(hex: string): string {
  return hex.toLowerCase();
}

function hashBytes(hex: string): Uint8Array {
  const h = normalizeHash(hex);
  if (!/^[0-9a-f]{64}$/.test(h)) fail('BAD_ARGUMENT', `model hash must be 64 hex digits (SHA-256), got "${hex}"`);
  return new Uint8Array(Buffer.from(h, 'hex'));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
