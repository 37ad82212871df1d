import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ensurePrivateFile } from './private-file';
import { fail } from '../../compiler/errors';
import { consistencyProof, emptyRoot, inclusionProof, leafHash, nodeHash, rangeFromSubtrees, type Hash, type RangeHash } from './merkle';

/**
 * The append-only Merkle log in SQLite (`<data-dir>/log.sqlite`): every entry with its leaf
 * hash, the hash of every complete perfect subtree (so proofs cost O(log² n) reads, never a
 * scan), and every signed checkpoint. Appending an entry and storing the checkpoint that covers
 * it is one transaction, so a crash never leaves an entry no checkpoint signs. Triggers refuse
 * updates and deletes of entries; they stop accidents, not someone with the file — that is what
 * `deeppowers audit verify` and clients' pinned checkpoints are for.
 */

export const LOG_FILE = 'log.sqlite';

export interface StoredEntry {
  readonly index: number;
  readonly entry: Buffer;
  readonly leafHash: Buffer;
  readonly createdAt: string;
  /** The tenant whose job the entry records (absent: written before owners were kept, or by no tenant). */
  readonly owner?: string;
}

export interface StoredCheckpoint {
  readonly size: number;
  readonly root: Buffer;
  readonly note: string;
}

/** Signs the checkpoint for a tree of `size` leaves with root `root`; returns the note text. */
export type CheckpointSigner = (size: number, root: Hash) => string;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS leaves(idx INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL, entry BLOB NOT NULL, created_at TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS subtrees(level INTEGER NOT NULL, i INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY(level, i)) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints(size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS owners(idx INTEGER PRIMARY KEY, tenant TEXT NOT NULL) STRICT;
CREATE TRIGGER IF NOT EXISTS leaves_no_update BEFORE UPDATE ON leaves BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS leaves_no_delete BEFORE DELETE ON leaves BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END;
`;

export class LogStore {
  readonly rangeHash: RangeHash;

  private constructor(
    private readonly db: DatabaseSync,
    readonly path: string,
  ) {
    const get = db.prepare('SELECT hash FROM subtrees WHERE level = ? AND i = ?');
    this.rangeHash = rangeFromSubtrees((level, i) => {
      const row = get.get(level, i) as { hash: Uint8Array } | undefined;
      if (!row) fail('BAD_ARTIFACT', `log ${path}: subtree ${level}/${i} is missing`);
      return Buffer.from(row.hash);
    });
  }

  /** Open (creating when `create`) the log in `dataDir`. */
  static open(dataDir: string, options: { readonly create?: boolean } = {}): LogStore {
    const path = join(dataDir, LOG_FILE);
    const create = options.create ?? true;
    // Every tenant's job ids and keys ids: readable by the server's user alone.
    if (create) ensurePrivateFile(path);
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path, { open: true, readOnly: !create });
    } catch (e) {
      return fail('IO', `cannot open the log ${path}: ${(e as Error).message.split('\n')[0]}`);
    }
    if (create) {
      db.exec('PRAGMA journal_mode = WAL');
      db.exec(SCHEMA);
    }
    return new LogStore(db, path);
  }

  get size(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM leaves').get() as { n: number }).n;
  }

  root(size: number = this.size): Hash {
    return size === 0 ? emptyRoot() : this.rangeHash(0, size);
  }

  /**
   * Append one entry and store the checkpoint that covers it, signed by `sign`, in one
   * transaction. Returns the new entry's index and the checkpoint note.
   */
  append(entry: Uint8Array, sign: CheckpointSigner, now: Date = new Date(), owner?: string): { index: number; checkpoint: StoredCheckpoint } {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const index = this.size;
      const leaf = leafHash(entry);
      this.db.prepare('INSERT INTO leaves(idx, leaf_hash, entry, created_at) VALUES (?, ?, ?, ?)').run(index, leaf, entry, now.toISOString());
      // Who the entry belongs to is kept beside the tree, not in it: it decides which tenant may read the entry.
      if (owner !== undefined) this.db.prepare('INSERT INTO owners(idx, tenant) VALUES (?, ?)').run(index, owner);
      const putSubtree = this.db.prepare('INSERT INTO subtrees(level, i, hash) VALUES (?, ?, ?)');
      const getSubtree = this.db.prepare('SELECT hash FROM subtrees WHERE level = ? AND i = ?');
      putSubtree.run(0, index, leaf);
      let h: Buffer = leaf;
      for (let level = 0, i = index; i % 2 === 1; level++, i = (i - 1) / 2) {
        const left = getSubtree.get(level, i - 1) as { hash: Uint8Array };
        h = nodeHash(left.hash, h);
        putSubtree.run(level + 1, (i - 1) / 2, h);
      }
      const size = index + 1;
      const root = this.root(size);
      const note = sign(size, root);
      this.db.prepare('INSERT INTO checkpoints(size, root, note) VALUES (?, ?, ?)').run(size, root, note);
      this.db.exec('COMMIT');
      return { index, checkpoint: { size, root, note } };
    } catch (e) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  /** Replace a checkpoint's note by one carrying more signatures (witness cosignatures) over the same body. */
  updateCheckpointNote(size: number, note: string): void {
    this.db.prepare('UPDATE checkpoints SET note = ? WHERE size = ?').run(note, size);
  }

  entries(start = 0, end: number = Number.MAX_SAFE_INTEGER): StoredEntry[] {
    // A log opened read-only from an older server has no owners table.
    const owners = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'owners'").get() !== undefined;
    const rows = this.db
      .prepare(
        owners
          ? 'SELECT l.idx, l.entry, l.leaf_hash, l.created_at, o.tenant FROM leaves l LEFT JOIN owners o ON o.idx = l.idx WHERE l.idx >= ? AND l.idx < ? ORDER BY l.idx'
          : 'SELECT idx, entry, leaf_hash, created_at, NULL AS tenant FROM leaves WHERE idx >= ? AND idx < ? ORDER BY idx',
      )
      .all(start, end) as {
      idx: number;
      entry: Uint8Array;
      leaf_hash: Uint8Array;
      created_at: string;
      tenant: string | null;
    }[];
    return rows.map((r) => ({
      index: r.idx,
      entry: Buffer.from(r.entry),
      leafHash: Buffer.from(r.leaf_hash),
      createdAt: r.created_at,
      ...(r.tenant === null ? {} : { owner: r.tenant }),
    }));
  }

  checkpoints(start = 0, end: number = Number.MAX_SAFE_INTEGER, limit = -1): StoredCheckpoint[] {
    const rows = this.db.prepare('SELECT size, root, note FROM checkpoints WHERE size >= ? AND size < ? ORDER BY size LIMIT ?').all(start, end, limit) as {
      size: number;
      root: Uint8Array;
      note: string;
    }[];
    return rows.map((r) => ({ size: r.size, root: Buffer.from(r.root), note: r.note }));
  }

  checkpoint(size: number): StoredCheckpoint | undefined {
    const r = this.db.prepare('SELECT size, root, note FROM checkpoints WHERE size = ?').get(size) as { size: number; root: Uint8Array; note: string } | undefined;
    return r && { size: r.size, root: Buffer.from(r.root), note: r.note };
  }

  latestCheckpoint(): StoredCheckpoint | undefined {
    const r = this.db.prepare('SELECT size FROM checkpoints ORDER BY size DESC LIMIT 1').get() as { size: number } | undefined;
    return r && this.checkpoint(r.size);
  }

  inclusionProof(index: number, size: number): Hash[] {
    return inclusionProof(index, size, this.rangeHash);
  }

  consistencyProof(first: number, second: number): Hash[] {
    return consistencyProof(first, second, this.rangeHash);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
