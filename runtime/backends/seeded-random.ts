/**
 * Seeded, reproducible randomness for what must repeat exactly (the simulator's noise model, the
 * bench models' training, tests): not for keys or masks, which take the platform's CSPRNG.
 */

/** mulberry32: uniform [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws (Box–Muller) from a uniform [0, 1) source. */
export function gaussian(unit: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - unit())) * Math.cos(2 * Math.PI * unit());
}
