import type { PolyBuilder } from '../approx/poly-builder';
import type { CircuitBuilder } from './builder';
import type { ValueId } from './ir';

/**
 * A value during polynomial lowering. `pending` marks an unrescaled, unrelinearised ct×ct
 * product: sums of such products stay pending, so a whole Σ aᵢ·bᵢ costs one relinearisation and
 * one rescale (lazy relinearisation and rescaling, as in EVA).
 */
export interface PolyValue {
  readonly id: ValueId;
  readonly pending: boolean;
}

/**
 * PolyBuilder over the circuit IR. Operands at different levels are brought to the lower one
 * (modswitches, and a scale-correcting multiply by 1 where a modswitch alone would leave the
 * wrong scale); non-integer scalars ride on ct×pt multiplies encoded at exact scales with one
 * rescale per linear combination; integer scalars are additions (double-and-add), costing no level.
 */
export class CircuitPolyBuilder implements PolyBuilder<PolyValue> {
  private readonly settled = new Map<ValueId, ValueId>();

  /** `seed`: a canonical ciphertext of the stage (its input), used only for a constant with no terms. */
  constructor(
    private readonly b: CircuitBuilder,
    private readonly seed: ValueId,
  ) {}

  wrap(id: ValueId): PolyValue {
    return { id, pending: false };
  }

  /** The canonical, relinearised ciphertext for `v`. */
  settle(v: PolyValue): ValueId {
    if (!v.pending) return v.id;
    let s = this.settled.get(v.id);
    if (s === undefined) {
      s = this.b.rescale(this.b.relin(v.id));
      this.settled.set(v.id, s);
    }
    return s;
  }

  mul(x: PolyValue, y: PolyValue): PolyValue {
    const [a, c] = this.aligned(this.settle(x), this.settle(y));
    return { id: this.b.mul(a, c), pending: true };
  }

  add(x: PolyValue, y: PolyValue): PolyValue {
    return this.combine('add', x, y);
  }

  sub(x: PolyValue, y: PolyValue): PolyValue {
    return this.combine('sub', x, y);
  }

  linear(terms: ReadonlyArray<readonly [PolyValue, number]>, constant: number): PolyValue {
    const live = terms.filter(([, c]) => c !== 0).map(([v, c]) => [this.settle(v), c] as const);
    if (live.length === 0) {
      // A constant series still has to be a ciphertext (see nearZero; it costs a level here).
      const v = terms.length > 0 ? this.settle(terms[0]![0]) : this.seed;
      return this.wrap(this.b.addScalar(this.b.nearZero(v), constant));
    }
    const level = Math.min(...live.map(([v]) => this.b.level(v)));
    if (live.every(([, c]) => Number.isInteger(c))) {
      const parts = live.map(([v, c]) => this.b.canonicalAt(this.intTimes(v, c), level));
      return this.wrap(this.b.addScalar(this.b.sum(parts), constant));
    }
    // Every term is modswitched down to the common level and multiplied there; the encode scales
    // (assigned later) make all products share one scale, so a single rescale finishes the sum.
    // A term already at the common level goes first: SEAL keeps the left operand's scale in a sum,
    // and that term's encode scale (≈ S_level) is the one that can always land exactly.
    const ordered = [...live].sort(([v], [w]) => this.b.level(v) - this.b.level(w));
    const products = ordered.map(([v, c]) => this.b.mulScalar(this.b.dropTo(v, level), c));
    return this.wrap(this.b.addScalar(this.b.rescale(this.b.sum(products)), constant));
  }

  depth(v: PolyValue): number {
    return this.b.depth(v.id) + (v.pending ? 1 : 0);
  }

  private combine(kind: 'add' | 'sub', x: PolyValue, y: PolyValue): PolyValue {
    if (x.pending && y.pending && this.b.level(x.id) === this.b.level(y.id)) {
      return { id: this.b[kind](x.id, y.id), pending: true };
    }
    const [a, c] = this.aligned(this.settle(x), this.settle(y));
    return this.wrap(this.b[kind](a, c));
  }

  private aligned(a: ValueId, c: ValueId): [ValueId, ValueId] {
    const level = Math.min(this.b.level(a), this.b.level(c));
    return [this.b.canonicalAt(a, level), this.b.canonicalAt(c, level)];
  }

  /** k·v by doubling and adding (negated for k < 0): no plaintext multiply, no level. */
  private intTimes(v: ValueId, k: number): ValueId {
    if (k < 0) return this.b.neg(this.intTimes(v, -k));
    let result: ValueId | null = null;
    let base = v;
    for (let rest = k; rest > 0; rest = Math.floor(rest / 2)) {
      if (rest % 2 === 1) result = result === null ? base : this.b.add(result, base);
      if (rest > 1) base = this.b.add(base, base);
    }
    if (result === null) throw new Error('integer multiple of zero');
    return result;
  }
}
