import { checkAttestation, sameJob, type Attestation } from './attestation';

/**
 * Whether a compute node's result may be released: at least `required` review nodes, each a
 * different node from the compute node, signed attestations of the same job with the same result
 * hash. Anything else is a dispute that names the nodes on each side; a node whose attestation
 * does not verify, or is for another job, sides against the result.
 */

export type QuorumDecision =
  | { readonly released: true; readonly agreeing: readonly string[]; readonly disagreeing: readonly string[] }
  | { readonly released: false; readonly agreeing: readonly string[]; readonly disagreeing: readonly string[]; readonly reason: string };

/** `assigned`: how many reviewers were asked (default: as many as answered). */
export function decideQuorum(compute: Attestation, reviews: readonly Attestation[], required: number, assigned = reviews.length): QuorumDecision {
  const agreeing: string[] = [];
  const disagreeing: string[] = [];
  const seen = new Set([compute.node_id]);
  for (const r of reviews) {
    let ok = true;
    try {
      checkAttestation(r);
    } catch {
      ok = false;
    }
    if (seen.has(r.node_id)) continue;
    seen.add(r.node_id);
    if (ok && r.role === 'review' && sameJob(r, compute) && r.result_sha256 === compute.result_sha256) agreeing.push(r.node_id);
    else disagreeing.push(r.node_id);
  }
  if (agreeing.length >= required) return { released: true, agreeing, disagreeing };
  const reason =
    `${agreeing.length} of ${assigned} reviewers agree with compute node ${compute.node_id}, ${required} required` +
    (disagreeing.length ? `; result ${compute.result_sha256.slice(0, 12)}… from ${[compute.node_id, ...agreeing].join(', ')}, a different one from ${disagreeing.join(', ')}` : '');
  return { released: false, agreeing, disagreeing, reason };
}
