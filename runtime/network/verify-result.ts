import { sha256Hex } from '../../compiler/artifact/model-hash';
import { fail } from '../../compiler/errors';
import type { Attestation } from './attestation';
import { checkReleaseEntry, type CheckedRelease } from './release';
import { parseCheckpointBody, verifyCheckpoint, witnessKeyOf, witnessName } from './checkpoint';
import { verifyConsistency, type Hash } from './merkle';
import { repinCommand, type PinnedNode, type PinStore, type ServerPin } from './pins';
import { parseNote, parseVkey } from './signed-note';
import { verifyReceipt, type LogReceipt } from './transparency-log';

/**
 * The client's check of a released result before it decrypts anything:
 * - the receipt leads to a checkpoint signed by the server's pinned log key;
 * - that checkpoint extends the largest one this client verified before (an RFC 9162
 *   consistency proof fetched from the server), or is a prefix of it, and when review nodes are
 *   pinned, enough of them cosigned it as witnesses: a split view or a rewritten log is refused;
 * - the entry is about exactly the ciphertexts sent, the keys and model used, the result
 *   received, the prediction's own chain id (a nonce this client chose) and, after a client
 *   step, the masked result received and the ciphertexts sent back, and it comes after the
 *   previous entry of the same prediction: a stale or replayed answer is refused;
 * - every attestation verifies, and the quorum is counted over review nodes this client pinned
 *   (never over keys the entry itself names): an unknown node is reported and not counted.
 * Only then is anything pinned (the first time: log key, node set, quorum; always: the
 * checkpoint).
 */

export interface ReleaseReceipt extends LogReceipt {
  readonly vkey: string;
}

export interface ReleaseExpectation {
  /** The ciphertexts sent; null for a later segment of a body with client steps, whose inputs the server unmasked. */
  readonly inputs: Uint8Array | null;
  /** The result received; null for a segment whose result the server masked before the client saw it. */
  readonly result: Uint8Array | null;
  readonly keysId: string;
  readonly modelHash: string;
  /** Which circuit of a body with client steps the entry must be about (default 0). */
  readonly segment?: number;
  /** The nonce this client named in every call of the prediction; null only for a call made without one. */
  readonly chainId: string | null;
  /** After a client step: the masked result the client received and the fresh ciphertexts it sent back. */
  readonly step?: { readonly masked: Uint8Array; readonly returned: Uint8Array };
  /** The index of the previous entry of the same prediction: this one must come later. */
  readonly after?: number;
}

/** What the client requires beyond the server's own claims (`deeppowers client --min-quorum`). */
export interface TrustPolicy {
  /** Agreeing pinned review nodes every result needs, whatever the server's quorum says. */
  readonly minQuorum?: number;
  /** Cosignatures from pinned review nodes a newer checkpoint needs (default 1 when any review node is pinned). */
  readonly minCosignatures?: number;
  /**
   * The node set to pin instead of learning it from the first response (`deeppowers client
   * --nodes FILE`: the operator's published list): then no node outside it ever counts, not even
   * on first use, and review nodes the first response did not involve count later.
   */
  readonly nodes?: Readonly<Record<string, PinnedNode>>;
}

/** The server's consistency proof between two tree sizes of its log. */
export type ConsistencyProver = (first: number, second: number) => Promise<Hash[]>;

export interface VerifiedRelease {
  readonly index: number;
  readonly reviewers: number;
  /** The quorum this client required (the server's, or more). */
  readonly quorum: number;
  /** Pinned review nodes that agreed. */
  readonly agreeing: number;
  /** Pinned review nodes that cosigned the checkpoint. */
  readonly cosigned: number;
  readonly computeNode: string;
  readonly computeRole: Attestation['role'];
  /** Nodes in the entry this client has not pinned for the server (not counted). */
  readonly unknownNodes: readonly string[];
  /** Whether this response pinned the server's log key and node set. */
  readonly firstUse: boolean;
}

interface EntryFacts {
  readonly result_sha256?: unknown;
  readonly inputs_sha256?: unknown;
  readonly keys_id?: unknown;
  readonly model_hash?: unknown;
  readonly reviewers?: unknown;
  readonly quorum?: unknown;
  readonly segment?: unknown;
  readonly chain_id?: unknown;
  readonly step?: { readonly masked_sha256?: unknown; readonly returned_sha256?: unknown };
}

/** Verifications in flight per pins file: one at a time, so each checks its checkpoint against the latest one kept. */
const pinLocks = new Map<string, Promise<unknown>>();

export function verifyRelease(
  server: string,
  pins: PinStore,
  receipt: ReleaseReceipt,
  expect: ReleaseExpectation,
  prove: ConsistencyProver,
  policy: TrustPolicy = {},
): Promise<VerifiedRelease> {
  const before = pinLocks.get(pins.path) ?? Promise.resolve();
  const run = before.catch(() => {}).then(() => verifyLocked(server, pins, receipt, expect, prove, policy));
  const settled = run.catch(() => {});
  pinLocks.set(pins.path, settled);
  void settled.then(() => {
    if (pinLocks.get(pins.path) === settled) pinLocks.delete(pins.path);
  });
  return run;
}

async function verifyLocked(
  server: string,
  pins: PinStore,
  receipt: ReleaseReceipt,
  expect: ReleaseExpectation,
  prove: ConsistencyProver,
  policy: TrustPolicy,
): Promise<VerifiedRelease> {
  const pin = pins.get(server);
  if (pin && pin.log_vkey !== receipt.vkey) {
    const [name, id] = pin.log_vkey.split('+');
    fail(
      'BAD_CIPHERTEXT',
      `the server's log key changed since first use (pinned ${name}+${id}); refusing its results. ` +
        `If its operator changed the key on purpose (ask them, not the server), trust the new one with \`${repinCommand(server, pins.dir)}\``,
    );
  }
  const logKey = parseVkey(pin?.log_vkey ?? receipt.vkey);
  const nodeSet = policy.nodes ?? pin?.node_set;
  const pinnedReviewers = Object.entries(nodeSet ?? {}).filter(([, n]) => n.role === 'review');
  const witnesses = pinnedReviewers.map(([node_id, n]) => witnessKeyOfNode({ node_id, public_key: n.public_key }));
  const checked = verifyReceipt(receipt, logKey, witnesses);
  const at = `log entry ${checked.index}`;
  const e = checked.entry as EntryFacts;

  // The entry is about this request, and no other.
  const segment = expect.segment ?? 0;
  if (expect.result !== null && e.result_sha256 !== sha256Hex(expect.result)) fail('BAD_CIPHERTEXT', `${at} is for another result than the one received`);
  if (expect.inputs !== null && e.inputs_sha256 !== sha256Hex(expect.inputs)) fail('BAD_CIPHERTEXT', `${at} is for other input ciphertexts than the ones sent`);
  if ((e.segment ?? 0) !== segment) fail('BAD_CIPHERTEXT', `${at} is about segment ${Number(e.segment ?? 0) + 1}, not ${segment + 1}`);
  if (e.keys_id !== expect.keysId || e.model_hash !== expect.modelHash) fail('BAD_CIPHERTEXT', `${at} names other keys or another model`);
  if (expect.chainId !== null && e.chain_id !== expect.chainId) {
    fail('BAD_CIPHERTEXT', `${at} belongs to another prediction (its chain id is not the one this client chose for this request): a stale or replayed answer`);
  }
  if (expect.after !== undefined && checked.index <= expect.after) {
    fail('BAD_CIPHERTEXT', `${at} does not come after entry ${expect.after}, the previous segment's entry of this prediction: a stale or replayed answer`);
  }
  if (expect.step && (e.step?.masked_sha256 !== sha256Hex(expect.step.masked) || e.step?.returned_sha256 !== sha256Hex(expect.step.returned))) {
    fail('BAD_CIPHERTEXT', `${at} does not record the client step this client made (the masked result it received and the ciphertexts it sent back)`);
  }

  // Every attestation verifies; the computing node's is about this entry.
  let release: CheckedRelease;
  try {
    release = checkReleaseEntry(checked.entry);
  } catch (err) {
    return fail('BAD_CIPHERTEXT', `${at}: ${(err as Error).message}`);
  }
  const { compute } = release;

  // Only pinned nodes count; before any are pinned (first use), every verified reviewer does.
  const isPinned = (a: Attestation): boolean => {
    const n: PinnedNode | undefined = nodeSet?.[a.node_id];
    return n !== undefined && n.role === a.role && n.public_key === a.public_key;
  };
  const agreeingReviews = release.agreeing;
  const counted = agreeingReviews.filter((r) => !nodeSet || isPinned(r));
  const unknownNodes = nodeSet ? [compute, ...agreeingReviews].filter((a) => !isPinned(a)).map((a) => `${a.role} ${a.node_id}`) : [];
  const reviewers = typeof e.reviewers === 'number' ? e.reviewers : 0;
  const claimed = typeof e.quorum === 'number' ? e.quorum : 0;
  const required = Math.max(claimed, pin?.min_quorum ?? 0, policy.minQuorum ?? 0);
  const notCounted = unknownNodes.length > 0 ? `; not counted, as this client has not pinned them for ${server}: ${unknownNodes.join(', ')}` : '';
  if (counted.length < required || (reviewers > 0 && counted.length === 0)) {
    fail(
      'BAD_CIPHERTEXT',
      `${at}: ${counted.length} ${nodeSet ? 'pinned ' : ''}review node${counted.length === 1 ? ' agrees' : 's agree'} with the result, this client requires ${Math.max(required, 1)}${notCounted}` +
        (unknownNodes.length > 0 ? `. If the operator added these nodes, trust them with \`${repinCommand(server, pins.dir, true)}\`` : ''),
    );
  }
  if (counted.length === 0 && nodeSet && !isPinned(compute)) {
    fail(
      'BAD_CIPHERTEXT',
      `${at}: no reviewer checked it, and node ${compute.node_id} that computed and signed it is not the ${compute.role === 'server' ? 'server key' : 'compute node'} this client pinned for ${server}; refusing it` +
        ` (if the operator changed it on purpose: \`${repinCommand(server, pins.dir, true)}\`)`,
    );
  }

  // The checkpoint extends (or is a prefix of) the largest one this client verified, and is witnessed.
  const kept = pin?.checkpoint ? parseCheckpointBody(parseNote(pin.checkpoint).body) : undefined;
  // Learning the nodes from this response, the reviewers being pinned now are the witnesses whose cosignatures are counted.
  const cosigned = nodeSet ? checked.cosignedBy.length : verifyCheckpoint(receipt.checkpoint, logKey, counted.map(witnessKeyOfNode)).cosignedBy.length;
  if (!kept || checked.size > kept.size) {
    const minCosignatures = policy.minCosignatures ?? (witnesses.length > 0 ? 1 : 0);
    if (cosigned < minCosignatures) {
      fail(
        'BAD_CIPHERTEXT',
        `checkpoint ${checked.size} of ${server}'s log carries ${cosigned} cosignature${cosigned === 1 ? '' : 's'} from the ${witnesses.length} review nodes this client pinned, ${minCosignatures} required: ` +
          'no witness vouches that it is the history everyone else sees',
      );
    }
  }
  if (kept) {
    const [small, large] = checked.size <= kept.size ? [{ size: checked.size, root: checked.root }, kept] : [kept, { size: checked.size, root: checked.root }];
    let consistent: boolean;
    if (small.size === large.size) consistent = small.root.equals(large.root);
    else {
      let proof: Hash[];
      try {
        proof = await prove(small.size, large.size);
      } catch (err) {
        return fail('BAD_CIPHERTEXT', `${server} gave no consistency proof between checkpoint ${small.size} and ${large.size} of its log (${(err as Error).message}); a forked or rewritten log`);
      }
      consistent = verifyConsistency(small.size, large.size, small.root, large.root, proof);
    }
    if (!consistent) {
      fail(
        'BAD_CIPHERTEXT',
        `checkpoint ${checked.size} of ${server}'s log is not consistent with checkpoint ${kept.size}, which this client verified earlier: ` +
          'the log forked or was rewritten (a split view); refusing its results',
      );
    }
  }

  const firstUse = !pin?.node_set;
  const next: ServerPin = {
    log_vkey: receipt.vkey,
    node_set: nodeSet ?? Object.fromEntries([compute, ...counted].map((a) => [a.node_id, { role: a.role, public_key: a.public_key }])),
    // The quorum is pinned with the node set; later entries can raise what they need, not what is pinned.
    min_quorum: pin?.node_set ? Math.max(pin.min_quorum ?? 0, policy.minQuorum ?? 0) : required,
    checkpoint: !kept || checked.size > kept.size ? receipt.checkpoint : pin!.checkpoint!,
  };
  pins.set(server, next);
  return { index: checked.index, reviewers, quorum: required, agreeing: counted.length, cosigned, computeNode: compute.node_id, computeRole: compute.role, unknownNodes, firstUse };
}

function witnessKeyOfNode(n: { readonly node_id: string; readonly public_key: string }) {
  return witnessKeyOf(witnessName(n.node_id), { publicKey: Buffer.from(n.public_key, 'base64') });
}

/** What the client tells the host about one or more verified releases (the segments of one prediction, or its requests). */
export function describeVerification(v: readonly VerifiedRelease[]): string {
  const first = v[0]!;
  const entries = v.length === 1 ? `log entry ${first.index}` : `log entries ${v.map((x) => x.index).join(', ')}`;
  const unknown = [...new Set(v.flatMap((x) => x.unknownNodes))];
  const notes =
    (v.some((x) => x.firstUse) ? '; first use of this server: pinned its log key and node set' : '') +
    (unknown.length > 0 ? `; WARNING: nodes this client has not pinned took part, not counted: ${unknown.join(', ')}` : '');
  if (v.every((x) => x.reviewers === 0 && x.agreeing === 0)) {
    const who = first.computeRole === 'server' ? 'the server alone' : `compute node ${first.computeNode} alone`;
    return `verified: computed and signed by ${who} (no reviewers), ${entries}${notes}`;
  }
  const agreeing = Math.min(...v.map((x) => x.agreeing));
  const cosigned = Math.min(...v.map((x) => x.cosigned));
  return `verified: ${agreeing} of ${first.reviewers} reviewers, ${entries}${cosigned > 0 ? `; checkpoint cosigned by ${cosigned} reviewer${cosigned === 1 ? '' : 's'}` : ''}${notes}`;
}
