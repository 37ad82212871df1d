import { verifyCheckpoint, type CheckedCheckpoint } from './checkpoint';
import { leafHash, MemoryTree, verifyConsistency, type Hash } from './merkle';
import type { NodeList } from './node-list';
import { checkReleaseEntry, type CheckedRelease } from './release';
import type { NoteVerifierKey } from './signed-note';

/**
 * Re-check a whole transparency log from its raw contents: every entry against its leaf hash
 * and its own recorded index, every entry's attestations and quorum, every checkpoint's
 * signature (and that none is missing: the log signs one after every entry), every
 * checkpoint's root against the tree rebuilt from the entries, and a consistency proof between
 * each pair of successive checkpoints. The first checkpoint whose root disagrees names the
 * first entry that was edited, removed or reordered.
 *
 * With the operator's nodes list, only listed nodes count in an entry (its computing node and its
 * quorum's reviewers), as they do for the server and its clients.
 *
 * All of that is within what the source shows, and the key holder can rewrite the source and
 * re-sign it. Two anchors from outside catch that: a checkpoint kept earlier (`since`: a
 * checkpoint saved by `audit verify --save-checkpoint`, or the one a client kept), which the log
 * must still contain and prove consistent with its latest (RFC 9162), and witness keys whose
 * cosignatures the latest checkpoint must carry.
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
  readonly latest?: { readonly size: number; readonly root: string; readonly cosignedBy: readonly string[]; readonly note: string };
  /** The checkpoint given with `since`, when it was checked. */
  readonly since?: { readonly size: number; readonly root: string };
  readonly problems: readonly AuditProblem[];
  /** What the check could not cover (e.g. a log key read from the audited source itself). */
  readonly warnings: readonly string[];
}

export interface AuditOptions {
  /** Witness keys (C2SP tlog-cosignature) whose cosignatures count. */
  readonly witnesses?: readonly NoteVerifierKey[];
  /** How many of them must have cosigned the latest checkpoint (default 0). */
  readonly minCosignatures?: number;
  /** A signed checkpoint kept from earlier: the log must still hold it and extend it. */
  readonly since?: string;
  /**
   * The operator's list of trusted nodes (`serve --nodes`): each entry's result must then be
   * signed by a listed compute node under its listed key, and only listed review nodes count
   * towards the quorum it records. Without it an entry is checked against the keys it names itself.
   */
  readonly nodes?: NodeList;
  readonly warnings?: readonly string[];
}

export async function auditLog(source: AuditSource, logKey: NoteVerifierKey, options: AuditOptions = {}): Promise<AuditReport> {
  const witnesses = options.witnesses ?? [];
  const problems: AuditProblem[] = [];
  const warnings = [...(options.warnings ?? [])];
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
    const release = releaseProblem(e.entry, options.nodes);
    if (release) problems.push({ entry: e.index, message: `entry ${e.index}: ${release}` });
    tree.append(leaf);
  });

  const checkpoints = [...source.checkpoints].sort((a, b) => a.size - b.size);
  const filed = new Set(checkpoints.map((c) => c.size));
  for (let size = 1; size <= tree.size; ) {
    if (filed.has(size)) {
      size++;
      continue;
    }
    let last = size;
    while (last + 1 <= tree.size && !filed.has(last + 1)) last++;
    problems.push({
      checkpoint: size,
      message: last === size ? `checkpoint ${size} is missing: deleted (the log signs one after every entry)` : `checkpoints ${size}…${last} are missing: deleted (the log signs one after every entry)`,
    });
    size = last + 1;
  }
  let previous: { size: number; root: Buffer } | undefined;
  let firstMismatch = true;
  let latest: AuditReport['latest'];
  let latestChecked: CheckedCheckpoint | undefined;
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
    latest = { size: cp.size, root: cp.root.toString('base64'), cosignedBy: cp.cosignedBy, note: stored.note };
    latestChecked = cp;
  }
  const covered = previous?.size ?? 0;
  if (tree.size > covered) {
    problems.push({ entry: covered, message: `entries ${covered}…${tree.size - 1} are not covered by any signed checkpoint: added outside the log` });
  }

  const minCosignatures = options.minCosignatures ?? 0;
  if (minCosignatures > 0 && latestChecked && latestChecked.cosignedBy.length < minCosignatures) {
    problems.push({
      checkpoint: latestChecked.size,
      message:
        `checkpoint ${latestChecked.size}, the latest, carries ${latestChecked.cosignedBy.length} of the ${minCosignatures} cosignatures required from the witness keys: ` +
        'no witness vouches for this history (the key holder may have rewritten and re-signed it)',
    });
  }

  let since: AuditReport['since'];
  if (options.since !== undefined) {
    const kept = await checkSince(options.since, logKey, tree, latestChecked, source, problems);
    if (kept) since = { size: kept.size, root: kept.root.toString('base64') };
  }
  return {
    ok: problems.length === 0,
    entries: tree.size,
    checkpoints: checkpoints.length,
    ...(latest ? { latest } : {}),
    ...(since ? { since } : {}),
    problems,
    warnings,
  };
}

/**
 * The log must still be the one a checkpoint kept from earlier signed: that checkpoint verifies
 * under the log key, the log holds at least its entries, they hash to its root, and the log's
 * latest checkpoint is provably consistent with it (RFC 9162 consistency proof from the source).
 */
async function checkSince(
  note: string,
  logKey: NoteVerifierKey,
  tree: MemoryTree,
  latest: CheckedCheckpoint | undefined,
  source: AuditSource,
  problems: AuditProblem[],
): Promise<CheckedCheckpoint | undefined> {
  let kept: CheckedCheckpoint;
  try {
    kept = verifyCheckpoint(note, logKey);
  } catch (e) {
    const size = /\n(\d+)\n/.exec(note)?.[1];
    problems.push({
      ...(size ? { checkpoint: Number(size) } : {}),
      message: `the kept checkpoint${size ? ` ${size}` : ''} (--since) does not verify under the log key: ${(e as Error).message}; the log key was replaced or this is another log`,
    });
    return undefined;
  }
  const { size } = kept;
  if (size > tree.size) {
    problems.push({
      checkpoint: size,
      entry: tree.size,
      message: `the log holds ${tree.size} entries, fewer than the ${size} signed by the kept checkpoint ${size} (--since): ${size - tree.size} entr${size - tree.size === 1 ? 'y' : 'ies'} and their checkpoints were removed`,
    });
    return kept;
  }
  if (!tree.root(size).equals(kept.root)) {
    problems.push({
      checkpoint: size,
      message: `the log's first ${size} entries no longer hash to the root of the kept checkpoint ${size} (--since): an entry in 0…${size - 1} was rewritten, removed or reordered and the log re-signed`,
    });
    return kept;
  }
  if (!latest) {
    problems.push({ checkpoint: size, message: `the log has no signed checkpoint to prove consistent with the kept checkpoint ${size} (--since)` });
  } else if (latest.size > size) {
    let proof: Hash[] | undefined;
    try {
      proof = await source.consistency(size, latest.size);
    } catch (e) {
      problems.push({ checkpoint: latest.size, message: `the log gives no consistency proof from the kept checkpoint ${size} (--since) to checkpoint ${latest.size}: ${(e as Error).message}` });
    }
    if (proof && !verifyConsistency(size, latest.size, kept.root, latest.root, proof)) {
      problems.push({ checkpoint: latest.size, message: `checkpoint ${latest.size} is not consistent with the kept checkpoint ${size} (--since): the log was rewritten since` });
    }
  } else if (latest.size < size) {
    problems.push({ checkpoint: size, message: `the log's latest checkpoint is ${latest.size}, older than the kept checkpoint ${size} (--since): its checkpoints ${latest.size + 1}…${size} were removed` });
  }
  return kept;
}

/** Why an entry is not a valid release record (its attestations, its quorum, over `nodes` when given), or undefined. */
function releaseProblem(bytes: Buffer, nodes: NodeList | undefined): string | undefined {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    return 'not a JSON record';
  }
  let release: CheckedRelease;
  try {
    release = checkReleaseEntry(entry);
  } catch (e) {
    return (e as Error).message;
  }
  const quorum = typeof entry.quorum === 'number' ? entry.quorum : 0;
  let agreeing = release.agreeing;
  let notCounted = '';
  if (nodes) {
    const refused = nodes.refuses(release.compute, 'compute');
    if (refused) return `its result was not computed by a listed compute node: ${refused} (--nodes)`;
    const unlisted = agreeing.filter((r) => nodes.refuses(r, 'review') !== undefined);
    agreeing = agreeing.filter((r) => !unlisted.includes(r));
    if (unlisted.length > 0) notCounted = `; not counted, as they are not listed review nodes (--nodes): ${unlisted.map((r) => r.node_id).join(', ')}`;
  }
  if (agreeing.length < quorum) {
    const what = `${agreeing.length} ${nodes ? 'listed ' : ''}review attestation${agreeing.length === 1 ? '' : 's'}`;
    return `${what} agree${agreeing.length === 1 ? 's' : ''} with the result, fewer than the quorum of ${quorum} it records${notCounted}`;
  }
  return undefined;
}

function recordedIndex(entry: Buffer): number | undefined {
  try {
    const v = JSON.parse(entry.toString('utf8')) as { index?: unknown };
    return typeof v.index === 'number' ? v.index : undefined;
  } catch {
    return undefined;
  }
}
