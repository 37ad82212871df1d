import { createHash } from 'node:crypto';

/**
 * RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification. Leaves and interior
 * nodes are domain-separated (0x00 and 0x01 prefixes) so a leaf can never be passed off as a
 * node. Proof generation works over a `RangeHash` — MTH of any contiguous leaf range — so the
 * same code serves an in-memory list and the SQLite store (which answers from stored subtrees).
 */

export type Hash = Buffer;

export const HASH_BYTES = 32;

export function leafHash(entry: Uint8Array): Hash {
  return createHash('sha256').update(Buffer.from([0x00])).update(entry).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Hash {
  return createHash('sha256').update(Buffer.from([0x01])).update(left).update(right).digest();
}

export function emptyRoot(): Hash {
  return createHash('sha256').digest();
}

/** MTH(D[start:end]) over leaf hashes; `end > start`. */
export type RangeHash = (start: number, end: number) => Hash;

/** The largest power of two strictly below n (n ≥ 2): where RFC 6962 splits a tree of n leaves. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The hash of the perfect subtree covering leaves [i·2^level, (i+1)·2^level). */
export type PerfectSubtree = (level: number, i: number) => Hash;

/**
 * MTH(D[start:end]) from perfect subtrees. Every range RFC 6962 recursion asks for starts on a
 * boundary of its split size, so its left part is always one stored perfect subtree.
 */
export function rangeFromSubtrees(perfect: PerfectSubtree): RangeHash {
  const mth = (start: number, end: number): Hash => {
    const n = end - start;
    if ((n & (n - 1)) === 0 && start % n === 0) return perfect(Math.log2(n), start / n);
    const k = splitPoint(n);
    return nodeHash(mth(start, start + k), mth(start + k, end));
  };
  return mth;
}

/**
 * A tree held in memory as its perfect subtrees, built leaf by leaf (amortized two hashes per
 * leaf): the verifier's own copy of the tree, rebuilt from the entries it reads.
 */
export class MemoryTree {
  private readonly levels: Hash[][] = [[]];
  readonly rangeHash: RangeHash = rangeFromSubtrees((level, i) => {
    const h = this.levels[level]?.[i];
    if (!h) throw new RangeError(`no subtree ${level}/${i} in a tree of ${this.size}`);
    return h;
  });

  get size(): number {
    return this.levels[0]!.length;
  }

  append(leaf: Uint8Array): void {
    let h: Hash = Buffer.from(leaf);
    let i = this.size;
    this.levels[0]!.push(h);
    for (let level = 0; i % 2 === 1; level++, i = (i - 1) / 2) {
      h = nodeHash(this.levels[level]![i - 1]!, h);
      (this.levels[level + 1] ??= []).push(h);
    }
  }

  /** The root of the first `size` leaves. */
  root(size: number = this.size): Hash {
    if (size < 0 || size > this.size) throw new RangeError(`no tree of ${size} leaves in a log of ${this.size}`);
    return size === 0 ? emptyRoot() : this.rangeHash(0, size);
  }
}

/** MTH over a list of leaf hashes, by the RFC's recursive definition. */
export function rootOf(leaves: readonly Uint8Array[]): Hash {
  if (leaves.length === 0) return emptyRoot();
  return listRangeHash(leaves)(0, leaves.length);
}

/** A RangeHash over leaf hashes held in memory: folds perfect subtrees left to right, like the store does. */
export function listRangeHash(leaves: readonly Uint8Array[]): RangeHash {
  const mth = (start: number, end: number): Hash => {
    const n = end - start;
    if (n === 1) return Buffer.from(leaves[start]!);
    const k = splitPoint(n);
    return nodeHash(mth(start, start + k), mth(start + k, end));
  };
  return mth;
}

/** PATH(index, D[0:size]): the audit path proving leaf `index` is in the tree of `size` leaves. */
export function inclusionProof(index: number, size: number, hash: RangeHash): Hash[] {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) {
    throw new RangeError(`leaf ${index} is not in a tree of ${size}`);
  }
  const path = (m: number, start: number, end: number): Hash[] => {
    const n = end - start;
    if (n === 1) return [];
    const k = splitPoint(n);
    return m < k ? [...path(m, start, start + k), hash(start + k, end)] : [...path(m - k, start + k, end), hash(start, start + k)];
  };
  return path(index, 0, size);
}

/** PROOF(first, D[0:second]): the consistency proof between the trees of `first` and `second` leaves. */
export function consistencyProof(first: number, second: number, hash: RangeHash): Hash[] {
  if (!Number.isInteger(first) || !Number.isInteger(second) || first < 1 || first > second) {
    throw new RangeError(`no consistency proof from size ${first} to ${second}`);
  }
  const sub = (m: number, start: number, end: number, whole: boolean): Hash[] => {
    const n = end - start;
    if (m === n) return whole ? [] : [hash(start, end)];
    const k = splitPoint(n);
    return m <= k ? [...sub(m, start, start + k, whole), hash(start + k, end)] : [...sub(m - k, start + k, end, false), hash(start, start + k)];
  };
  return sub(first, 0, second, true);
}

/** RFC 9162 §2.1.3.2. */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  let r: Buffer = Buffer.from(leaf);
  const ends = walkProof(BigInt(index), BigInt(size - 1), proof, {
    left: (p) => {
      r = nodeHash(p, r);
    },
    right: (p) => {
      r = nodeHash(r, p);
    },
  });
  return ends && r.equals(root);
}

/** RFC 9162 §2.1.4.2. */
export function verifyConsistency(first: number, second: number, firstRoot: Uint8Array, secondRoot: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second) return false;
  if (first === second) return proof.length === 0 && Buffer.from(firstRoot).equals(secondRoot);
  if (first === 0 || proof.length === 0) return false;
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : [...proof];
  let fn = BigInt(first - 1);
  let sn = BigInt(second - 1);
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  const ends = walkProof(fn, sn, path.slice(1), {
    left: (c) => {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
    },
    right: (c) => {
      sr = nodeHash(sr, c);
    },
  });
  return ends && fr.equals(firstRoot) && sr.equals(secondRoot);
}

/**
 * The walk up the tree both verifiers share (RFC 9162 §2.1.3.2 step 5, §2.1.4.2 step 6): for each
 * proof hash c, with fn and sn the indices of the running node and of the last node at that
 * level, `left(c)` where c is the running node's left sibling (fn odd, or fn the last node, which
 * then climbs past the levels where it has no sibling), else `right(c)`. True when the path ends
 * at the root (sn = 0) with no hash left over.
 */
function walkProof(fn: bigint, sn: bigint, proof: readonly Uint8Array[], hash: { left(c: Uint8Array): void; right(c: Uint8Array): void }): boolean {
  for (const c of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      hash.left(c);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      hash.right(c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}
