import { powMod } from '../../../compiler/params/modular';

/**
 * SEAL's negacyclic number-theoretic transform (util/ntt.cpp), reproduced exactly so that a
 * polynomial made here (a secret key derived from a recovery phrase) can be handed to SEAL in
 * the NTT form it stores. SEAL's tables use the smallest primitive 2N-th root of unity ψ mod q
 * (try_minimal_primitive_root), its powers in bit-reversed order, and a Cooley–Tukey forward
 * transform whose output is in bit-reversed order; its lazy (Harvey) reductions change the
 * intermediate representatives, not the residues, so exact arithmetic gives the same result.
 */

function mulMod(a: bigint, b: bigint, q: bigint): bigint {
  return (a * b) % q;
}

function reverseBits(x: number, bits: number): number {
  let r = 0;
  for (let i = 0; i < bits; i++) r |= ((x >> i) & 1) << (bits - 1 - i);
  return r;
}

/** The smallest primitive 2N-th root of unity modulo the prime q (q ≡ 1 mod 2N). */
export function minimalPrimitiveRoot(n: number, q: bigint): bigint {
  const degree = BigInt(2 * n);
  if ((q - 1n) % degree !== 0n) throw new Error(`${q} is not 1 mod ${degree}: no 2N-th roots of unity`);
  const quotient = (q - 1n) / degree;
  // ψ is a primitive 2N-th root exactly when ψ^N = −1.
  let root = 0n;
  for (let g = 2n; g < q; g++) {
    const candidate = powMod(g, quotient, q);
    if (powMod(candidate, BigInt(n), q) === q - 1n) {
      root = candidate;
      break;
    }
  }
  if (root === 0n) throw new Error(`no primitive 2N-th root of unity modulo ${q}`);
  // Every primitive 2N-th root is an odd power of any one of them; SEAL keeps the smallest.
  const square = mulMod(root, root, q);
  let smallest = root;
  let current = root;
  for (let i = 0; i < n; i++) {
    if (current < smallest) smallest = current;
    current = mulMod(current, square, q);
  }
  return smallest;
}

/** ψ^bitrev(i) for i < N, as SEAL's NTTTables::root_powers_. */
function rootPowers(n: number, q: bigint): bigint[] {
  const logN = Math.log2(n);
  const psi = minimalPrimitiveRoot(n, q);
  const out = new Array<bigint>(n);
  out[0] = 1n;
  let power = psi;
  for (let i = 1; i < n; i++) {
    out[reverseBits(i, logN)] = power;
    power = mulMod(power, psi, q);
  }
  return out;
}

/** Forward negacyclic NTT of `values` (residues in [0, q)), in place, as SEAL's ntt_negacyclic_harvey. */
export function forwardNtt(values: bigint[], q: bigint): void {
  const n = values.length;
  const roots = rootPowers(n, q);
  let gap = n >> 1;
  let r = 0;
  for (let m = 1; m < n; m <<= 1) {
    let offset = 0;
    for (let i = 0; i < m; i++) {
      const w = roots[++r]!;
      for (let j = offset; j < offset + gap; j++) {
        const u = values[j]!;
        const v = mulMod(values[j + gap]!, w, q);
        values[j] = u + v >= q ? u + v - q : u + v;
        values[j + gap] = u >= v ? u - v : u - v + q;
      }
      offset += gap << 1;
    }
    gap >>= 1;
  }
}

/** The inverse of forwardNtt (Gentleman–Sande with inverse roots, then a factor 1/N). */
export function inverseNtt(values: bigint[], q: bigint): void {
  const n = values.length;
  const roots = rootPowers(n, q);
  const inverse = (x: bigint) => powMod(x, q - 2n, q);
  let gap = 1;
  for (let m = n >> 1; m >= 1; m >>= 1) {
    let offset = 0;
    for (let i = 0; i < m; i++) {
      const w = inverse(roots[m + i]!);
      for (let j = offset; j < offset + gap; j++) {
        const u = values[j]!;
        const v = values[j + gap]!;
        values[j] = u + v >= q ? u + v - q : u + v;
        values[j + gap] = mulMod(u >= v ? u - v : u - v + q, w, q);
      }
      offset += gap << 1;
    }
    gap <<= 1;
  }
  const nInverse = inverse(BigInt(n));
  for (let i = 0; i < n; i++) values[i] = mulMod(values[i]!, nInverse, q);
}
