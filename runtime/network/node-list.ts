import { fail } from '../../compiler/errors';
import { readTextFile } from '../data/read-text-file';
import type { Attestation } from './attestation';
import { nodeIdOf, type Identity } from './identity';

/**
 * The operator's list of trusted nodes (`serve --nodes FILE`): who may compute and who may
 * review. It is configuration, never taken from Redis: a node not on it is never assigned a job
 * and its attestations never count, whatever it writes into the queue. One line per node, as
 * `deeppowers worker --print-id` prints it:
 *
 *   <node id> <compute|review> <Ed25519 public key, base64>
 *
 * Blank lines and `#` comments are ignored. The id must be the one derived from the key, so a
 * typo in either is caught when the file is read, not when a job is refused.
 */

export type ListedRole = 'compute' | 'review';

export interface ListedNode {
  readonly node_id: string;
  readonly role: ListedRole;
  /** Ed25519 public key, base64 (32 bytes). */
  readonly public_key: string;
}

export class NodeList {
  private readonly byId: ReadonlyMap<string, ListedNode>;

  private constructor(readonly nodes: readonly ListedNode[]) {
    this.byId = new Map(nodes.map((n) => [n.node_id, n]));
  }

  /** Parse a nodes file's text; `source` names it in errors ("FILE line N: …"). */
  static parse(text: string, source: string): NodeList {
    const nodes: ListedNode[] = [];
    const seen = new Set<string>();
    text.split('\n').forEach((raw, i) => {
      const line = raw.replace(/#.*$/, '').trim();
      if (line === '') return;
      const where = `${source} line ${i + 1}`;
      const parts = line.split(/\s+/);
      if (parts.length !== 3) fail('BAD_ARGUMENT', `${where}: expected "<node id> <compute|review> <public key>" (as \`deeppowers worker --print-id\` prints it), got "${line}"`);
      const [id, role, key] = parts as [string, string, string];
      if (!/^[0-9a-f]{16}$/.test(id)) fail('BAD_ARGUMENT', `${where}: a node id is 16 lowercase hex digits, got "${id}"`);
      if (role !== 'compute' && role !== 'review') fail('BAD_ARGUMENT', `${where}: the role is compute or review, got "${role}"`);
      const bytes = /^[A-Za-z0-9+/]{43}=$/.test(key) ? Buffer.from(key, 'base64') : Buffer.alloc(0);
      if (bytes.length !== 32) fail('BAD_ARGUMENT', `${where}: the public key is 32 bytes in base64 (44 characters), got "${key}"`);
      if (nodeIdOf(bytes) !== id) fail('BAD_ARGUMENT', `${where}: node id ${id} is not the id of that public key (${nodeIdOf(bytes)}); copy the line \`deeppowers worker --print-id\` prints`);
      if (seen.has(id)) fail('BAD_ARGUMENT', `${where}: node ${id} is listed twice`);
      seen.add(id);
      nodes.push({ node_id: id, role, public_key: key });
    });
    return new NodeList(nodes);
  }

  static readFile(path: string): NodeList {
    return NodeList.parse(readTextFile(path, 'the nodes file', 'BAD_ARGUMENT'), path);
  }

  get(nodeId: string): ListedNode | undefined {
    return this.byId.get(nodeId);
  }

  withRole(role: ListedRole): ListedNode[] {
    return this.nodes.filter((n) => n.role === role);
  }

  /**
   * Why `a` does not count as signed by listed node `expected` acting as `role`, or undefined when
   * it does: the attestation must name that node, carry exactly its listed key and that role. (The
   * signature itself is checked by checkAttestation.)
   */
  refuses(a: Pick<Attestation, 'node_id' | 'public_key' | 'role'>, role: ListedRole, expected?: string): string | undefined {
    if (expected !== undefined && a.node_id !== expected) return `signed by node ${String(a.node_id)}, not by ${expected}, the node the job was assigned to`;
    const listed = this.byId.get(a.node_id);
    if (!listed) return `node ${String(a.node_id)} is not on the nodes list`;
    if (listed.role !== role) return `node ${a.node_id} is listed as ${listed.role}, not ${role}`;
    if (a.public_key !== listed.public_key) return `node ${a.node_id} signed with a key other than its listed one`;
    if (a.role !== role) return `node ${a.node_id} attested as ${String(a.role)}, not ${role}`;
    return undefined;
  }
}

/** The nodes-file line for `identity` acting as `role` (what `worker --print-id` prints). */
export function nodeListLine(identity: Pick<Identity, 'id' | 'publicKey'>, role: ListedRole): string {
  return `${identity.id} ${role} ${identity.publicKey.toString('base64')}`;
}

/** The list a running server holds: replaced as a whole when the operator reloads the file (SIGHUP). */
export class TrustedNodes {
  constructor(private list: NodeList) {}

  get current(): NodeList {
    return this.list;
  }

  replace(list: NodeList): void {
    this.list = list;
  }
}
