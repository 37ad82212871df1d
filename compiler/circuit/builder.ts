import { ConstantTable } from './constant-table';
import type { Circuit, InputSpec, Layout, Level, Op, OutputSpec, ValueId } from './ir';
import { unhandledOp } from './op-table';
import { eliminateDeadCode } from './passes-dce';
import { rotationChain, type RotationKeys } from './rotation-keys';

/**
 * Emits the SSA op list while the parameters (and so the primes) are still unknown. Levels are
 * relative while building: the input sits at level 0 and each rescale goes one lower; `finish`
 * shifts everything up by the depth so the deepest value lands on level 0. Scales are left 0 and
 * filled in by `assignScales` once the primes are chosen.
 *
 * Besides the level, each value carries its *scale class*: the level whose canonical scale S_ℓ it
 * will have (a value rescaled for a later modswitch carries a lower class than its level), or
 * null for an unrescaled product. The helpers here keep the invariant the lowering relies on:
 * values handed between stages are relinearised and canonical (class = level).
 */
/** Most ops `canonicalAt` may copy to fold a level correction into earlier plaintext products. */
const RETARGET_BUDGET = 24;

/** See `nearZero`. */
export const NEAR_ZERO_WEIGHT = 2 ** -20;

export class CircuitBuilder {
  private readonly ops: Op[] = [];
  private readonly classes: (Level | null)[] = [];
  private readonly constants: ConstantTable;
  private readonly inputSpecs: InputSpec[] = [];
  private readonly outputSpecs: OutputSpec[] = [];
  private readonly modswitched = new Map<string, ValueId>();
  private readonly canonical = new Map<string, ValueId>();
  private readonly hoisted = new Map<string, ValueId>();

  /** Partial rotations of `rotationChain`s already built, keyed `${value}>${step so far}`, so chains with a common prefix share it. */
  private readonly rotated = new Map<string, ValueId>();

  constructor(
    readonly slots: number,
    private readonly rotationKeys: RotationKeys = 'all',
  ) {
    this.constants = new ConstantTable(slots);
  }

  level(v: ValueId): Level {
    return this.op(v).level;
  }

  size(v: ValueId): 2 | 3 {
    return this.op(v).size;
  }

  scaleClass(v: ValueId): Level | null {
    return this.classes[v]!;
  }

  /** Multiplicative depth consumed by `v` (0 for inputs). */
  depth(v: ValueId): number {
    return -this.level(v);
  }

  input(spec: InputSpec): ValueId {
    this.inputSpecs.push(spec);
    return this.push({ op: 'input', input: this.inputSpecs.length - 1, level: 0, scale: 0, size: 2 }, 0);
  }

  output(a: ValueId, spec: OutputSpec): void {
    this.requireCanonical(a, 'output');
    this.outputSpecs.push(spec);
    const m = this.op(a);
    this.push({ op: 'output', a, output: this.outputSpecs.length - 1, level: m.level, scale: 0, size: m.size }, m.level);
  }

  add(a: ValueId, b: ValueId): ValueId {
    return this.binaryLinear('add', a, b);
  }

  sub(a: ValueId, b: ValueId): ValueId {
    return this.binaryLinear('sub', a, b);
  }

  neg(a: ValueId): ValueId {
    const m = this.op(a);
    return this.push({ op: 'neg', a, level: m.level, scale: 0, size: m.size }, this.scaleClass(a));
  }

  /** ct×ct of two canonical values at one level; the result needs relin and rescale. */
  mul(a: ValueId, b: ValueId): ValueId {
    const ma = this.op(a);
    if (ma.level !== this.level(b)) throw new Error(`mul of levels ${ma.level} and ${this.level(b)}`);
    this.requireCanonical(a, 'mul');
    this.requireCanonical(b, 'mul');
    return this.push({ op: 'mul', a, b, level: ma.level, scale: 0, size: 3 }, null);
  }

  relin(a: ValueId): ValueId {
    const m = this.op(a);
    if (m.size !== 3) throw new Error('relin of a size-2 ciphertext');
    return this.push({ op: 'relin', a, level: m.level, scale: 0, size: 2 }, this.scaleClass(a));
  }

  /** Drops one prime; the result will carry the canonical scale of level `target` (≤ its level). */
  rescale(a: ValueId, target?: Level): ValueId {
    const m = this.op(a);
    const level = m.level - 1;
    const t = target ?? level;
    if (t > level) throw new Error(`rescale target ${t} above level ${level}`);
    return this.push({ op: 'rescale', a, target: t, level, scale: 0, size: m.size }, t);
  }

  /** `a` moved down to `level` by modswitches (scale unchanged), memoised per value and level. */
  dropTo(a: ValueId, level: Level): ValueId {
    let v = a;
    while (this.level(v) > level) {
      const key = `${v}>`;
      let next = this.modswitched.get(key);
      if (next === undefined) {
        const m = this.op(v);
        next = this.push({ op: 'modswitch', a: v, level: m.level - 1, scale: 0, size: m.size }, this.scaleClass(v));
        this.modswitched.set(key, next);
      }
      v = next;
    }
    if (this.level(v) !== level) throw new Error(`cannot raise level ${this.level(a)} to ${level}`);
    return v;
  }

  /**
   * `a` at `level` with that level's canonical scale. Modswitching alone keeps the old scale, so
   * unless `a` was already rescaled for this level the last drop is a multiply by 1 encoded at the
   * correcting scale plus a rescale (one ct×pt instead of a modswitch). Memoised.
   */
  canonicalAt(a: ValueId, level: Level): ValueId {
    if (this.level(a) < level) throw new Error(`cannot raise level ${this.level(a)} to ${level}`);
    if (this.scaleClass(a) === level) return this.dropTo(a, level);
    const key = `${a}@${level}`;
    const hit = this.canonical.get(key);
    if (hit !== undefined) return hit;
    this.requireCanonical(a, 'level alignment');
    // When `a` is itself a rescaled sum of plaintext products (a linear combination), emit those
    // products again with their rescale aimed at `level`: the correcting factor folds into their
    // encode scales instead of costing another multiply. Bounded, since the copy duplicates ops.
    const retargeted = this.level(a) > level ? this.retarget(a, level, { left: RETARGET_BUDGET }) : null;
    const v = retargeted !== null ? this.dropTo(retargeted, level) : this.rescale(this.mulScalar(this.dropTo(a, level + 1), 1), level);
    this.canonical.set(key, v);
    return v;
  }

  /** A copy of settled value `v` whose final rescale lands on the scale of `level`, or null. */
  private retarget(v: ValueId, level: Level, budget: { left: number }): ValueId | null {
    if (--budget.left < 0) return null;
    const op = this.op(v);
    const again = (x: ValueId): ValueId | null => this.retarget(x, level, budget);
    switch (op.op) {
      case 'rescale': {
        const x = this.copyPlainProducts(op.a, budget);
        return x === null ? null : this.rescale(x, level);
      }
      case 'addScalar': {
        const y = again(op.a);
        return y === null ? null : this.addScalar(y, op.value);
      }
      case 'addPlain': {
        const y = again(op.a);
        return y === null ? null : this.addPlain(y, this.constants.get(op.c));
      }
      default:
        return this.copyCombination(op, again);
    }
  }

  /** A copy of an unrescaled sum of plaintext products (fresh multiplies, same operands), or null. */
  private copyPlainProducts(v: ValueId, budget: { left: number }): ValueId | null {
    if (--budget.left < 0) return null;
    const op = this.op(v);
    const again = (x: ValueId): ValueId | null => this.copyPlainProducts(x, budget);
    switch (op.op) {
      case 'mulScalar':
        return this.mulScalar(op.a, op.value);
      case 'mulPlain':
        return this.mulPlain(op.a, this.constants.get(op.c));
      default:
        return this.copyCombination(op, again);
    }
  }

  /**
   * The neg/add/sub node `op` emitted again over copies of its operands made by `again`; null when
   * a copy fails or `op` is any other kind (the two copiers above handle their own kinds first).
   * Lists every kind, so a new one must say here whether it can be copied.
   */
  private copyCombination(op: Op, again: (x: ValueId) => ValueId | null): ValueId | null {
    switch (op.op) {
      case 'neg': {
        const y = again(op.a);
        return y === null ? null : this.neg(y);
      }
      case 'add':
      case 'sub': {
        const y = again(op.a);
        const z = y === null ? null : again(op.b);
        return y === null || z === null ? null : this[op.op](y, z);
      }
      case 'input':
      case 'mul':
      case 'relin':
      case 'rescale':
      case 'modswitch':
      case 'rotate':
      case 'mulPlain':
      case 'addPlain':
      case 'mulScalar':
      case 'addScalar':
      case 'output':
        return null;
      default:
        return unhandledOp(op);
    }
  }

  rotate(a: ValueId, k: number): ValueId {
    const step = ((k % this.slots) + this.slots) % this.slots;
    if (step === 0) return a;
    const m = this.op(a);
    if (m.size !== 2) throw new Error('rotation of a size-3 ciphertext');
    if (this.rotationKeys === 'all') return this.push({ op: 'rotate', a, k: step, level: m.level, scale: 0, size: 2 }, this.scaleClass(a));
    let v = a;
    let done = 0;
    for (const part of rotationChain(step, this.slots, this.rotationKeys)) {
      done = (done + part) % this.slots;
      const key = `${a}>${done}`;
      const hit = this.rotated.get(key);
      if (hit !== undefined) {
        v = hit;
        continue;
      }
      v = this.push({ op: 'rotate', a: v, k: part, level: m.level, scale: 0, size: 2 }, this.scaleClass(a));
      this.rotated.set(key, v);
    }
    return v;
  }

  /**
   * rot(a, k) for a value that is a rescale (possibly followed by scalar additions, negations and
   * modswitches): the rotation is done on the unrescaled operand and the rescale (and what
   * followed it) is repeated on the rotated copy. Key switching adds noise of fixed absolute size,
   * so rotating at the product's scale S·q instead of S makes it ~q times smaller relative to
   * the signal, for the price of one more rescale. Falls back to a plain rotation otherwise.
   */
  rotateUnrescaled(a: ValueId, k: number): ValueId {
    const step = ((k % this.slots) + this.slots) % this.slots;
    if (step === 0) return a;
    const key = `${a}~${step}`;
    const hit = this.hoisted.get(key);
    if (hit !== undefined) return hit;
    const replay: Op[] = [];
    let v = a;
    let op = this.op(v);
    while (op.op === 'addScalar' || op.op === 'neg' || op.op === 'modswitch') {
      replay.push(op);
      v = op.a;
      op = this.op(v);
    }
    let result: ValueId;
    if (op.op === 'rescale' && this.size(op.a) === 2) {
      result = this.rescale(this.rotate(op.a, step), op.target);
      for (const r of replay.reverse()) {
        if (r.op === 'addScalar') result = this.addScalar(result, r.value);
        else if (r.op === 'neg') result = this.neg(result);
        else result = this.dropTo(result, r.level);
      }
    } else {
      result = this.rotate(a, step);
    }
    this.hoisted.set(key, result);
    return result;
  }

  mulPlain(a: ValueId, values: Float64Array): ValueId {
    const m = this.op(a);
    const c = this.constants.intern(values);
    return this.push({ op: 'mulPlain', a, c, encodeScale: 0, level: m.level, scale: 0, size: m.size }, null);
  }

  mulScalar(a: ValueId, value: number): ValueId {
    const m = this.op(a);
    return this.push({ op: 'mulScalar', a, value, encodeScale: 0, level: m.level, scale: 0, size: m.size }, null);
  }

  addPlain(a: ValueId, values: Float64Array): ValueId {
    const m = this.op(a);
    const c = this.constants.intern(values);
    return this.push({ op: 'addPlain', a, c, encodeScale: 0, level: m.level, scale: 0, size: m.size }, this.scaleClass(a));
  }

  addScalar(a: ValueId, value: number): ValueId {
    if (value === 0) return a;
    const m = this.op(a);
    return this.push({ op: 'addScalar', a, value, encodeScale: 0, level: m.level, scale: 0, size: m.size }, this.scaleClass(a));
  }

  /**
   * A ciphertext holding (almost) zero, one level below `a`: a·2^-20, rescaled. SEAL refuses
   * transparent ciphertexts (an exact zero such as a − a or a·0 has no secret-key part), so a
   * result that is mathematically constant rides on a multiple of `a` small enough to sit at the
   * CKKS noise floor of a 2^30–2^40 scale yet still encode to a nonzero plaintext.
   */
  nearZero(a: ValueId): ValueId {
    return this.rescale(this.mulScalar(a, NEAR_ZERO_WEIGHT));
  }

  /** Balanced reduction tree (depth ⌈log2 n⌉ of additions) over values at one level and scale. */
  sum(values: readonly ValueId[]): ValueId {
    if (values.length === 0) throw new Error('sum of nothing');
    let layer = [...values];
    while (layer.length > 1) {
      const next: ValueId[] = [];
      for (let i = 0; i + 1 < layer.length; i += 2) next.push(this.add(layer[i]!, layer[i + 1]!));
      if (layer.length % 2 === 1) next.push(layer[layer.length - 1]!);
      layer = next;
    }
    return layer[0]!;
  }

  /** Close the circuit: dead code removed, levels made absolute. Scales stay unassigned. */
  finish(layout: Layout, inputSize: number, outputSize: number, minSlots: number): Circuit {
    const dce = eliminateDeadCode(this.ops, this.constants.all());
    let depth = 0;
    for (const op of dce.ops) depth = Math.max(depth, -op.level);
    const ops = dce.ops.map((op): Op => (op.op === 'rescale' ? { ...op, level: op.level + depth, target: op.target + depth } : { ...op, level: op.level + depth }));
    const steps = new Set<number>();
    for (const op of ops) if (op.op === 'rotate') steps.add(op.k);
    return {
      layout,
      slots: this.slots,
      minSlots,
      samplesPerCiphertext: 1,
      inputSize,
      outputSize,
      inputs: this.inputSpecs,
      outputs: this.outputSpecs,
      ops,
      constants: dce.constants,
      rotationSteps: [...steps].sort((x, y) => x - y),
      depth,
      topLevel: depth,
      primes: null,
    };
  }

  private binaryLinear(kind: 'add' | 'sub', a: ValueId, b: ValueId): ValueId {
    const ma = this.op(a);
    const mb = this.op(b);
    if (ma.level !== mb.level) throw new Error(`${kind} of levels ${ma.level} and ${mb.level}`);
    if (this.scaleClass(a) !== this.scaleClass(b)) throw new Error(`${kind} of different scale classes`);
    const size = ma.size === 3 || mb.size === 3 ? 3 : 2;
    return this.push({ op: kind, a, b, level: ma.level, scale: 0, size }, this.scaleClass(a));
  }

  private requireCanonical(a: ValueId, what: string): void {
    if (this.scaleClass(a) !== this.level(a) || this.size(a) !== 2) {
      throw new Error(`${what} needs a relinearised value at its canonical scale (value ${a})`);
    }
  }

  private op(v: ValueId): Op {
    const op = this.ops[v];
    if (!op || op.op === 'output') throw new Error(`no value ${v}`);
    return op;
  }

  private push(op: Op, scaleClass: Level | null): ValueId {
    this.ops.push(op);
    this.classes.push(scaleClass);
    return this.ops.length - 1;
  }
}
