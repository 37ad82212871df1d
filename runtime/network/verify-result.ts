import { sha256Hex } from '../../compiler/artifact/model-hash';
import { fail } from '../../compiler/errors';
import { checkAttestation, sameJob, segmentOf, type Attestation } from './attestation';
import { witnessKeyOf, witnessName } from './checkpoint';
import type { PinStore } from './pins';
import { parseVkey } from './signed-note';
import { verifyReceipt, type LogReceipt } from './transparency-log';

/**
 * The client's check of a released result before it decrypts anything: the log receipt leads to
 * a checkpoint signed by the server's pinned log key; the logged entry is about exactly the
 * ciphertexts sent, the keys and model used and the result received; every attestation in it
 * verifies; and enough review nodes attested the same result hash. Witness cosignatures by those
 * reviewers on the checkpoint are counted too.
 */

export interface ReleaseReceipt extends LogReceipt {
  readonly vkey: string;
}

export interface VerifiedRelease {
  readonly index: number;
  readonly reviewers: number;
  readonly quorum: number;
  readonly agreeing: number;
  readonly cosigned: number;
}

export function verifyRelease(
  server: string,
  pins: PinStore,
  receipt: ReleaseReceipt,
  expect: {
    /** The ciphertexts sent; null for a later segment of a body with client steps, whose inputs the server unmasked. */
    readonly inputs: Uint8Array | null;
    /** The result received; null for a segment whose result the server masked before the client saw it. */
    readonly result: Uint8Array | null;
    readonly keysId: string;
    readonly modelHash: string;
    /** Which circuit of a body with client steps the entry must be about (default 0). */
    readonly segment?: number;
  },
): VerifiedRelease {
  const { vkey } = pins.logKey(server, receipt.vkey);
  const entryAttestations = (parseEntry(receipt).attestations ?? []) as Attestation[];
  const witnesses = entryAttestations.filter((a) => a.role === 'review').map((a) => witnessKeyOf(witnessName(a.node_id), { publicKey: Buffer.from(a.public_key, 'base64') }));
  const checked = verifyReceipt(receipt, parseVkey(vkey), witnesses);
  const e = checked.entry as { result_sha256?: unknown; inputs_sha256?: unknown; keys_id?: unknown; model_hash?: unknown; reviewers?: unknown; quorum?: unknown; segment?: unknown };
  if (expect.result !== null && e.result_sha256 !== sha256Hex(expect.result)) fail('BAD_CIPHERTEXT', `log entry ${checked.index} is for another result than the one received`);
  if (expect.inputs !== null && e.inputs_sha256 !== sha256Hex(expect.inputs)) fail('BAD_CIPHERTEXT', `log entry ${checked.index} is for other input ciphertexts than the ones sent`);
  if ((e.segment ?? 0) !== (expect.segment ?? 0)) fail('BAD_CIPHERTEXT', `log entry ${checked.index} is about segment ${Number(e.segment ?? 0) + 1}, not ${(expect.segment ?? 0) + 1}`);
  if (e.keys_id !== expect.keysId || e.model_hash !== expect.modelHash) fail('BAD_CIPHERTEXT', `log entry ${checked.index} names other keys or another model`);
  const [compute, ...reviews] = entryAttestations;
  if (!compute) fail('BAD_CIPHERTEXT', `log entry ${checked.index} holds no attestation`);
  for (const a of entryAttestations) checkAttestation(a);
  if (compute.result_sha256 !== e.result_sha256 || compute.inputs_sha256 !== e.inputs_sha256 || segmentOf(compute) !== (expect.segment ?? 0)) {
    fail('BAD_CIPHERTEXT', `log entry ${checked.index}: the computing node attested another job than the entry names`);
  }
  const agreeing = new Set(
    reviews.filter((r) => r.role === 'review' && r.node_id !== compute.node_id && sameJob(r, compute) && r.result_sha256 === compute.result_sha256).map((r) => r.node_id),
  );
  const reviewers = typeof e.reviewers === 'number' ? e.reviewers : 0;
  const quorum = typeof e.quorum === 'number' ? e.quorum : 0;
  if (agreeing.size < quorum) fail('BAD_CIPHERTEXT', `log entry ${checked.index}: ${agreeing.size} reviewers agree, the server's quorum is ${quorum}`);
  const cosigned = checked.cosignedBy.filter((name) => [...agreeing].some((id) => witnessName(id) === name)).length;
  pins.recordNodes(server, Object.fromEntries(entryAttestations.map((a) => [a.node_id, a.public_key])));
  return { index: checked.index, reviewers, quorum, agreeing: agreeing.size, cosigned };
}

/** What the client tells the host about one or more verified releases. */
export function describeVerification(v: readonly VerifiedRelease[]): string {
  const first = v[0]!;
  const entries = v.length === 1 ? `log entry ${first.index}` : `log entries ${v.map((x) => x.index).join(', ')}`;
  if (first.reviewers === 0) return `verified: computed and signed by the server alone (no reviewers), ${entries}`;
  const agreeing = Math.min(...v.map((x) => x.agreeing));
  const cosigned = Math.min(...v.map((x) => x.cosigned));
  return `verified: ${agreeing} of ${first.reviewers} reviewers, ${entries}${cosigned > 0 ? `; checkpoint cosigned by ${cosigned} reviewer${cosigned === 1 ? '' : 's'}` : ''}`;
}

function parseEntry(receipt: LogReceipt): { attestations?: unknown } {
  try {
    return JSON.parse(Buffer.from(receipt.entry, 'base64').toString('utf8')) as { attestations?: unknown };
  } catch {
    return fail('BAD_CIPHERTEXT', `log entry ${receipt.index} is not a JSON record`);
  }
}
