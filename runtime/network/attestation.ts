import { fail } from '../../compiler/errors';
import { canonicalBytes } from './canonical-json';
import { nodeIdOf, verifyEd25519, type Identity } from './identity';

/**
 * A node's signed statement that it evaluated a job: which model, parameters and evaluation keys,
 * the SHA-256 of the input ciphertexts it was given and of the result it produced, who it is and
 * when. CKKS evaluation is deterministic, so honest nodes given the same job sign the same
 * result hash; the signature makes a node answerable for the hash it claimed.
 */

export type NodeRole = 'compute' | 'review' | 'server';

export interface AttestationClaims {
  readonly job_id: string;
  readonly model_hash: string;
  readonly parameter_id: string;
  readonly keys_id: string;
  readonly inputs_sha256: string;
  readonly result_sha256: string;
  /** Which circuit of a body with client steps was evaluated (absent: the first, or the only one). */
  readonly segment?: number;
  /**
   * The prediction this job belongs to: a fresh nonce the client chose and names in every call of
   * one prediction, so each segment's attestations and log entry are bound to that request and
   * cannot be replayed as the answer to another (absent: a caller that named none).
   */
  readonly chain_id?: string;
  readonly node_id: string;
  readonly role: NodeRole;
  /** ISO 8601 time the node finished evaluating. */
  readonly time: string;
}

export interface Attestation extends AttestationClaims {
  /** The node's Ed25519 public key, base64. */
  readonly public_key: string;
  /** Ed25519 signature over the canonical JSON of the claims, base64. */
  readonly signature: string;
}

const ATTESTATION_DOMAIN = 'deeppowers attestation v1\n';

function signedBytes(claims: AttestationClaims): Buffer {
  const { job_id, model_hash, parameter_id, keys_id, inputs_sha256, result_sha256, node_id, role, time } = claims;
  // Segment 0 signs exactly what an attestation without segments does, so both verify alike.
  const segment = claims.segment ? { segment: claims.segment } : {};
  // Likewise an attestation without a chain id signs what one made before chain ids existed.
  const chain = claims.chain_id !== undefined ? { chain_id: claims.chain_id } : {};
  return Buffer.concat([
    Buffer.from(ATTESTATION_DOMAIN, 'utf8'),
    canonicalBytes({ job_id, model_hash, parameter_id, keys_id, inputs_sha256, result_sha256, node_id, role, time, ...segment, ...chain }),
  ]);
}

/** A claim's segment, 0 when absent. */
export function segmentOf(a: Pick<AttestationClaims, 'segment'>): number {
  return a.segment ?? 0;
}

export function attest(identity: Identity, claims: Omit<AttestationClaims, 'node_id'>): Attestation {
  const full: AttestationClaims = { ...claims, node_id: identity.id };
  return { ...full, public_key: identity.publicKey.toString('base64'), signature: identity.sign(signedBytes(full)).toString('base64') };
}

/** Check an attestation's signature and that its node id belongs to its key; throws with the reason. */
export function checkAttestation(a: Attestation): void {
  const key = Buffer.from(a.public_key ?? '', 'base64');
  if (key.length !== 32 || nodeIdOf(key) !== a.node_id) fail('BAD_CIPHERTEXT', `attestation by node ${String(a.node_id)}: its public key is not that node's`);
  if (!verifyEd25519(key, signedBytes(a), Buffer.from(a.signature ?? '', 'base64'))) {
    fail('BAD_CIPHERTEXT', `attestation by node ${a.node_id} for job ${a.job_id}: the signature does not verify`);
  }
}

/** The facts every attestation of one job must share (all but the result and who signed). */
export function sameJob(a: AttestationClaims, b: AttestationClaims): boolean {
  return (
    a.job_id === b.job_id &&
    a.model_hash === b.model_hash &&
    a.parameter_id === b.parameter_id &&
    a.keys_id === b.keys_id &&
    a.inputs_sha256 === b.inputs_sha256 &&
    segmentOf(a) === segmentOf(b) &&
    a.chain_id === b.chain_id
  );
}
