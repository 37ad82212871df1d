import type { PolyBuilder } from './poly-builder';

/**
 * Three PolyBuilders that need no ciphertexts: plain numbers (tests), slot vectors (a whole
 * batch at once, the way the simulator sees it) and an op counter (cost and depth). Each follows
 * the PolyBuilder depth rules exactly, so what they report is what the circuit lowering spends.
 */

function linearDepth(depths: readonly number[], coefficients: readonly number[]): number {
  const base = depths.reduce((m, d) => Math.max(m, d), 0);
  return base + (coefficients.some((c) => !Number.isInteger(c)) ? 1 : 0);
}

export interface NumberValue {
  readonly value: number;
  readonly depth: number;
}

export const numberBuilder: PolyBuilder<NumberValue> = {
  mul: (a, b) => ({ value: a.value * b.value, depth: Math.max(a.depth, b.depth) + 1 }),
  add: (a, b) => ({ value: a.value + b.value, depth: Math.max(a.depth, b.depth) }),
  sub: (a, b) => ({ value: a.value - b.value, depth: Math.max(a.depth, b.depth) }),
  linear: (terms, constant) => {
    let value = constant;
    for (const [x, c] of terms) value += c * x.value;
    return {
      value,
      depth: linearDepth(terms.map(([x]) => x.depth), terms.map(([, c]) => c)),
    };
  },
  depth: (a) => a.depth,
};

/** The input of a numberBuilder evaluation. */
export function numberInput(value: number): NumberValue {
  return { value, depth: 0 };
}

export interface SlotVector {
  readonly values: Float64Array;
  readonly depth: number;
}

function zip(a: SlotVector, b: SlotVector, op: (x: number, y: number) => number): Float64Array {
  if (a.values.length !== b.values.length) {
    throw new RangeError(`slot vectors of lengths ${a.values.length} and ${b.values.length}`);
  }
  const out = new Float64Array(a.values.length);
  for (let i = 0; i < out.length; i++) out[i] = op(a.values[i]!, b.values[i]!);
  return out;
}

export const vectorBuilder: PolyBuilder<SlotVector> = {
  mul: (a, b) => ({ values: zip(a, b, (x, y) => x * y), depth: Math.max(a.depth, b.depth) + 1 }),
  add: (a, b) => ({ values: zip(a, b, (x, y) => x + y), depth: Math.max(a.depth, b.depth) }),
  sub: (a, b) => ({ values: zip(a, b, (x, y) => x - y), depth: Math.max(a.depth, b.depth) }),
  linear: (terms, constant) => {
    if (terms.length === 0) throw new RangeError('a slot-vector linear combination needs at least one term');
    const n = terms[0]![0].values.length;
    const values = new Float64Array(n).fill(constant);
    for (const [x, c] of terms) {
      if (x.values.length !== n) throw new RangeError(`slot vectors of lengths ${n} and ${x.values.length}`);
      for (let i = 0; i < n; i++) values[i] += c * x.values[i]!;
    }
    return { values, depth: linearDepth(terms.map(([x]) => x.depth), terms.map(([, c]) => c)) };
  },
  depth: (a) => a.depth,
};

/** The input of a vectorBuilder evaluation. */
export function vectorInput(values: ArrayLike<number>): SlotVector {
  return { values: Float64Array.from(values), depth: 0 };
}

/** Ops a polynomial evaluation spends. */
export interface OpCounts {
  /** Ciphertext × ciphertext multiplies (each followed by relinearise + rescale). */
  ctMuls: number;
  /** Multiplies by non-integer plaintext scalars (each needs a rescale, hence a level). */
  scalarMuls: number;
  /**
   * Ciphertext additions and subtractions, constant additions included. An integer multiple
   * counts as one addition (the evaluator only emits 2·x = x + x and −x).
   */
  adds: number;
}

export interface CountedValue {
  readonly depth: number;
}

/** Counts ops; values carry only their depth. */
export class CountingBuilder implements PolyBuilder<CountedValue> {
  readonly counts: OpCounts = { ctMuls: 0, scalarMuls: 0, adds: 0 };
  /** Highest depth any value reached. */
  maxDepth = 0;

  input(): CountedValue {
    return { depth: 0 };
  }

  mul(a: CountedValue, b: CountedValue): CountedValue {
    this.counts.ctMuls++;
    return this.value(Math.max(a.depth, b.depth) + 1);
  }

  add(a: CountedValue, b: CountedValue): CountedValue {
    this.counts.adds++;
    return this.value(Math.max(a.depth, b.depth));
  }

  sub(a: CountedValue, b: CountedValue): CountedValue {
    return this.add(a, b);
  }

  linear(terms: ReadonlyArray<readonly [CountedValue, number]>, constant: number): CountedValue {
    let active = 0;
    for (const [, c] of terms) {
      if (c === 0) continue;
      active++;
      if (!Number.isInteger(c)) this.counts.scalarMuls++;
      else if (Math.abs(c) !== 1) this.counts.adds++;
    }
    this.counts.adds += Math.max(active - 1, 0) + (constant !== 0 ? 1 : 0);
    return this.value(linearDepth(terms.map(([x]) => x.depth), terms.map(([, c]) => c)));
  }

  depth(a: CountedValue): number {
    return a.depth;
  }

  private value(depth: number): CountedValue {
    this.maxDepth = Math.max(this.maxDepth, depth);
    return { depth };
  }
}
