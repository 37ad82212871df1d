import { fail } from '../errors';
import { powMod } from './modular';

/**
 * SEAL's coefficient-modulus construction, reproduced bit for bit so the compiler knows the
 * exact primes (and therefore the exact scales after each rescale) before any SEAL object exists.
 *
 * SEAL (`CoeffModulus::Create` over `util::get_primes`, 4.1) does this:
 * - for each distinct bit size b with c occurrences, scan 2^b − 2N + 1, 2^b − 4N + 1, … downwards
 *   while the value stays above 2^(b−1), keeping the first c primes (all ≡ 1 mod 2N, so NTT-able);
 * - then walk the requested sizes in order and give each occurrence of b the *smallest* of the
 *   primes still unused for b (it pops from the back of the descending list).
 * So equal sizes come out in ascending order along the chain, e.g. [60, 40, 40, 60] at N = 8192
 * puts the larger 60-bit prime last, where SEAL uses it as the special (key-switching) prime.
 * Primes of different sizes live in disjoint ranges [2^(b−1), 2^b), so the chain is distinct.
 */

/** SEAL_USER_MOD_BIT_COUNT_MIN / MAX and SEAL_COEFF_MOD_COUNT_MAX. */
export const MIN_PRIME_BITS = 2;
export const MAX_PRIME_BITS = 60;
export const MAX_PRIME_COUNT = 64;
/** SEAL_POLY_MOD_DEGREE_MIN / MAX. */
const MIN_DEGREE = 2;
const MAX_DEGREE = 131072;

/** Bases that make Miller–Rabin exact for every n < 3.3·10^24, far above 2^64. */
const WITNESSES = [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n] as const;
const SMALL_PRIMES = [
  3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n, 41n, 43n, 47n, 53n, 59n, 61n, 67n, 71n, 73n,
  79n, 83n, 89n, 97n,
] as const;

/** Deterministic primality for 0 ≤ n < 2^64. */
export function isPrime64(n: bigint): boolean {
  if (n < 2n) return false;
  if (n % 2n === 0n) return n === 2n;
  for (const p of SMALL_PRIMES) {
    if (n === p) return true;
    if (n % p === 0n) return false;
  }
  let d = n - 1n;
  let r = 0;
  while ((d & 1n) === 0n) {
    d >>= 1n;
    r++;
  }
  outer: for (const a of WITNESSES) {
    let x = powMod(a, d, n);
    if (x === 1n || x === n - 1n) continue;
    for (let i = 1; i < r; i++) {
      x = (x * x) % n;
      if (x === n - 1n) continue outer;
    }
    return false;
  }
  return true;
}

/**
 * The scan for one (N, bits) pair is resumable: selection asks "are there c primes?" for many
 * candidate chains, and each answer extends the same descending list.
 */
interface PrimeScan {
  readonly found: bigint[];
  next: bigint;
  readonly step: bigint;
  readonly lowerBound: bigint;
}

const scans = new Map<string, PrimeScan>();

function scanFor(polyModulusDegree: number, bits: number): PrimeScan {
  const key = `${polyModulusDegree}:${bits}`;
  let scan = scans.get(key);
  if (!scan) {
    const step = 2n * BigInt(polyModulusDegree);
    scan = { found: [], next: (1n << BigInt(bits)) - step + 1n, step, lowerBound: 1n << BigInt(bits - 1) };
    scans.set(key, scan);
  }
  return scan;
}

/**
 * The largest `count` primes below 2^bits that are ≡ 1 mod 2N (and above 2^(bits−1)), in
 * descending order; shorter than `count` when the range runs out, as SEAL's get_primes would fail.
 */
export function nttPrimes(polyModulusDegree: number, bits: number, count: number): bigint[] {
  const scan = scanFor(polyModulusDegree, bits);
  while (scan.found.length < count && scan.next > scan.lowerBound) {
    if (isPrime64(scan.next)) scan.found.push(scan.next);
    scan.next -= scan.step;
  }
  return scan.found.slice(0, count);
}

function checkDegree(polyModulusDegree: number): void {
  const isPowerOfTwo = Number.isInteger(polyModulusDegree) && (polyModulusDegree & (polyModulusDegree - 1)) === 0;
  if (!isPowerOfTwo || polyModulusDegree < MIN_DEGREE || polyModulusDegree > MAX_DEGREE) {
    fail('PARAMS', `polynomial degree ${polyModulusDegree} is not a power of two in [${MIN_DEGREE}, ${MAX_DEGREE}]`);
  }
}

/** Counts of each bit size in a chain: what SEAL asks get_primes for. */
function countBySize(bitSizes: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const b of bitSizes) counts.set(b, (counts.get(b) ?? 0) + 1);
  return counts;
}

/** Whether SEAL can build this chain at N (enough NTT primes of every size). */
export function chainAvailable(polyModulusDegree: number, bitSizes: readonly number[]): boolean {
  for (const [bits, count] of countBySize(bitSizes)) {
    if (bits < MIN_PRIME_BITS || bits > MAX_PRIME_BITS) return false;
    if (nttPrimes(polyModulusDegree, bits, count).length < count) return false;
  }
  return true;
}

/** `CoeffModulus::Create(N, bitSizes)`: the primes SEAL will use, in chain order. */
export function createCoeffModulus(polyModulusDegree: number, bitSizes: readonly number[]): bigint[] {
  checkDegree(polyModulusDegree);
  if (bitSizes.length === 0 || bitSizes.length > MAX_PRIME_COUNT) {
    fail('PARAMS', `a modulus chain needs 1 to ${MAX_PRIME_COUNT} primes, got ${bitSizes.length}`);
  }
  for (const b of bitSizes) {
    if (!Number.isInteger(b) || b < MIN_PRIME_BITS || b > MAX_PRIME_BITS) {
      fail('PARAMS', `prime size ${b} bits is outside SEAL's [${MIN_PRIME_BITS}, ${MAX_PRIME_BITS}]`);
    }
  }
  const pools = new Map<number, bigint[]>();
  for (const [bits, count] of countBySize(bitSizes)) {
    const primes = nttPrimes(polyModulusDegree, bits, count);
    if (primes.length < count) {
      fail(
        'PARAMS',
        `only ${primes.length} primes of ${bits} bits are ≡ 1 mod ${2 * polyModulusDegree}, the chain needs ${count}: use larger scale bits or a smaller polynomial degree`,
      );
    }
    pools.set(bits, primes);
  }
  return bitSizes.map((bits) => pools.get(bits)!.pop()!);
}
