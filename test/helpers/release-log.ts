import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { attest, type Attestation } from '../../runtime/network/attestation';
import type { Identity } from '../../runtime/network/identity';
import { LOG_FILE } from '../../runtime/network/log-store';
import { logRelease } from '../../runtime/network/release';
import type { TransparencyLog } from '../../runtime/network/transparency-log';
import { Witness } from '../../runtime/network/witness';

/**
 * Logs as a server with a compute node and two review nodes writes them: each entry a release
 * with real attestations (job `job-<i>`), and, when witnesses are given, each checkpoint
 * cosigned by them the way the queue runner asks its reviewers (C2SP tlog-witness in spirit:
 * each witness checks a consistency proof from the last checkpoint it cosigned).
 */

export interface ReleaseNodes {
  readonly compute: Identity;
  readonly reviewers: readonly Identity[];
}

export function releaseAttestations(nodes: ReleaseNodes, job: string, reviewers: readonly Identity[] = nodes.reviewers): { compute: Attestation; reviews: Attestation[] } {
  const claims = {
    job_id: job,
    model_hash: 'ab'.repeat(32),
    parameter_id: 'n8192-test',
    keys_id: 'cd'.repeat(32),
    inputs_sha256: sha256Hex(Buffer.from(`inputs of ${job}`)),
    result_sha256: sha256Hex(Buffer.from(`result of ${job}`)),
    time: '2026-12-07T10:00:00.000Z',
  };
  return {
    compute: attest(nodes.compute, { ...claims, role: 'compute' }),
    reviews: reviewers.map((r) => attest(r, { ...claims, role: 'review' })),
  };
}

/** Append one release of `job` (quorum 2 of 2) and have `witnesses` cosign its checkpoint. */
export function appendRelease(log: TransparencyLog, nodes: ReleaseNodes, job: string, witnesses: readonly Witness[] = []): number {
  const { compute, reviews } = releaseAttestations(nodes, job);
  const receipt = logRelease(log, compute, reviews, { reviewers: 2, quorum: 2, agreeing: reviews.map((r) => r.node_id) }, 'tenant-a');
  const size = receipt.index + 1;
  if (witnesses.length > 0) {
    const checkpoint = log.store.checkpoint(size)!.note;
    const proofs: Record<string, string[]> = {};
    for (let from = 1; from < size; from++) proofs[String(from)] = log.store.consistencyProof(from, size).map((h) => h.toString('base64'));
    log.cosign(
      size,
      witnesses.map((w) => w.cosign({ checkpoint, vkey: log.vkey, proofs })),
    );
  }
  return receipt.index;
}

export function appendReleases(log: TransparencyLog, nodes: ReleaseNodes, n: number, witnesses: readonly Witness[] = []): void {
  for (let i = 0; i < n; i++) appendRelease(log, nodes, `job-${i}`, witnesses);
}

/** What someone with write access to the log's file in `dir` can do: drop its append-only triggers and run `sql`. */
export function tamperLog(dir: string, sql: string): void {
  const db = new DatabaseSync(join(dir, LOG_FILE));
  db.exec('DROP TRIGGER IF EXISTS leaves_no_update; DROP TRIGGER IF EXISTS leaves_no_delete;');
  db.exec(sql);
  db.close();
}
