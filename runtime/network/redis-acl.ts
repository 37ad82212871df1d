import { createHash } from 'node:crypto';
import { fail } from '../../compiler/errors';
import type { ListedRole } from './node-list';
import { BLOB_PREFIX, COMPUTE_QUEUE, nodeKey, nodeQueue, type RedisAddress } from './queue';

/**
 * A Redis ACL user per node, so that a node can touch only what its role needs: the blobs
 * (content-addressed and checked by hash on every read), its own heartbeat hash, and its queue —
 * the shared compute queue for a compute node, its own queue for a review node. It cannot write
 * another node's heartbeat, the server's blame counters or dispute evidence, or take another
 * node's jobs. The server connects as a user with full access.
 *
 * The line is Redis's own ACL syntax (an aclfile's `user …` line, or the arguments of
 * `ACL SETUSER`), with the password as its SHA-256 (`#hex`), so the password never leaves the node.
 */

/** The rules after `user NAME` (or `ACL SETUSER NAME`). */
export function nodeAclRules(nodeId: string, role: ListedRole, password: string): string[] {
  const queue = role === 'compute' ? COMPUTE_QUEUE : nodeQueue(nodeId);
  return [
    'reset',
    'on',
    `#${createHash('sha256').update(password, 'utf8').digest('hex')}`,
    `~${BLOB_PREFIX}*`,
    `~${nodeKey(nodeId)}`,
    `~bull:${queue}:*`,
    'resetchannels',
    // BullMQ runs Lua scripts and blocking pops on its keys and reads INFO for the server version; nothing administrative.
    '+@all',
    '-@admin',
    '-@dangerous',
    '+info',
  ];
}

/** The aclfile line for node `nodeId` connecting with the user and password in `address` (what `worker --print-acl` prints). */
export function nodeAclLine(nodeId: string, role: ListedRole, address: RedisAddress): string {
  if (address.username === undefined || address.password === undefined) {
    fail('BAD_ARGUMENT', `--print-acl needs the node's own user and password in --queue: redis://node-${nodeId}:PASSWORD@HOST:PORT (or rediss://…)`);
  }
  if (!/^[A-Za-z0-9_.:-]+$/.test(address.username)) fail('BAD_ARGUMENT', `an ACL user name here is letters, digits and _ . : -, got "${address.username}"`);
  return `user ${address.username} ${nodeAclRules(nodeId, role, address.password).join(' ')}`;
}
