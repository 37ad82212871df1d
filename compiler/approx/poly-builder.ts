/**
 * The algebra a polynomial evaluator needs, implemented by whoever evaluates: plain numbers (tests),
 * an op counter (cost and depth), and the circuit lowering (CKKS ops with levels and exact scales).
 * Keeping evaluation generic is what lets the polynomial-evaluation plan be tested on numbers and
 * then emitted as ciphertext ops unchanged.
 */
export interface PolyBuilder<T> {
  /** Encrypted × encrypted product (relinearised and rescaled by the implementation): +1 depth. */
  mul(a: T, b: T): T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  /**
   * Σ cᵢ·xᵢ + c₀ with plaintext real scalars. Costs one level when any cᵢ is not an integer
   * (the scalars ride on one plaintext multiply each, then a single rescale); integer cᵢ
   * (e.g. the 2 in 2·T_k² − 1) may be done by additions at no depth. Result depth is
   * max(depth(xᵢ)) + (1 if any non-integer cᵢ else 0).
   */
  linear(terms: ReadonlyArray<readonly [T, number]>, constant: number): T;
  /** Multiplicative depth consumed so far by a value (0 for the input). */
  depth(a: T): number;
}
