/**
 * The client step between two segments of a refreshed body (compile --refresh auto), the parts
 * both sides share:
 *   server: ct_y (end of segment k) + Encode(r), r uniform in ±2^σ·B on every slot → client
 *   client: z = Dec(ct) (every slot masked), unpacked as segment k's outputs, packed as segment
 *           k+1's inputs, encrypted fresh at the top level → server
 *   server: ct_z − Encode(r'), r' = r unpacked and packed the same way → segment k+1
 * The client never sends a decrypted value back (CKKS key recovery from decryptions,
 * Li–Micciancio), only a fresh encryption; the server never decrypts. Adding and removing the
 * mask are tiny circuits (one addPlain) run through the backend seam, so every backend does it.
 *
 * A max pool between two segments (PoolStep) makes the step a window max instead:
 *   server: per sample and window w, a_w log-uniform in [1, 2^octaves] and c_w uniform in
 *           ±2^σ·B·2^octaves; every value y of window w becomes z = a_w·y + c_w (a plaintext
 *           product and a rescale, then an addPlain: one level); slots in no window get c alone
 *   client: z decrypted, unpacked, max over each window (max z = a_w·max y + c_w as a_w > 0),
 *           packed as segment k+1's inputs, encrypted fresh at the top level → server
 *   server: (z' − c_w)·(1/a_w), a plaintext product and a rescale: segment k+1 starts a level down
 * The client sees, per window, its values under an unknown positive scale and offset: which
 * position holds the max and the ratios of the differences between the window's values, not
 * their level (c) and their spread only up to the factor 2^octaves (a).
 *
 * The client works on whole evaluations (all N/2 samples of a batch-layout evaluation, one in
 * vector layout), so both sides pack the same slots without the server knowing how many rows
 * the client filled: an empty slot carries z = r and comes back to 0.
 */
import { randomFillSync } from 'node:crypto';
import type { PoolStep, RefreshPlan } from '../compiler/artifact/types';
import { maxOverWindows } from '../compiler/chain/max-pool';
import { primeAt, type Circuit, type Level, type Op, type Scale } from '../compiler/circuit/ir';
import { packOutputs, packSamples, samplesPerEvaluation, unpackOutputs } from '../compiler/circuit/packing';
import { fail } from '../compiler/errors';

/** r uniform in ±2^bits·bound on each of `slots` slots, from the system's CSPRNG (53 random bits each). */
export function drawMask(slots: number, bits: number, bound: number): Float64Array {
  const words = new Uint32Array(2 * slots);
  randomFillSync(words);
  const r = 2 ** bits * bound;
  const out = new Float64Array(slots);
  for (let i = 0; i < slots; i++) {
    const u = (words[2 * i]! * 2 ** 21 + (words[2 * i + 1]! >>> 11)) / 2 ** 53; // [0, 1)
    out[i] = (2 * u - 1) * r;
  }
  return out;
}

/** One evaluation's slot vectors at the end of `from` → the same values packed as `to`'s inputs. */
export function repackSlots(from: Circuit, to: Circuit, slotVectors: readonly Float64Array[]): Float64Array[] {
  const rows = unpackOutputs(from, slotVectors, samplesPerEvaluation(from));
  const groups = packSamples(to, rows);
  if (groups.length !== 1) fail('BAD_ARTIFACT', 'a client step repacks one evaluation at a time');
  return groups[0]!.inputs;
}

/**
 * A circuit that adds `values` (a full slot vector) to one ciphertext at `level` and `scale`:
 * the mask added at a segment's end, or its negation removed at the next one's start. `base` is
 * any segment of the model; its primes are the model's.
 */
export function maskCircuit(base: Circuit, level: Level, scale: Scale, values: Float64Array): Circuit {
  if (!base.primes) fail('BAD_ARTIFACT', 'the circuit has no scales assigned (primes missing)');
  if (values.length !== base.slots) fail('BAD_ARGUMENT', `a mask has ${values.length} values, the circuit ${base.slots} slots`);
  const ops: Op[] = [
    { op: 'input', input: 0, level, scale, size: 2 },
    { op: 'addPlain', a: 0, c: 0, encodeScale: scale, level, scale, size: 2 },
    { op: 'output', a: 1, output: 0, level, scale, size: 2 },
  ];
  return oneCiphertextCircuit(base, level, ops, [values], 0);
}

/**
 * The client step in the clear, for simulation: per sample, y → z = y + r → z − r in float64, so
 * a simulated run carries the mask's rounding (the precision it costs) and nothing else.
 */
export function simulateClientStep(rows: readonly Float64Array[], plan: Pick<RefreshPlan, 'maskBits' | 'maskBound'>): Float64Array[] {
  return rows.map((y) => {
    const r = drawMask(y.length, plan.maskBits, plan.maskBound);
    return y.map((v, i) => v + r[i]! - r[i]!);
  });
}

/** What the client sees at each client step, in words: for the report, compile and the README. */
export function describeClientStep(plan: Pick<RefreshPlan, 'maskBits' | 'maskBound' | 'segments'>): string {
  const steps = plan.segments.length;
  return (
    `${steps} client step${steps === 1 ? '' : 's'} per evaluation: the client decrypts every slot of the segment's result masked by r uniform in ±2^${plan.maskBits}·${plan.maskBound.toPrecision(3)} ` +
    `(B = calibration's bound on any circuit value), so what it sees is within 2^-${plan.maskBits} statistical distance of uniform whatever the values; ` +
    `it encrypts them again at the top level and never returns a decryption; the mask costs ≈ ${plan.maskBits} + log2 B of the 53 float64 bits`
  );
}

/** a log-uniform in [1, 2^octaves] on each of `count` values, from the system's CSPRNG. */
export function drawScales(count: number, octaves: number): Float64Array {
  const u = drawMask(count, 0, 0.5); // uniform in [−0.5, 0.5)
  return u.map((v) => 2 ** ((v + 0.5) * octaves));
}

/** One evaluation's pool mask: slot vectors for the server, and per sample the windows' a and c for unmasking. */
export interface PoolMask {
  /** Per output ciphertext of the segment before: a_w on the slots of window w, 1 elsewhere. */
  readonly scales: Float64Array[];
  /** Per output ciphertext: c_w on the slots of window w, a random offset elsewhere. */
  readonly offsets: Float64Array[];
  /** Per sample of the evaluation, per window (the next segment's input element): a_w and c_w. */
  readonly windowScales: Float64Array[];
  readonly windowOffsets: Float64Array[];
}

/** σ, B and the scales' octaves of a pool step. */
export type PoolMaskBounds = Pick<RefreshPlan, 'maskBits' | 'maskBound'> & { readonly octaves: number };

export function poolMaskBounds(plan: RefreshPlan): PoolMaskBounds {
  if (plan.poolScaleOctaves === undefined) fail('BAD_ARTIFACT', 'a max-pool step without poolScaleOctaves');
  return { maskBits: plan.maskBits, maskBound: plan.maskBound, octaves: plan.poolScaleOctaves };
}

/** Draws a fresh pool mask for one evaluation whose result `from` wrote. */
export function drawPoolMask(from: Circuit, pool: PoolStep, bounds: PoolMaskBounds): PoolMask {
  const samples = samplesPerEvaluation(from);
  const spread = bounds.maskBound * 2 ** bounds.octaves;
  const windowScales: Float64Array[] = [];
  const windowOffsets: Float64Array[] = [];
  const rowScales: Float64Array[] = [];
  const rowOffsets: Float64Array[] = [];
  for (let j = 0; j < samples; j++) {
    const a = drawScales(pool.windows.length, bounds.octaves);
    const c = drawMask(pool.windows.length, bounds.maskBits, spread);
    const rowA = new Float64Array(from.outputSize).fill(1);
    const rowC = drawMask(from.outputSize, bounds.maskBits, spread);
    pool.windows.forEach((w, o) => {
      for (const i of w) {
        rowA[i] = a[o]!;
        rowC[i] = c[o]!;
      }
    });
    windowScales.push(a);
    windowOffsets.push(c);
    rowScales.push(rowA);
    rowOffsets.push(rowC);
  }
  const scales = from.outputs.map(() => new Float64Array(from.slots).fill(1));
  const offsets = from.outputs.map(() => drawMask(from.slots, bounds.maskBits, spread));
  packOutputs(from, rowScales, scales);
  packOutputs(from, rowOffsets, offsets);
  return { scales, offsets, windowScales, windowOffsets };
}

/** Level and scale of a result ciphertext at (`level`, `scale`) once pool-masked: the product by a is rescaled away. */
export function poolMaskedMeta(base: Circuit, level: Level, scale: Scale): { level: Level; scale: Scale } {
  if (!base.primes) fail('BAD_ARTIFACT', 'the circuit has no scales assigned (primes missing)');
  if (level < 2) fail('BAD_ARTIFACT', `a pool mask needs a level to spend and one to spare; the result sits at level ${level}`);
  const q = primeAt(base.primes, base.topLevel, level);
  return { level: level - 1, scale: (scale * q) / q };
}

/**
 * The server's pool mask on one result ciphertext at `level` and `scale`: z = a·y + c, a encoded
 * at the prime the rescale drops, so the scale comes back to (scale·q)/q. `base` is a segment
 * whose primes reach `level` (the one that wrote the result).
 */
export function poolMaskCircuit(base: Circuit, level: Level, scale: Scale, scales: Float64Array, offsets: Float64Array): Circuit {
  const masked = poolMaskedMeta(base, level, scale);
  const q = primeAt(base.primes!, base.topLevel, level);
  const ops: Op[] = [
    { op: 'input', input: 0, level, scale, size: 2 },
    { op: 'mulPlain', a: 0, c: 0, encodeScale: q, level, scale: scale * q, size: 2 },
    { op: 'rescale', a: 1, target: level - 1, level: level - 1, scale: masked.scale, size: 2 },
    { op: 'addPlain', a: 2, c: 1, encodeScale: masked.scale, level: level - 1, scale: masked.scale, size: 2 },
    { op: 'output', a: 3, output: 0, level: level - 1, scale: masked.scale, size: 2 },
  ];
  return oneCiphertextCircuit(base, level, ops, [scales, offsets], 1);
}

/**
 * The server's unmasking after a pool step, on one fresh ciphertext the client encrypted at the
 * top level (`top`: a segment that starts there) with the next segment's input scale s:
 * (z' − c)·(1/a), 1/a encoded at a double P next to the top prime q such that (s·P)/q is s
 * exactly, so the result is the next segment's input (a level below the top, scale s).
 */
export function poolUnmaskCircuit(top: Circuit, next: Circuit, negOffsets: Float64Array, inverseScales: Float64Array): Circuit {
  if (!top.primes) fail('BAD_ARTIFACT', 'the circuit has no scales assigned (primes missing)');
  const input = next.ops.find((op) => op.op === 'input')!;
  const level = top.topLevel;
  if (input.level !== level - 1) fail('BAD_ARTIFACT', `the segment after a max pool starts at level ${input.level}, expected ${level - 1}`);
  const q = primeAt(top.primes, top.topLevel, level);
  const s = input.scale;
  const p = exactRescaleFactor(s, q);
  const ops: Op[] = [
    { op: 'input', input: 0, level, scale: s, size: 2 },
    { op: 'addPlain', a: 0, c: 0, encodeScale: s, level, scale: s, size: 2 },
    { op: 'mulPlain', a: 1, c: 1, encodeScale: p, level, scale: s * p, size: 2 },
    { op: 'rescale', a: 2, target: level - 1, level: level - 1, scale: (s * p) / q, size: 2 },
    { op: 'output', a: 3, output: 0, level: level - 1, scale: (s * p) / q, size: 2 },
  ];
  return oneCiphertextCircuit(top, level, ops, [negOffsets, inverseScales], 1);
}

/** A double p within a few ulps of q with (s·p)/q === s in double arithmetic (as SEAL computes it). */
function exactRescaleFactor(s: number, q: number): number {
  const buf = new Float64Array(1);
  const bits = new BigInt64Array(buf.buffer);
  buf[0] = q;
  const base = bits[0]!;
  for (let d = 0; d < 64; d++) {
    for (const sign of [1n, -1n]) {
      bits[0] = base + sign * BigInt(d);
      const p = buf[0]!;
      if ((s * p) / q === s) return p;
    }
  }
  fail('PARAMS', `no encode scale near ${q} rescales 2^${Math.log2(s).toFixed(2)} back onto itself`);
}

function oneCiphertextCircuit(base: Circuit, level: Level, ops: Op[], constants: Float64Array[], depth: number): Circuit {
  return {
    layout: 'batch',
    slots: base.slots,
    minSlots: 1,
    samplesPerCiphertext: 1,
    inputSize: 1,
    outputSize: 1,
    inputs: [{ kind: 'feature', feature: 0 }],
    outputs: [{ kind: 'feature', element: 0 }],
    ops,
    constants,
    rotationSteps: [],
    depth,
    topLevel: level,
    primes: base.primes!.slice(base.topLevel - level),
  };
}

/** Per input ciphertext of `next`, the slot vectors −c and 1/a that unmask one evaluation. */
export function poolUnmaskVectors(next: Circuit, mask: PoolMask): { negOffsets: Float64Array[]; inverseScales: Float64Array[] } {
  const [neg] = packSamples(next, mask.windowOffsets.map((c) => c.map((v) => -v)));
  const [inv] = packSamples(next, mask.windowScales.map((a) => a.map((v) => 1 / v)));
  if (!neg || !inv) fail('BAD_ARTIFACT', 'a pool step unmasks one evaluation at a time');
  return { negOffsets: neg.inputs, inverseScales: inv.inputs };
}

/** The client's side of a pool step on one evaluation: masked result slot vectors of `from` → the window maxima packed as `to`'s inputs. */
export function poolSlots(from: Circuit, to: Circuit, pool: Pick<PoolStep, 'windows'>, slotVectors: readonly Float64Array[]): Float64Array[] {
  const rows = unpackOutputs(from, slotVectors, samplesPerEvaluation(from)).map((z) => maxOverWindows(pool.windows, z));
  const groups = packSamples(to, rows);
  if (groups.length !== 1) fail('BAD_ARTIFACT', 'a client step repacks one evaluation at a time');
  return groups[0]!.inputs;
}

/**
 * A pool step in the clear, for simulation: per sample, z = a·y + c on each window with a fresh
 * mask, the window max of z, then (z' − c)/a in float64, so a simulated run carries the mask's
 * rounding and the max the client takes.
 */
export function simulatePoolStep(rows: readonly Float64Array[], pool: PoolStep, bounds: PoolMaskBounds): Float64Array[] {
  const spread = bounds.maskBound * 2 ** bounds.octaves;
  return rows.map((y) => {
    const a = drawScales(pool.windows.length, bounds.octaves);
    const c = drawMask(pool.windows.length, bounds.maskBits, spread);
    const z = new Float64Array(y.length);
    pool.windows.forEach((w, o) => {
      for (const i of w) z[i] = a[o]! * y[i]! + c[o]!;
    });
    return maxOverWindows(pool.windows, z).map((v, o) => (v - c[o]!) / a[o]!);
  });
}

/** What the client sees at a max-pool step, in words: for the report, compile and the README. */
export function describePoolStep(pool: PoolStep, bounds: PoolMaskBounds): string {
  return (
    `max pool (${pool.geometry}; ${pool.sources.join(', ')}) as a client step: the server masks each window's values as a·y + c, with a > 0 log-uniform in [1, 2^${bounds.octaves}] ` +
    `and c uniform in ±2^${bounds.maskBits}·2^${bounds.octaves}·${bounds.maskBound.toPrecision(3)}, both fresh per window and per sample; the client decrypts, takes each window's max and encrypts it fresh, and the server removes (z − c)/a. ` +
    `The client learns, within each window, which position holds the max and the order and the ratios of differences of the window's values (an affine mask keeps those); ` +
    `not their level (c hides it within 2^-${bounds.maskBits}), their spread only up to the unknown factor a (2^${bounds.octaves}), and nothing that links two windows beyond that; ` +
    `values in no window it sees under a random offset alone, as at a refresh step`
  );
}

/**
 * Every client step of a segmented body, in words: the refresh steps as describeClientStep says,
 * and each max pool's (describePoolStep). A body without max pools reads as before.
 */
export function describeClientSteps(plan: RefreshPlan): string {
  const pools = plan.segments.flatMap((s) => (s.pool ? [s.pool] : []));
  if (pools.length === 0) return describeClientStep(plan);
  const refreshes = plan.segments.length - pools.length;
  const bounds = poolMaskBounds(plan);
  const parts = pools.map((p) => describePoolStep(p, bounds));
  if (refreshes > 0) {
    parts.push(
      `${refreshes} refresh step${refreshes === 1 ? '' : 's'}: the client decrypts every slot masked by r uniform in ±2^${plan.maskBits}·${plan.maskBound.toPrecision(3)}, within 2^-${plan.maskBits} statistical distance of uniform, and encrypts it again`,
    );
  }
  return `${plan.segments.length} client step${plan.segments.length === 1 ? '' : 's'} per evaluation; ${parts.join('; ')}`;
}
