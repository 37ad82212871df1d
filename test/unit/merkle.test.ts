import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  listRangeHash,
  MemoryTree,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../../runtime/network/merkle';

/** RFC 6962 hashing and proofs against the Certificate Transparency test vectors and hand-worked trees. */

// The eight leaves of the CT / transparency-dev test vectors (hex of the entry bytes).
const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) =>
  leafHash(Buffer.from(h, 'hex')),
);
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const H = {
  l0: '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
  n23: '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
  n4567: '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
  l4: 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
  n67: 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
  n0123: 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  n45: '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
  l0root: '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  n01: 'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
};
const hex = (hs: readonly Buffer[]) => hs.map((h) => h.toString('hex'));
const range = listRangeHash(CT_LEAVES);

describe('RFC 6962 test vectors', () => {
  test('roots of the first 1…8 leaves, and of the empty tree', () => {
    expect(CT_ROOTS.map((_, i) => rootOf(CT_LEAVES.slice(0, i + 1)).toString('hex'))).toEqual(CT_ROOTS);
    expect(rootOf([]).toString('hex')).toBe(createHash('sha256').digest('hex'));
  });

  test('inclusion proofs', () => {
    expect(CT_LEAVES[4]!.toString('hex')).toBe(H.l4);
    expect(hex(inclusionProof(0, 1, range))).toEqual([]);
    expect(hex(inclusionProof(0, 8, range))).toEqual([H.l0, H.n23, H.n4567]);
    expect(hex(inclusionProof(5, 8, range))).toEqual([H.l4, H.n67, H.n0123]);
    expect(hex(inclusionProof(2, 3, range))).toEqual([H.n01]);
    expect(hex(inclusionProof(1, 5, range))).toEqual([H.l0root, H.n23, H.l4]);
  });

  test('consistency proofs', () => {
    expect(hex(consistencyProof(1, 1, range))).toEqual([]);
    expect(hex(consistencyProof(1, 8, range))).toEqual([H.l0, H.n23, H.n4567]);
    expect(hex(consistencyProof(6, 8, range))).toEqual([H.n45, H.n67, H.n0123]);
    expect(hex(consistencyProof(2, 5, range))).toEqual([H.n23, H.l4]);
  });
});

describe('hand-worked trees', () => {
  const e = ['a', 'b', 'c', 'd', 'e'].map((s) => Buffer.from(s));
  const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
  const L = e.map((x) => sha(Buffer.from([0]), x));
  const N = (a: Buffer, b: Buffer) => sha(Buffer.from([1]), a, b);

  test('leaf and node hashing are domain-separated SHA-256', () => {
    expect(leafHash(e[0]!)).toEqual(L[0]);
    expect(nodeHash(L[0]!, L[1]!)).toEqual(N(L[0]!, L[1]!));
    expect(leafHash(Buffer.concat([L[0]!, L[1]!]))).not.toEqual(nodeHash(L[0]!, L[1]!));
  });

  test('three and five leaves split at the largest power of two below the size', () => {
    expect(rootOf(L.slice(0, 3))).toEqual(N(N(L[0]!, L[1]!), L[2]!));
    expect(rootOf(L)).toEqual(N(N(N(L[0]!, L[1]!), N(L[2]!, L[3]!)), L[4]!));
    const r5 = listRangeHash(L);
    // Leaf 2 of 5: sibling d, then the pair (a,b), then e.
    expect(inclusionProof(2, 5, r5)).toEqual([L[3], N(L[0]!, L[1]!), L[4]]);
    // From 3 to 5 leaves: c, d, the pair (a,b), then e.
    expect(consistencyProof(3, 5, r5)).toEqual([L[2], L[3], N(L[0]!, L[1]!), L[4]]);
  });
});

describe('every size up to 40: generated proofs verify, altered ones do not', () => {
  const leaves = Array.from({ length: 40 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
  const r = listRangeHash(leaves);
  const tree = new MemoryTree();
  const flip = (h: Buffer) => {
    const c = Buffer.from(h);
    c[7]! ^= 0x10;
    return c;
  };

  test('the incremental tree gives the recursive definition’s root at every size', () => {
    for (let n = 1; n <= leaves.length; n++) {
      tree.append(leaves[n - 1]!);
      expect(tree.root(n)).toEqual(rootOf(leaves.slice(0, n)));
      for (let m = 1; m <= n; m++) expect(tree.root(m)).toEqual(rootOf(leaves.slice(0, m)));
    }
  });

  test('inclusion', () => {
    for (let n = 1; n <= leaves.length; n++) {
      const root = rootOf(leaves.slice(0, n));
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(i, n, r);
        expect(verifyInclusion(i, n, leaves[i]!, proof, root)).toBe(true);
        expect(verifyInclusion(i, n, flip(leaves[i]!), proof, root)).toBe(false);
        if (n > 1) expect(verifyInclusion((i + 1) % n, n, leaves[i]!, proof, root)).toBe(false);
        if (n < leaves.length) expect(verifyInclusion(i, n + 1, leaves[i]!, proof, rootOf(leaves.slice(0, n + 1)))).toBe(false);
        for (let k = 0; k < proof.length; k++) {
          expect(verifyInclusion(i, n, leaves[i]!, proof.map((p, j) => (j === k ? flip(p) : p)), root)).toBe(false);
        }
        if (proof.length > 0) expect(verifyInclusion(i, n, leaves[i]!, proof.slice(0, -1), root)).toBe(false);
        expect(verifyInclusion(i, n, leaves[i]!, [...proof, leaves[0]!], root)).toBe(false);
      }
      expect(verifyInclusion(n, n, leaves[0]!, [], root)).toBe(false);
    }
  });

  test('consistency', () => {
    for (let n = 1; n <= leaves.length; n++) {
      const second = rootOf(leaves.slice(0, n));
      for (let m = 1; m <= n; m++) {
        const first = rootOf(leaves.slice(0, m));
        const proof = consistencyProof(m, n, r);
        expect(verifyConsistency(m, n, first, second, proof)).toBe(true);
        expect(verifyConsistency(m, n, flip(first), second, proof)).toBe(false);
        expect(verifyConsistency(m, n, first, flip(second), proof)).toBe(false);
        for (let k = 0; k < proof.length; k++) {
          expect(verifyConsistency(m, n, first, second, proof.map((p, j) => (j === k ? flip(p) : p)))).toBe(false);
        }
        if (m < n) {
          // The same proof does not vouch for a different history (a tree whose first m leaves differ).
          const forged = rootOf([leaves[1]!, ...leaves.slice(1, m)]);
          expect(verifyConsistency(m, n, forged, second, proof)).toBe(false);
        }
      }
    }
  });
});
