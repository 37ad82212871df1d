import { fail } from '../errors';
import { chainAvailable, createCoeffModulus, MAX_PRIME_BITS } from './primes';
import { galoisElement, normalizeRotationSteps } from './rotations';
import { maxBitCount, POLY_MODULUS_DEGREES, SECURITY_BITS } from './security';
import type { CkksParameters, ParameterRequest } from './types';

/**
 * Parameter policy (EVA-style, see DESIGN.md "Parameters"):
 *
 * Chain: [q0 = scale + outputBits, `depth` primes of scaleBits, P = q0's size]. The special prime P
 * gets q0's size because q0 is the largest data prime and key-switching noise grows with
 * max(qᵢ)/P; SEAL hands the last of two equal-size primes the larger value, so P ≥ every qᵢ.
 * A request's `firstPrimeBits` (a client step's mask must fit at a cut) grows q0, and with it P,
 * past scale + outputBits: outputBits is then q0 − scale.
 *
 * N: the smallest degree whose N/2 slots hold the layout and whose 128-bit bound holds the chain.
 * A smaller N is ~3–6× faster per op, so a smaller N wins over a larger scale.
 *
 * Scale: at each N, the largest scale in [minScale(N), max(40, minScale(N))] whose chain fits,
 * also kept so that q0 = scale + outputBits ≤ 60 bits. 40 bits is the preferred ceiling (SEAL's
 * examples; plenty for ML outputs); going lower is what lets a small N hold a deep circuit.
 * minScale(N) = max(20, precisionBits + noiseBits(N, depth)), where noiseBits is what CKKS noise
 * eats below the scale: log2(N) + 2 for fresh encryption and rescale rounding (fresh error
 * ~√N·σ, rescale rounding ~√(N·h/12) with h ≈ 2N/3 secret weight), plus a term for
 * growth through the circuit: key switching, and polynomial activations that amplify the error
 * of their input by up to |p'|, 2 + ⌈3·log2(min(depth, 8))⌉ (growth comes from activations, not
 * from depth as such: depth 13 measured no worse than depth 7). The floor for choosing N uses
 * depth 0 (see selectParameters); the promise uses the real depth. Measured with real SEAL (scripts/fhe-precision.ts, 2 rows per
 * fixture, per unit of output magnitude): depth 1 at N = 4096 loses up to 15.4 bits below the
 * scale (20 rows of sk_linearsvc_breast_cancer, vector layout, 25-bit scale; allowance 16); depth 7 at N = 16384,
 * 40-bit scale, about 20 bits (allowance 26); depth 13 at N = 16384, 28-bit scale, 23.3 bits
 * (allowance 26). The old promise (log2 N + 2, no growth)
 * told that depth-13 MLP 2^-12 while it ran with errors of 4e-2 on its logits. A forced scaleBits bypasses the policy; `expectedPrecisionBits`
 * then says what it leaves.
 */
export const PREFERRED_SCALE_BITS = 40;
export const MIN_SCALE_BITS = 20;
export const DEFAULT_OUTPUT_BITS = 20;
export const DEFAULT_PRECISION_BITS = 10;

export function noiseBits(polyModulusDegree: number, depth: number): number {
  return Math.log2(polyModulusDegree) + 2 + (depth > 0 ? 2 + Math.ceil(3 * Math.log2(Math.min(depth, 8))) : 0);
}

/** `depth` 0 leaves out the growth term: the fallback floor when no chain meets the full one. */
export function minScaleBits(polyModulusDegree: number, precisionBits: number, depth: number): number {
  return Math.max(MIN_SCALE_BITS, Math.ceil(precisionBits + noiseBits(polyModulusDegree, depth)));
}

/** Scale sizes the policy would try at N, best (largest) first; empty when none can work. */
export function scaleCandidates(polyModulusDegree: number, outputBits: number, precisionBits: number, depth: number, strict = false): number[] {
  // Above 40 bits only when the precision asked for needs it after the circuit's growth.
  const lo = minScaleBits(polyModulusDegree, precisionBits, strict ? depth : 0);
  const hi = Math.min(Math.max(PREFERRED_SCALE_BITS, minScaleBits(polyModulusDegree, precisionBits, depth)), MAX_PRIME_BITS - outputBits);
  const out: number[] = [];
  for (let s = hi; s >= lo; s--) out.push(s);
  return out;
}

/** The bit sizes handed to CoeffModulus.Create. */
export function chainBits(scaleBits: number, outputBits: number, depth: number): number[] {
  const first = scaleBits + outputBits;
  return [first, ...Array<number>(depth).fill(scaleBits), first];
}

/**
 * Bits above the scale for values up to `maxAbs` in magnitude: the integer part, a sign bit and
 * `guardBits` for noise and for inputs a little outside the calibrated range.
 */
export function outputBitsForMagnitude(maxAbs: number, guardBits = 2): number {
  if (!(maxAbs >= 0) || !Number.isFinite(maxAbs)) fail('BAD_ARGUMENT', `output magnitude ${maxAbs} is not a finite number`);
  return Math.max(0, Math.ceil(Math.log2(Math.max(maxAbs, 1)))) + 1 + guardBits;
}

/** Fractional bits so that CKKS noise stays below a quarter of an allowed absolute error. */
export function precisionBitsForError(maxError: number): number {
  if (!(maxError > 0) || !Number.isFinite(maxError)) fail('BAD_ARGUMENT', `max error ${maxError} must be a positive number`);
  return Math.max(0, Math.ceil(-Math.log2(maxError)) + 2);
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    fail('BAD_ARGUMENT', `${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function build(
  polyModulusDegree: number,
  bits: number[],
  scaleBits: number,
  outputBits: number,
  depth: number,
  rotationSteps: readonly number[],
): CkksParameters {
  const primes = createCoeffModulus(polyModulusDegree, bits);
  const slots = polyModulusDegree / 2;
  const steps = normalizeRotationSteps(rotationSteps, slots);
  return {
    scheme: 'ckks',
    polyModulusDegree,
    coeffModulusBits: bits,
    primes: primes.map((p) => p.toString()),
    primesApprox: primes.map((p) => Number(p)),
    scaleBits,
    outputBits,
    levels: depth,
    securityBits: SECURITY_BITS,
    maxBitCount: maxBitCount(polyModulusDegree)!,
    totalBits: sum(bits),
    slots,
    rotationSteps: steps,
    galoisElements: steps.map((s) => galoisElement(s, polyModulusDegree)),
    expectedPrecisionBits: Math.max(0, Math.floor(scaleBits - noiseBits(polyModulusDegree, depth))),
  };
}

/** Smallest N (and, at that N, the largest scale) that meets the request; PARAMS error otherwise. */
export function selectParameters(request: ParameterRequest): CkksParameters {
  const { depth, slotsNeeded } = request;
  const outputBits = request.outputBits ?? DEFAULT_OUTPUT_BITS;
  const precisionBits = request.precisionBits ?? DEFAULT_PRECISION_BITS;
  checkInteger('depth', depth, 0, Number.MAX_SAFE_INTEGER);
  // A body deeper than any ring degree holds is a plan that does not fit (the planner then cuts
  // it or tries another), not a bad argument.
  if (depth > 62) fail('PARAMS', `depth ${depth} does not fit under 128-bit security at any polynomial degree (the largest holds about 30 levels): use lower-degree activations or fewer layers, or let client-aided refreshes cut the body`);
  checkInteger('slotsNeeded', slotsNeeded, 1, Number.MAX_SAFE_INTEGER);
  checkInteger('outputBits', outputBits, 0, MAX_PRIME_BITS - MIN_SCALE_BITS);
  if (!(precisionBits >= 0) || !Number.isFinite(precisionBits)) {
    fail('BAD_ARGUMENT', `precisionBits must be a non-negative number, got ${precisionBits}`);
  }
  const firstPrimeBits = request.firstPrimeBits ?? 0;
  if (firstPrimeBits > MAX_PRIME_BITS) fail('PARAMS', `the first prime would need ${firstPrimeBits} bits > ${MAX_PRIME_BITS} (a client step's mask must fit under it): use a smaller --mask-bits`);
  const forcedScale = request.scaleBits;
  if (forcedScale !== undefined) {
    checkInteger('scaleBits', forcedScale, MIN_SCALE_BITS, MAX_PRIME_BITS);
    if (forcedScale + outputBits > MAX_PRIME_BITS) {
      fail(
        'PARAMS',
        `the first prime would need ${forcedScale} scale + ${outputBits} output bits = ${forcedScale + outputBits} > ${MAX_PRIME_BITS} bits: use smaller scale bits`,
      );
    }
  }
  if (request.preferN !== undefined && maxBitCount(request.preferN) === undefined) {
    fail('PARAMS', `polynomial degree ${request.preferN} is not one of ${POLY_MODULUS_DEGREES.join(', ')}`);
  }
  const degrees = request.preferN !== undefined ? [request.preferN] : POLY_MODULUS_DEGREES;

  let largestSlotFit: number | undefined;
  // N is chosen with the bare floor (no growth term; it only widens the range upwards): at any N
  // the largest scale that fits wins anyway, so a growth-aware floor could only push circuits to
  // a larger N. Measured, that hurts:
  // pt_mlp_digits_relu (depth 13, 24 rotations) at N = 32768 runs out of WASM memory making its
  // Galois keys. `expectedPrecisionBits` always counts the growth, so the promise stays honest.
  // A request with `strictPrecision` (a model's precision promise) takes the growth-aware floor:
  // a chain that cannot keep precisionBits moves to the next N.
  for (const n of degrees) {
    if (n / 2 < slotsNeeded) continue;
    largestSlotFit = n;
    const bound = maxBitCount(n)!;
    const scales = forcedScale !== undefined ? [forcedScale] : scaleCandidates(n, outputBits, precisionBits, depth, request.strictPrecision === true);
    for (const scaleBits of scales) {
      // A first prime asked for (a mask's room) grows the bits above the scale: P follows q0.
      const above = Math.max(outputBits, firstPrimeBits - scaleBits);
      const bits = chainBits(scaleBits, above, depth);
      if (sum(bits) <= bound && chainAvailable(n, bits)) {
        return build(n, bits, scaleBits, above, depth, request.rotationSteps ?? []);
      }
    }
  }
  return refuse(request, outputBits, precisionBits, largestSlotFit);
}

/** Says why nothing fits, and what to change. */
function refuse(
  request: ParameterRequest,
  outputBits: number,
  precisionBits: number,
  largestSlotFit: number | undefined,
): never {
  const { depth, slotsNeeded, preferN } = request;
  if (largestSlotFit === undefined) {
    if (preferN !== undefined) {
      fail('PARAMS', `the layout needs ${slotsNeeded} slots but N=${preferN} has ${preferN / 2}: choose a larger polynomial degree`);
    }
    const top = POLY_MODULUS_DEGREES[POLY_MODULUS_DEGREES.length - 1]!;
    fail(
      'PARAMS',
      `the layout needs ${slotsNeeded} slots but the largest polynomial degree ${top} has ${top / 2}: use the batch layout or fewer samples per ciphertext`,
    );
  }
  const n = largestSlotFit;
  const bound = maxBitCount(n)!;
  const forced = request.scaleBits !== undefined;
  const scale = forced ? request.scaleBits! : minScaleBits(n, precisionBits, request.strictPrecision === true ? depth : 0);
  if (!forced && scale + outputBits > MAX_PRIME_BITS) {
    fail(
      'PARAMS',
      `outputs need ${outputBits} bits above a ${scale}-bit scale (precision ${precisionBits} bits at N=${n}), more than a ${MAX_PRIME_BITS}-bit prime holds: use a bigger --max-error or keep output values smaller`,
    );
  }
  const bits = chainBits(scale, Math.max(outputBits, (request.firstPrimeBits ?? 0) - scale), depth);
  const first = bits[0]!;
  const maxDepth = Math.max(0, Math.floor((bound - 2 * first) / scale));
  const where = preferN !== undefined ? `N=${n}` : `the largest polynomial degree N=${n}`;
  const advice = forced
    ? 'use smaller scale bits, lower-degree activations (--degree, or a bigger --max-error) or fewer activation layers'
    : 'use lower-degree activations (--degree, or a bigger --max-error) or fewer activation layers' +
      (preferN !== undefined ? ', or a larger polynomial degree' : '');
  if (sum(bits) <= bound) {
    // The bound holds but SEAL cannot find enough NTT primes of that size at this N.
    fail('PARAMS', `${where} has too few ${scale}-bit primes ≡ 1 mod ${2 * n} for depth ${depth}: use larger scale bits or a smaller polynomial degree`);
  }
  fail(
    'PARAMS',
    `depth ${depth} does not fit under ${SECURITY_BITS}-bit security: ${where} holds at most ${maxDepth} levels at a ${scale}-bit scale ` +
      `(${first} + ${depth}×${scale} + ${first} = ${sum(bits)} > ${bound} bits): ${advice}`,
  );
}
