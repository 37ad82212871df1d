/**
 * Coefficient-domain masks (a refresh step's default where the next segment reads the slots as
 * the segment before left them): integer arithmetic on a plaintext polynomial's coefficients, with
 * no float64 on a masked value, so the margin σ costs modulus room at the cut and no precision.
 *   server: adds R, uniform integers in ±2^σ·⌈B·Δ_l⌉, to the result's plaintext polynomial
 *           (|coefficient| ≤ B·Δ for slot values |y| ≤ B: the inverse canonical embedding
 *           averages the slots, so no coefficient exceeds the largest slot times Δ)
 *   client: decrypts to the integers c = m + R (centered mod Q_l, exact), rescales them once from
 *           Δ_l to the next segment's input scale and encrypts that polynomial fresh
 *   server: subtracts R rescaled the same way, so what is left is m rescaled, off by at most one
 *           unit per coefficient (1/Δ_in of a value) from the two roundings
 * The backends do the RNS and NTT work (runtime/backends/seal/coefficients.ts).
 */
import { randomFillSync } from 'node:crypto';
import { fail } from '../errors';

/** R: `n` integers uniform in [−2^bits·⌈bound·scale⌉, 2^bits·⌈bound·scale⌉], from the system's CSPRNG (rejection sampling, no bias). */
export function drawCoefficientMask(n: number, bits: number, bound: number, scale: number): bigint[] {
  const half = maskHalfWidth(bits, bound, scale);
  const width = 2n * half + 1n;
  const bytes = Math.ceil(bitLength(width) / 8) + 1;
  const limit = (1n << BigInt(8 * bytes)) - ((1n << BigInt(8 * bytes)) % width); // below it, x mod width is uniform
  const buffer = new Uint8Array(bytes);
  const out = new Array<bigint>(n);
  for (let i = 0; i < n; i++) {
    let x: bigint;
    do {
      randomFillSync(buffer);
      x = 0n;
      for (const b of buffer) x = (x << 8n) | BigInt(b);
    } while (x >= limit);
    out[i] = (x % width) - half;
  }
  return out;
}

/** 2^σ·⌈B·Δ⌉: the half-width of a coefficient mask. */
export function maskHalfWidth(bits: number, bound: number, scale: number): bigint {
  if (!(Number.isInteger(bits) && bits >= 0 && bound > 0 && scale > 0 && Number.isFinite(bound * scale))) fail('BAD_ARGUMENT', `no coefficient mask of 2^${bits}·${bound}·${scale}`);
  return BigInt(Math.ceil(bound * scale)) << BigInt(bits);
}

/**
 * Coefficients at scale `from` → at scale `to`: round(c · to/from) exactly, one rounding per
 * coefficient (both scales are float64, so the ratio is a ratio of integers times a power of two).
 */
export function rescaleCoefficients(coefficients: readonly bigint[], from: number, to: number): bigint[] {
  if (from === to) return [...coefficients];
  const a = exactDouble(to);
  const b = exactDouble(from);
  // c · (a.m·2^a.e) / (b.m·2^b.e) = c · num / den
  const shift = a.exponent - b.exponent;
  const num = shift >= 0 ? a.mantissa << BigInt(shift) : a.mantissa;
  const den = shift >= 0 ? b.mantissa : b.mantissa << BigInt(-shift);
  return coefficients.map((c) => roundDivide(c * num, den));
}

/** round(x / d) for d > 0, halves away from zero. */
function roundDivide(x: bigint, d: bigint): bigint {
  const q = x >= 0n ? (2n * x + d) / (2n * d) : -((-2n * x + d) / (2n * d));
  return q;
}

/** A positive finite double as mantissa · 2^exponent with an integer mantissa, exactly. */
function exactDouble(x: number): { mantissa: bigint; exponent: number } {
  if (!(x > 0 && Number.isFinite(x))) fail('BAD_ARGUMENT', `a scale must be positive and finite, got ${x}`);
  let exponent = Math.floor(Math.log2(x)) - 52;
  let m = x / 2 ** exponent;
  // log2 may be off by one at powers of two; adjust until m is an integer below 2^53.
  while (!Number.isInteger(m)) {
    exponent -= 1;
    m = x / 2 ** exponent;
  }
  let mantissa = BigInt(m);
  while (mantissa % 2n === 0n && mantissa > 0n) {
    mantissa /= 2n;
    exponent += 1;
  }
  return { mantissa, exponent };
}

function bitLength(x: bigint): number {
  return x.toString(2).length;
}
