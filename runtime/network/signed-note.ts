import { createHash } from 'node:crypto';
import { fail } from '../../compiler/errors';
import { verifyEd25519, type Identity } from './identity';

/**
 * C2SP signed notes (https://c2sp.org/signed-note): a text body ending in a newline, a blank
 * line, then one line per signature, `— <key name> base64(key id ‖ signature)`. Key ids are the
 * first four bytes of SHA-256(name ‖ '\n' ‖ signature type ‖ public key), so a verifier can
 * ignore signatures from keys it does not know.
 */

/** Signature type bytes this project uses. */
export const SIG_ED25519 = 0x01;
export const SIG_COSIGNATURE_ED25519 = 0x04;

const EM_DASH = '\u2014';

export interface NoteSignature {
  readonly name: string;
  readonly keyId: Buffer;
  readonly signature: Buffer;
}

export interface Note {
  readonly body: string;
  readonly signatures: readonly NoteSignature[];
}

/** A key a verifier trusts: name, signature type and raw Ed25519 public key. */
export interface NoteVerifierKey {
  readonly name: string;
  readonly type: typeof SIG_ED25519 | typeof SIG_COSIGNATURE_ED25519;
  readonly publicKey: Buffer;
}

export function keyIdOf(name: string, type: number, publicKey: Uint8Array): Buffer {
  return createHash('sha256').update(Buffer.from(name, 'utf8')).update(Buffer.from([0x0a, type])).update(publicKey).digest().subarray(0, 4);
}

/** The verifier key text `name+hex(keyid)+base64(type ‖ key)`. */
export function formatVkey(key: NoteVerifierKey): string {
  return `${key.name}+${keyIdOf(key.name, key.type, key.publicKey).toString('hex')}+${Buffer.concat([Buffer.from([key.type]), key.publicKey]).toString('base64')}`;
}

export function parseVkey(text: string): NoteVerifierKey {
  const first = text.indexOf('+');
  const second = text.indexOf('+', first + 1);
  if (first <= 0 || second < 0) fail('BAD_ARGUMENT', `not a verifier key (name+keyid+key): "${text.slice(0, 80)}"`);
  const name = text.slice(0, first);
  const id = text.slice(first + 1, second);
  const raw = Buffer.from(text.slice(second + 1).trim(), 'base64');
  const type = raw[0];
  if (raw.length !== 33 || (type !== SIG_ED25519 && type !== SIG_COSIGNATURE_ED25519)) fail('BAD_ARGUMENT', `verifier key ${name}: not an Ed25519 key`);
  const key: NoteVerifierKey = { name, type, publicKey: raw.subarray(1) };
  if (keyIdOf(name, type, key.publicKey).toString('hex') !== id) fail('BAD_ARGUMENT', `verifier key ${name}: key id ${id} does not match the key`);
  return key;
}

export function signatureLine(name: string, keyId: Uint8Array, signature: Uint8Array): string {
  return `${EM_DASH} ${name} ${Buffer.concat([keyId, signature]).toString('base64')}\n`;
}

/** Sign `body` (which must end in a newline) as a note with one Ed25519 signature. */
export function signNote(body: string, name: string, identity: Identity): string {
  checkBody(body);
  const sig = identity.sign(Buffer.from(body, 'utf8'));
  return `${body}\n${signatureLine(name, keyIdOf(name, SIG_ED25519, identity.publicKey), sig)}`;
}

export function parseNote(text: string): Note {
  const split = text.lastIndexOf('\n\n');
  if (split < 0 || !text.endsWith('\n')) fail('BAD_ARGUMENT', 'not a signed note: no blank line before the signatures, or no final newline');
  const body = text.slice(0, split + 1);
  checkBody(body);
  const signatures = text
    .slice(split + 2, -1)
    .split('\n')
    .map((line) => {
      const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (!m) fail('BAD_ARGUMENT', `malformed signature line in note: "${line.slice(0, 80)}"`);
      const bytes = Buffer.from(m[2]!, 'base64');
      if (bytes.length < 5) fail('BAD_ARGUMENT', `signature line for ${m[1]} is too short`);
      return { name: m[1]!, keyId: bytes.subarray(0, 4), signature: bytes.subarray(4) };
    });
  if (signatures.length === 0) fail('BAD_ARGUMENT', 'signed note has no signatures');
  return { body, signatures };
}

/** The signatures of `note` made by `key`, checked; what a caller verifies depends on the key's type. */
export function signaturesBy(note: Note, key: NoteVerifierKey): NoteSignature[] {
  const id = keyIdOf(key.name, key.type, key.publicKey);
  return note.signatures.filter((s) => s.name === key.name && s.keyId.equals(id));
}

/** Whether `key` (type Ed25519) signed the note's body. */
export function verifyNoteSignature(note: Note, key: NoteVerifierKey): boolean {
  return signaturesBy(note, key).some((s) => verifyEd25519(key.publicKey, Buffer.from(note.body, 'utf8'), s.signature));
}

function checkBody(body: string): void {
  if (!body.endsWith('\n') || body.includes('\n\n')) fail('BAD_ARGUMENT', 'a note body ends in one newline and has no blank lines');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(body)) fail('BAD_ARGUMENT', 'a note body has no control characters but newlines');
}
