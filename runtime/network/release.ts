import type { Attestation } from './attestation';
import type { LogReceipt, TransparencyLog } from './transparency-log';

/** How many reviewers a released result was checked by, and which agreed. */
export interface QuorumFacts {
  readonly reviewers: number;
  readonly quorum: number;
  readonly agreeing: readonly string[];
}

/**
 * Append a released result to the log: the job's facts, the quorum it reached and every
 * attestation behind it (the compute node's first). Only hashes and signatures go in, never
 * ciphertexts or plaintext. The entry belongs to tenant `owner`: only it (and the log's auditors) read it over HTTP.
 */
export function logRelease(log: TransparencyLog, compute: Attestation, reviews: readonly Attestation[], quorum: QuorumFacts, owner: string, now: Date = new Date()): LogReceipt {
  return log.append({
    v: 1,
    job_id: compute.job_id,
    model_hash: compute.model_hash,
    parameter_id: compute.parameter_id,
    keys_id: compute.keys_id,
    inputs_sha256: compute.inputs_sha256,
    result_sha256: compute.result_sha256,
    ...(compute.segment ? { segment: compute.segment } : {}),
    released_at: now.toISOString(),
    reviewers: quorum.reviewers,
    quorum: quorum.quorum,
    agreeing: [...quorum.agreeing],
    attestations: [compute, ...reviews],
  }, owner);
}
