import { fail } from '../errors';

/**
 * A position in parsed JSON with typed accessors whose errors say where the bad value sits,
 * e.g. `manifest.json: circuit.ops[12].a: expected an integer in [0, 11], got "x"`.
 */
export class JsonAt {
  private constructor(
    readonly value: unknown,
    /** What is being read, for messages: `manifest.json`. */
    readonly file: string,
    /** Where in it: `circuit.ops[12].a`; empty at the root. */
    readonly path: string,
  ) {}

  static root(value: unknown, file: string): JsonAt {
    return new JsonAt(value, file, '');
  }

  bad(why: string): never {
    fail('BAD_ARTIFACT', this.path ? `${this.file}: ${this.path}: ${why}` : `${this.file}: ${why}`);
  }

  /** Checks this is an object whose keys are all in `required` ∪ `optional` and include every `required` one. */
  object(required: readonly string[], optional: readonly string[] = []): this {
    const v = this.value;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.bad(`expected an object, got ${describe(v)}`);
    for (const k of required) if (!Object.hasOwn(v, k)) this.bad(`missing field "${k}"`);
    for (const k of Object.keys(v)) {
      if (!required.includes(k) && !optional.includes(k)) this.bad(`unexpected field "${k}"`);
    }
    return this;
  }

  /** Checks this is an object; any keys allowed (maps keyed by name). */
  record(): Array<[string, JsonAt]> {
    const v = this.value;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.bad(`expected an object, got ${describe(v)}`);
    return Object.keys(v).map((k) => [k, new JsonAt((v as Record<string, unknown>)[k], this.file, this.child(k))]);
  }

  field(key: string): JsonAt {
    const v = this.value as Record<string, unknown>;
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, key)) this.bad(`missing field "${key}"`);
    return new JsonAt(v[key], this.file, this.child(key));
  }

  has(key: string): boolean {
    const v = this.value;
    return v !== null && typeof v === 'object' && Object.hasOwn(v, key);
  }

  items(): JsonAt[] {
    if (!Array.isArray(this.value)) this.bad(`expected an array, got ${describe(this.value)}`);
    return this.value.map((v, i) => new JsonAt(v, this.file, `${this.path}[${i}]`));
  }

  isNull(): boolean {
    return this.value === null;
  }

  string(): string {
    if (typeof this.value !== 'string') this.bad(`expected a string, got ${describe(this.value)}`);
    return this.value;
  }

  oneOf<T extends string>(choices: readonly T[]): T {
    const s = this.string();
    if (!(choices as readonly string[]).includes(s)) this.bad(`expected one of ${choices.map((c) => `"${c}"`).join(', ')}, got ${describe(s)}`);
    return s as T;
  }

  boolean(): boolean {
    if (typeof this.value !== 'boolean') this.bad(`expected true or false, got ${describe(this.value)}`);
    return this.value;
  }

  /** A finite number. */
  number(): number {
    if (typeof this.value !== 'number' || !Number.isFinite(this.value)) this.bad(`expected a number, got ${describe(this.value)}`);
    return this.value;
  }

  /** A finite number in [min, max]. */
  numberIn(min: number, max: number): number {
    const x = this.number();
    if (!(x >= min && x <= max)) this.bad(`expected a number in [${min}, ${max}], got ${x}`);
    return x;
  }

  integer(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
    const x = this.value;
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max) {
      this.bad(`expected an integer in [${min}, ${max}], got ${describe(x)}`);
    }
    return x;
  }

  /** A float written by `floatToJson`: a number, or "NaN", "Infinity", "-Infinity", "-0". */
  float(): number {
    const x = this.value;
    if (typeof x === 'number' && Number.isFinite(x)) return x;
    if (x === '-0') return -0;
    if (x === 'NaN') return Number.NaN;
    if (x === 'Infinity') return Number.POSITIVE_INFINITY;
    if (x === '-Infinity') return Number.NEGATIVE_INFINITY;
    this.bad(`expected a number, "NaN", "Infinity", "-Infinity" or "-0", got ${describe(x)}`);
  }

  /** `fn(this)` unless the value is null. */
  nullable<T>(fn: (at: JsonAt) => T): T | null {
    return this.value === null ? null : fn(this);
  }

  private child(key: string): string {
    const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
    return this.path ? `${this.path}.${name}` : name;
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = typeof v === 'number' && !Number.isFinite(v) ? String(v) : JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** A list of non-empty groups of element indices in [0, max], no index in two groups (softmax rows, LayerNorm tokens). */
export function disjointGroups(at: JsonAt, max: number): number[][] {
  const groups = at.items().map((w) => w.items().map((x) => x.integer(0, max)));
  const seen = new Set<number>();
  for (const g of groups) {
    if (g.length === 0) at.bad('an empty group');
    for (const i of g) {
      if (seen.has(i)) at.bad(`element ${i} is in two groups`);
      seen.add(i);
    }
  }
  return groups;
}
