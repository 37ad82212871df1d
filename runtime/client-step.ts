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
 * The client works on whole evaluations (all N/2 samples of a batch-layout evaluation, one in
 * vector layout), so both sides pack the same slots without the server knowing how many rows
 * the client filled: an empty slot carries z = r and comes back to 0.
 */
import { randomFillSync } from 'node:crypto';
import type { RefreshPlan } from '../compiler/artifact/types';
import type { Circuit, Level, Op, Scale } from '../compiler/circuit/ir';
import { packSamples, samplesPerEvaluation, unpackOutputs } from '../compiler/circuit/packing';
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
    constants: [values],
    rotationSteps: [],
    depth: 0,
    topLevel: level,
    primes: base.primes.slice(base.topLevel - level),
  };
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
