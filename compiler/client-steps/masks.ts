/**
 * The random values of a client step's masks, from the system's CSPRNG: the server draws them
 * fresh per evaluation (runtime/server), simulation per sample (each kind's float64 semantics).
 */
import { randomFillSync } from 'node:crypto';

/** r uniform in ±2^bits·bound on each of `slots` slots (53 random bits each). */
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

/** a log-uniform in [1, 2^octaves] on each of `count` values. */
export function drawScales(count: number, octaves: number): Float64Array {
  const u = drawMask(count, 0, 0.5); // uniform in [−0.5, 0.5)
  return u.map((v) => 2 ** ((v + 0.5) * octaves));
}
