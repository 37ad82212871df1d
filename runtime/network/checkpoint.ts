import { fail } from '../../compiler/errors';
import { verifyEd25519, type Identity } from './identity';
import { HASH_BYTES } from './merkle';
import {
  keyIdOf,
  parseNote,
  SIG_COSIGNATURE_ED25519,
  SIG_ED25519,
  signatureLine,
  signaturesBy,
  signNote,
  verifyNoteSignature,
  type NoteVerifierKey,
} from './signed-note';

/**
 * C2SP tlog-checkpoint bodies (`origin\nsize\nbase64(root)\n`) signed by the log key, and C2SP
 * tlog-cosignature Ed25519 cosignatures by witnesses (the review nodes): a witness signs
 * "cosignature/v1\ntime T\n" + the body, stating that as of T this is the largest tree it has
 * seen for the origin, consistent with everything it saw before.
 */

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Buffer;
}

export function checkpointBody(cp: Checkpoint): string {
  if (!/^[^\s+]+$/.test(cp.origin)) fail('BAD_ARGUMENT', `a log origin has no spaces or '+': "${cp.origin}"`);
  return `${cp.origin}\n${cp.size}\n${cp.root.toString('base64')}\n`;
}

export function parseCheckpointBody(body: string): Checkpoint {
  const lines = body.split('\n');
  const [origin, size, root] = lines;
  if (lines.length < 4 || !origin || !size || !/^(0|[1-9][0-9]*)$/.test(size)) fail('BAD_ARGUMENT', 'not a checkpoint: expected origin, size and root lines');
  const hash = Buffer.from(root ?? '', 'base64');
  if (hash.length !== HASH_BYTES || hash.toString('base64') !== root) fail('BAD_ARGUMENT', 'not a checkpoint: the root is not a base64 SHA-256 hash');
  return { origin, size: Number(size), root: hash };
}

export function logKeyOf(origin: string, identity: Pick<Identity, 'publicKey'>): NoteVerifierKey {
  return { name: origin, type: SIG_ED25519, publicKey: identity.publicKey };
}

/** The key name a node cosigns checkpoints under. */
export function witnessName(nodeId: string): string {
  return `deeppowers/node/${nodeId}`;
}

export function witnessKeyOf(name: string, identity: Pick<Identity, 'publicKey'>): NoteVerifierKey {
  return { name, type: SIG_COSIGNATURE_ED25519, publicKey: identity.publicKey };
}

/** The checkpoint as a note signed by the log key (whose name is the origin). */
export function signCheckpoint(cp: Checkpoint, log: Identity): string {
  return signNote(checkpointBody(cp), cp.origin, log);
}

function cosignedMessage(body: string, time: bigint): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${time}\n${body}`, 'utf8');
}

/** One witness cosignature line for the checkpoint `body`, timestamped `timeSeconds`. */
export function cosignatureLine(body: string, witnessName: string, witness: Identity, timeSeconds: number): string {
  const time = BigInt(Math.floor(timeSeconds));
  const stamp = Buffer.alloc(8);
  stamp.writeBigUInt64BE(time);
  const sig = witness.sign(cosignedMessage(body, time));
  return signatureLine(witnessName, keyIdOf(witnessName, SIG_COSIGNATURE_ED25519, witness.publicKey), Buffer.concat([stamp, sig]));
}

/** Add signature lines to a note (cosignatures arrive after the log has signed). */
export function addSignatureLines(note: string, lines: readonly string[]): string {
  return note + lines.filter((l) => !note.includes(l)).join('');
}

export interface CheckedCheckpoint extends Checkpoint {
  /** Names of the witness keys whose cosignatures verified. */
  readonly cosignedBy: readonly string[];
}

/**
 * Parse a checkpoint note and check it: the log key must have signed it, and each witness key
 * given is checked for a valid cosignature (missing or bad ones are simply not listed).
 */
export function verifyCheckpoint(note: string, logKey: NoteVerifierKey, witnesses: readonly NoteVerifierKey[] = []): CheckedCheckpoint {
  const parsed = parseNote(note);
  const cp = parseCheckpointBody(parsed.body);
  if (cp.origin !== logKey.name) fail('BAD_ARGUMENT', `checkpoint is for log "${cp.origin}", expected "${logKey.name}"`);
  if (!verifyNoteSignature(parsed, logKey)) fail('BAD_ARGUMENT', `checkpoint of size ${cp.size} is not signed by the log key ${logKey.name}`);
  const cosignedBy = witnesses
    .filter((w) =>
      signaturesBy(parsed, w).some((s) => {
        if (s.signature.length !== 8 + 64) return false;
        const time = s.signature.readBigUInt64BE(0);
        return verifyEd25519(w.publicKey, cosignedMessage(parsed.body, time), s.signature.subarray(8));
      }),
    )
    .map((w) => w.name);
  return { ...cp, cosignedBy };
}
