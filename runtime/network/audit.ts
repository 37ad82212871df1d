import { verifyCheckpoint } from './checkpoint';
import { leafHash, MemoryTree, verifyConsistency, type Hash } from './merkle';
import type { NoteVerifierKey } from './signed-note';

/**
 * Re-check a whole transparency log from its raw contents: every entry against its leaf hash
 * and its own recorded index, every checkpoint's signature, every checkpoint's root against the
 * tree rebuilt from the entries, and a consistency proof between each pair of successive
 * checkpoints. The log signs a checkpoint after every entry, so the first checkpoint whose root
 * disagrees names the first entry that was edited, removed or reordered.
 */

export interface AuditEntry {
  /** The index the store files this entry under. */
  readonly index: number;
  readonly entry: Buffer;
  /** The leaf hash the store keeps next to the entry, when it keeps one. */
  readonly leafHash?: Buffer;
}

export interface AuditSource {
  /** Entries in the order the store holds them. */
  readonly entries: readonly AuditEntry[];
  readonly checkpoints: readonly { readonly size: number; readonly note: string }[];
  /** The source's consistency proof between two tree sizes (a server's answer, or the store's own subtrees). */
  consistency(first: number, second: number): Promise<Hash[]>;
}

export interface AuditProblem {
  /** The entry named, when the problem can be pinned to one. */
  readonly entry?: number;
  /** The checkpoint (tree size) named, when it concerns one. */
  readonly checkpoint?: number;
  readonly message: string;
}

export interface AuditReport {
  readonly ok: boolean;
  readonly entries: number;
  readonly checkpoints: number;
  readonly latest?: { readonly size: number; readonly root: string; readonly cosignedBy: readonly string[] };
  readonly problems: readonly AuditProblem[];
}

export async function auditLog(source: AuditSource, logKey: NoteVerifierKey, witnesses: readonly NoteVerifierKey[] = []): Promise<AuditReport> {
  const problems: AuditProblem[] = [];
  const tree = new MemoryTree();

  source.entries.forEach((e, position) => {
    if (e.index !== position && (position === 0 || source.entries[position - 1]!.index === position - 1)) {
      problems.push(
        e.index > position
          ? { entry: position, message: `entry ${position} is missing (the next stored entry is ${e.index}): removed` }
          : { entry: e.index, message: `entry ${e.index} is stored at position ${position}: duplicated or reordered` },
      );
    }
    const leaf = leafHash(e.entry);
    if (e.leafHash && !leaf.equals(e.leafHash)) problems.push({ entry: e.index, message: `entry ${e.index}: its bytes do not match its stored leaf hash (edited)` });
    const claimed = recordedIndex(e.entry);
    if (claimed !== undefined && claimed !== e.index) {
      problems.push({ entry: e.index, message: `entry ${e.index} records itself as entry ${claimed}: moved or reordered` });
    }
    tree.append(leaf);
  });

  const checkpoints = [...source.checkpoints].sort((a, b) => a.size - b.size);
  let previous: { size: number; root: Buffer } | undefined;
  let firstMismatch = true;
  let latest: AuditReport['latest'];
  for (const stored of checkpoints) {
    let cp;
    try {
      cp = verifyCheckpoint(stored.note, logKey, witnesses);
    } catch (e) {
      problems.push({ checkpoint: stored.size, message: `checkpoint ${stored.size}: ${(e as Error).message}` });
      continue;
    }
    if (cp.size !== stored.size) {
      problems.push({ checkpoint: stored.size, message: `checkpoint filed under size ${stored.size} signs size ${cp.size}` });
      continue;
    }
    if (cp.size > tree.size) {
      problems.push({
        checkpoint: cp.size,
        entry: tree.size,
        message: `checkpoint ${cp.size} signs ${cp.size} entries but the log holds ${tree.size}: entries ${tree.size}…${cp.size - 1} were removed`,
      });
    } else if (!tree.root(cp.size).equals(cp.root)) {
      if (firstMismatch) {
        const from = previous?.size ?? 0;
        const last = cp.size - 1;
        problems.push({
          checkpoint: cp.size,
          entry: last,
          message:
            from === last
              ? `entry ${last} was edited, removed or reordered: the log no longer matches its signed checkpoint ${cp.size}`
              : `an entry in ${from}…${last} was edited, removed or reordered: the log no longer matches its signed checkpoint ${cp.size}`,
        });
        firstMismatch = false;
      } else {
        problems.push({ checkpoint: cp.size, message: `checkpoint ${cp.size} does not match the entries either` });
      }
    }
    if (previous) {
      let proof: Hash[] | undefined;
      try {
        proof = await source.consistency(previous.size, cp.size);
      } catch (e) {
        problems.push({ checkpoint: cp.size, message: `no consistency proof from ${previous.size} to ${cp.size}: ${(e as Error).message}` });
      }
      if (proof && !verifyConsistency(previous.size, cp.size, previous.root, cp.root, proof)) {
        problems.push({ checkpoint: cp.size, message: `checkpoints ${previous.size} and ${cp.size} are not consistent: the log was rewritten between them` });
      }
    }
    previous = { size: cp.size, root: cp.root };
    latest = { size: cp.size, root: cp.root.toString('base64'), cosignedBy: cp.cosignedBy };
  }
  const covered = previous?.size ?? 0;
  if (tree.size > covered) {
    problems.push({ entry: covered, message: `entries ${covered}…${tree.size - 1} are not covered by any signed checkpoint: added outside the log` });
  }
  return { ok: problems.length === 0, entries: tree.size, checkpoints: checkpoints.length, ...(latest ? { latest } : {}), problems };
}

function recordedIndex(entry: Buffer): number | undefined {
  try {
    const v = JSON.parse(entry.toString('utf8')) as { index?: unknown };
    return typeof v.index === 'number' ? v.index : undefined;
  } catch {
    return undefined;
  }
}
