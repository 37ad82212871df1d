/**
 * Deduplicated plaintext slot vectors. A vector is stored at its shortest power-of-two period
 * (slot i holds v[i mod p]): replicated layouts make most constants periodic, and the period is
 * what lets one circuit serve any slot count that the period divides.
 */
export class ConstantTable {
  private readonly vectors: Float64Array[] = [];
  private readonly byHash = new Map<number, number[]>();

  constructor(private readonly slots: number) {}

  /** Id of `values` (length a power of two dividing the slot count), adding it if new. */
  intern(values: Float64Array): number {
    if (!isPowerOfTwo(values.length) || this.slots % values.length !== 0) {
      throw new Error(`constant of length ${values.length} does not tile ${this.slots} slots`);
    }
    const v = shortestPeriod(values);
    const h = hashOf(v);
    const bucket = this.byHash.get(h);
    if (bucket) {
      for (const id of bucket) if (sameValues(this.vectors[id]!, v)) return id;
    }
    const id = this.vectors.length;
    this.vectors.push(v);
    if (bucket) bucket.push(id);
    else this.byHash.set(h, [id]);
    return id;
  }

  all(): readonly Float64Array[] {
    return this.vectors;
  }

  get(id: number): Float64Array {
    const v = this.vectors[id];
    if (!v) throw new Error(`no constant ${id}`);
    return v;
  }
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function shortestPeriod(values: Float64Array): Float64Array {
  let len = values.length;
  while (len > 1) {
    const half = len / 2;
    let periodic = true;
    for (let i = 0; i < half && periodic; i++) periodic = Object.is(values[i], values[i + half]);
    if (!periodic) break;
    len = half;
  }
  return values.slice(0, len);
}

function sameValues(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function hashOf(v: Float64Array): number {
  const words = new Uint32Array(v.buffer, v.byteOffset, v.length * 2);
  let h = 0x811c9dc5 ^ v.length;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
  return h >>> 0;
}
