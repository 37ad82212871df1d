import { fail } from '../../compiler/errors';
import { checkAttestation, sameJob, segmentOf, type Attestation } from './attestation';
import type { LogReceipt, TransparencyLog } from './transparency-log';

/** How many reviewers a released result was checked by, and which agreed. */
export interface QuorumFacts {
  readonly reviewers: number;
  readonly quorum: number;
  readonly agreeing: readonly string[];
}

/**
 * A client step's two sides, as SHA-256 hex: the masked result the client was given after the
 * previous segment and the fresh ciphertexts it sent back. Logged with the segment they led to.
 */
export interface StepFacts {
  readonly masked_sha256: string;
  readonly returned_sha256: string;
}

/**
 * Append a released result to the log: the job's facts, the quorum it reached and every
 * attestation behind it (the compute node's first). Only hashes and signatures go in, never
 * ciphertexts or plaintext. The entry belongs to tenant `owner`: only it (and the log's auditors) read it over HTTP.
 */
export function logRelease(log: TransparencyLog, compute: Attestation, reviews: readonly Attestation[], quorum: QuorumFacts, owner: string, step?: StepFacts, now: Date = new Date()): LogReceipt {
  return log.append({
    v: 1,
    job_id: compute.job_id,
    model_hash: compute.model_hash,
    parameter_id: compute.parameter_id,
    keys_id: compute.keys_id,
    inputs_sha256: compute.inputs_sha256,
    result_sha256: compute.result_sha256,
    ...(compute.segment ? { segment: compute.segment } : {}),
    ...(compute.chain_id !== undefined ? { chain_id: compute.chain_id } : {}),
    ...(step ? { step: { masked_sha256: step.masked_sha256, returned_sha256: step.returned_sha256 } } : {}),
    released_at: now.toISOString(),
    reviewers: quorum.reviewers,
    quorum: quorum.quorum,
    agreeing: [...quorum.agreeing],
    attestations: [compute, ...reviews],
  }, owner);
}

/** A release entry's attestations, checked: the computing node's, and the distinct reviewers that agree with it. */
export interface CheckedRelease {
  readonly compute: Attestation;
  readonly agreeing: readonly Attestation[];
}

/**
 * Check what a release entry holds by itself, whoever reads it (a client, an auditor): every
 * attestation's signature, that the first is a computing node's about exactly the job the entry
 * names, and which reviewers attested the same job and result. Throws with the reason. Which
 * nodes may count is the reader's policy, not the entry's.
 */
export function checkReleaseEntry(entry: Record<string, unknown>): CheckedRelease {
  const attestations = Array.isArray(entry.attestations) ? (entry.attestations as Attestation[]) : [];
  const [compute, ...others] = attestations;
  if (!compute) fail('BAD_CIPHERTEXT', 'it holds no attestation');
  for (const a of attestations) checkAttestation(a);
  if (compute.role !== 'compute' && compute.role !== 'server') fail('BAD_CIPHERTEXT', `the result is attested by a ${compute.role} node, not a computing one`);
  const same =
    compute.job_id === entry.job_id &&
    compute.model_hash === entry.model_hash &&
    compute.parameter_id === entry.parameter_id &&
    compute.keys_id === entry.keys_id &&
    compute.inputs_sha256 === entry.inputs_sha256 &&
    compute.result_sha256 === entry.result_sha256 &&
    segmentOf(compute) === (entry.segment ?? 0) &&
    compute.chain_id === entry.chain_id;
  if (!same) fail('BAD_CIPHERTEXT', 'the computing node attested another job than the entry names');
  const agreeing = new Map<string, Attestation>();
  for (const r of others) {
    if (r.role === 'review' && r.node_id !== compute.node_id && sameJob(r, compute) && r.result_sha256 === compute.result_sha256) agreeing.set(r.node_id, r);
  }
  return { compute, agreeing: [...agreeing.values()] };
}
