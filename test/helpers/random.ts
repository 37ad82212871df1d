export { mulberry32 } from '../../runtime/backends/seeded-random';

/**
 * The linear congruential generator (Numerical Recipes' constants) older suites were written
 * with: uniform [0, 1). Kept so their seeded data stays exactly what it was.
 */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Uniform on [lo, hi) from a uniform [0, 1) source. */
export function uniform(unit: () => number, lo: number, hi: number): () => number {
  return () => lo + (hi - lo) * unit();
}

/** Park and Miller's minimal standard generator (seed in [1, 2^31 − 2]): uniform (0, 1). */
export function parkMiller(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
}

/** A maker of float32 values uniform on [−scale, scale) from a uniform [0, 1) source: `values(n, scale = 1)`. */
export function signedFloat32s(unit: () => number): (n: number, scale?: number) => number[] {
  return (n, scale = 1) => Array.from({ length: n }, () => Math.fround((unit() * 2 - 1) * scale));
}
