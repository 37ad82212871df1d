import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../compiler/errors';
import { canonicalBytes } from './canonical-json';
import { addSignatureLines, logKeyOf, signCheckpoint, verifyCheckpoint } from './checkpoint';
import { loadOrCreateIdentity, type Identity } from './identity';
import { LogStore } from './log-store';
import { leafHash, verifyInclusion } from './merkle';
import { formatVkey, parseVkey, type NoteVerifierKey } from './signed-note';

/** The log's public verifier key, next to the database, for `deeppowers audit verify --data-dir`. */
export const LOG_VKEY_FILE = 'log.vkey';
const LOG_KEY_NAME = 'log-key';

/** What a released result carries so its holder can check it was logged: the entry, where, and the proof. */
export interface LogReceipt {
  /** The log entry's exact bytes (canonical JSON), base64. */
  readonly entry: string;
  readonly index: number;
  /** The signed checkpoint note the proof leads to. */
  readonly checkpoint: string;
  /** Inclusion proof hashes, base64, from the leaf to the checkpoint's root. */
  readonly proof: readonly string[];
}

/**
 * The server's transparency log: the SQLite store, the server's Ed25519 log key (made on first
 * start in the data dir) and the origin line its checkpoints carry.
 */
export class TransparencyLog {
  readonly key: NoteVerifierKey;

  private constructor(
    readonly store: LogStore,
    private readonly identity: Identity,
    readonly origin: string,
  ) {
    this.key = logKeyOf(origin, identity);
  }

  /** The log in `dataDir`, signed by `identity` (a token key) or else by the data dir's own log key. */
  static open(dataDir: string, identity: Identity = loadOrCreateIdentity(dataDir, LOG_KEY_NAME)): TransparencyLog {
    const origin = `deeppowers/log/${identity.id}`;
    const vkeyPath = join(dataDir, LOG_VKEY_FILE);
    const vkey = formatVkey(logKeyOf(origin, identity));
    // A log is signed by one key for life: checkpoints under a second key would break every verifier's pin.
    if (existsSync(vkeyPath) && readFileSync(vkeyPath, 'utf8').trim() !== vkey) {
      fail('BAD_ARGUMENT', `the log in ${dataDir} is signed by ${readFileSync(vkeyPath, 'utf8').trim().split('+')[0]}, not by this key (${origin}); use the key it was started with, or a new data dir`);
    }
    const log = new TransparencyLog(LogStore.open(dataDir), identity, origin);
    if (!existsSync(vkeyPath)) writeFileSync(vkeyPath, `${log.vkey}\n`);
    return log;
  }

  get vkey(): string {
    return formatVkey(this.key);
  }

  /** Append a record (its `index` is set here) for tenant `owner` and sign the checkpoint that covers it. */
  append(record: Record<string, unknown>, owner?: string): LogReceipt {
    const index = this.store.size;
    const entry = canonicalBytes({ ...record, index });
    const { checkpoint } = this.store.append(entry, (size, root) => signCheckpoint({ origin: this.origin, size, root }, this.identity), new Date(), owner);
    return this.receipt(index, entry, checkpoint.size);
  }

  /** Add witness cosignature lines to the checkpoint of `size`. */
  cosign(size: number, lines: readonly string[]): string {
    const cp = this.store.checkpoint(size);
    if (!cp) fail('BAD_ARGUMENT', `the log has no checkpoint of size ${size}`);
    const note = addSignatureLines(cp.note, lines);
    this.store.updateCheckpointNote(size, note);
    return note;
  }

  receipt(index: number, entry: Buffer, size: number): LogReceipt {
    const cp = this.store.checkpoint(size);
    if (!cp) fail('BAD_ARGUMENT', `the log has no checkpoint of size ${size}`);
    return {
      entry: entry.toString('base64'),
      index,
      checkpoint: cp.note,
      proof: this.store.inclusionProof(index, size).map((h) => h.toString('base64')),
    };
  }

  close(): void {
    this.store.close();
  }
}

/** The log's verifier key as written in a data dir. */
export function readLogVkey(dataDir: string): NoteVerifierKey {
  const path = join(dataDir, LOG_VKEY_FILE);
  if (!existsSync(path)) fail('BAD_ARGUMENT', `${path} not found: is ${dataDir} the data dir of a deeppowers server?`);
  return parseVkey(readFileSync(path, 'utf8').trim());
}

export interface CheckedReceipt {
  readonly index: number;
  readonly size: number;
  /** The root of the checkpoint the receipt leads to. */
  readonly root: Buffer;
  readonly cosignedBy: readonly string[];
  readonly entry: Record<string, unknown>;
}

/**
 * Check a receipt: the checkpoint is signed by the log key, the entry is at `index` under its
 * root, and (reported, not required here) which witnesses cosigned it. Throws with the reason.
 */
export function verifyReceipt(receipt: LogReceipt, logKey: NoteVerifierKey, witnesses: readonly NoteVerifierKey[] = []): CheckedReceipt {
  const cp = verifyCheckpoint(receipt.checkpoint, logKey, witnesses);
  const entry = Buffer.from(receipt.entry, 'base64');
  const proof = receipt.proof.map((p) => Buffer.from(p, 'base64'));
  if (!verifyInclusion(receipt.index, cp.size, leafHash(entry), proof, cp.root)) {
    fail('BAD_CIPHERTEXT', `the log's inclusion proof for entry ${receipt.index} does not lead to its signed checkpoint ${cp.size}`);
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(entry.toString('utf8')) as Record<string, unknown>;
  } catch {
    return fail('BAD_CIPHERTEXT', `log entry ${receipt.index} is not a JSON record`);
  }
  if (parsed.index !== receipt.index) fail('BAD_CIPHERTEXT', `log entry ${receipt.index} records itself as entry ${String(parsed.index)}`);
  return { index: receipt.index, size: cp.size, root: cp.root, cosignedBy: cp.cosignedBy, entry: parsed };
}
