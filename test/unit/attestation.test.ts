import { describe, expect, test } from 'vitest';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { attest, checkAttestation, sameJob } from '../../runtime/network/attestation';
import { ephemeralIdentity } from '../../runtime/network/identity';

describe('attestations', () => {
  const node = ephemeralIdentity();
  const claims = {
    job_id: 'job-1',
    model_hash: 'ab'.repeat(32),
    parameter_id: 'n8192-q200',
    keys_id: 'cd'.repeat(32),
    inputs_sha256: sha256Hex(Buffer.from('inputs')),
    result_sha256: sha256Hex(Buffer.from('result')),
    role: 'compute' as const,
    time: '2026-12-03T09:00:00.000Z',
  };

  test('a signed attestation verifies and names its node by its key', () => {
    const a = attest(node, claims);
    expect(a.node_id).toBe(node.id);
    expect(a.result_sha256).toBe('f6a214f7a5fcda0c2cee9660b7fc29f5649e3c68aad48e20e950137c98913a68');
    expect(() => checkAttestation(a)).not.toThrow();
  });

  test('any changed claim, another key or a borrowed node id fails', () => {
    const a = attest(node, claims);
    for (const field of ['job_id', 'model_hash', 'parameter_id', 'keys_id', 'inputs_sha256', 'result_sha256', 'role', 'time'] as const) {
      expect(() => checkAttestation({ ...a, [field]: field === 'role' ? 'review' : `${a[field]}0` })).toThrow(/signature does not verify/);
    }
    const other = ephemeralIdentity();
    expect(() => checkAttestation({ ...a, public_key: other.publicKey.toString('base64') })).toThrow(/not that node's/);
    const b = attest(other, claims);
    expect(() => checkAttestation({ ...b, node_id: node.id, public_key: a.public_key })).toThrow(/signature does not verify/);
  });

  test('a later segment is signed: changing, adding or dropping it fails, and jobs of two segments differ', () => {
    const a = attest(node, { ...claims, segment: 1 });
    expect(() => checkAttestation(a)).not.toThrow();
    expect(() => checkAttestation({ ...a, segment: 2 })).toThrow(/signature does not verify/);
    const { segment: _dropped, ...without } = a;
    expect(() => checkAttestation(without)).toThrow(/signature does not verify/);
    const first = attest(node, claims);
    expect(() => checkAttestation({ ...first, segment: 1 })).toThrow(/signature does not verify/);
    expect(sameJob(a, first)).toBe(false);
    // Segment 0 signs what an attestation made before segments existed signs.
    expect(attest(node, { ...claims, segment: 0 }).signature).toBe(first.signature);
  });

  test("the chain id is signed: changing, adding or dropping it fails, and two predictions' jobs differ", () => {
    const a = attest(node, { ...claims, chain_id: '0f'.repeat(16) });
    expect(() => checkAttestation(a)).not.toThrow();
    expect(() => checkAttestation({ ...a, chain_id: '1f'.repeat(16) })).toThrow(/signature does not verify/);
    const { chain_id: _dropped, ...without } = a;
    expect(() => checkAttestation(without)).toThrow(/signature does not verify/);
    const plain = attest(node, claims);
    expect(() => checkAttestation({ ...plain, chain_id: '0f'.repeat(16) })).toThrow(/signature does not verify/);
    expect(sameJob(a, plain)).toBe(false);
    expect(sameJob(a, attest(ephemeralIdentity(), { ...claims, chain_id: '0f'.repeat(16), role: 'review' }))).toBe(true);
  });

  test('sameJob compares everything but the result and the signer', () => {
    const a = attest(node, claims);
    const b = attest(ephemeralIdentity(), { ...claims, result_sha256: '00'.repeat(32), role: 'review' });
    expect(sameJob(a, b)).toBe(true);
    expect(sameJob(a, { ...b, keys_id: '11'.repeat(32) })).toBe(false);
  });
});
