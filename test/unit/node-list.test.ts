import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { attest } from '../../runtime/network/attestation';
import { ephemeralIdentity } from '../../runtime/network/identity';
import { NodeList, nodeListLine } from '../../runtime/network/node-list';

/** The operator's nodes file: what it accepts, what it refuses (one line naming file and line), and whom it lets count. */

const compute = ephemeralIdentity();
const reviewer = ephemeralIdentity();
const stranger = ephemeralIdentity();
const key = (i: typeof compute) => i.publicKey.toString('base64');
const work = mkdtempSync(join(tmpdir(), 'dp-nodes-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const claims = { job_id: 'j', model_hash: 'm', parameter_id: 'p', keys_id: 'k', inputs_sha256: 'i', result_sha256: 'r', time: 't' };

describe('NodeList', () => {
  test('reads the lines worker --print-id prints, with comments and blank lines', () => {
    const list = NodeList.parse(`# operator's list\n\n${nodeListLine(compute, 'compute')}\n  ${nodeListLine(reviewer, 'review')}  # rack 2\n`, 'nodes.txt');
    expect(list.nodes).toEqual([
      { node_id: compute.id, role: 'compute', public_key: key(compute) },
      { node_id: reviewer.id, role: 'review', public_key: key(reviewer) },
    ]);
    expect(list.withRole('review').map((n) => n.node_id)).toEqual([reviewer.id]);
  });

  test.each([
    ['three fields', 'abc', /^nodes\.txt line 1: expected "<node id> <compute\|review> <public key>"/],
    ['an id', `XYZ review ${key(reviewer)}`, /^nodes\.txt line 1: a node id is 16 lowercase hex digits, got "XYZ"$/],
    ['a role', `${reviewer.id} witness ${key(reviewer)}`, /^nodes\.txt line 1: the role is compute or review, got "witness"$/],
    ['a key', `${reviewer.id} review AAAA`, /^nodes\.txt line 1: the public key is 32 bytes in base64 \(44 characters\), got "AAAA"$/],
    ['the id of the key', `${compute.id} review ${key(reviewer)}`, new RegExp(`^nodes\\.txt line 1: node id ${compute.id} is not the id of that public key \\(${reviewer.id}\\)`)],
  ])('refuses a line without %s, naming file and line', (_what, line, message) => {
    expect(() => NodeList.parse(line, 'nodes.txt')).toThrow(message);
  });

  test('refuses a node listed twice, and a file it cannot read', () => {
    expect(() => NodeList.parse(`${nodeListLine(reviewer, 'review')}\n${nodeListLine(reviewer, 'compute')}`, 'n')).toThrow(`n line 2: node ${reviewer.id} is listed twice`);
    expect(() => NodeList.readFile(join(work, 'missing.txt'))).toThrow(`cannot read the nodes file ${join(work, 'missing.txt')}: ENOENT`);
    const path = join(work, 'nodes.txt');
    writeFileSync(path, nodeListLine(reviewer, 'review'));
    expect(NodeList.readFile(path).get(reviewer.id)?.role).toBe('review');
  });

  test('an attestation counts only from the listed node, in its role, under its listed key, and from the node assigned', () => {
    const list = NodeList.parse([nodeListLine(compute, 'compute'), nodeListLine(reviewer, 'review')].join('\n'), 'n');
    const review = attest(reviewer, { ...claims, role: 'review' });
    expect(list.refuses(review, 'review', reviewer.id)).toBeUndefined();
    expect(list.refuses(review, 'review', compute.id)).toBe(`signed by node ${reviewer.id}, not by ${compute.id}, the node the job was assigned to`);
    expect(list.refuses(attest(stranger, { ...claims, role: 'review' }), 'review')).toBe(`node ${stranger.id} is not on the nodes list`);
    expect(list.refuses(attest(compute, { ...claims, role: 'review' }), 'review')).toBe(`node ${compute.id} is listed as compute, not review`);
    expect(list.refuses(attest(reviewer, { ...claims, role: 'compute' }), 'review')).toBe(`node ${reviewer.id} attested as compute, not review`);
    // The id is 64 bits of the key's hash: a key that merely claims the id is not the listed key.
    expect(list.refuses({ ...review, public_key: key(stranger) }, 'review')).toBe(`node ${reviewer.id} signed with a key other than its listed one`);
  });
});
