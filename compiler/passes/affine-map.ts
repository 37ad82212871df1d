/**
 * The two representations of affine maps the passes work with:
 *  - a `LocalMap`: what one operator does to its encrypted inputs, as sparse rows (Conv, Pad and
 *    pooling touch few inputs per output; Gemm is simply a full row) plus a bias;
 *  - a `HeadMap`: a value expressed as W·h + b of the chain's current head h (the body input or
 *    the output of the latest activation), dense, with the identity kept implicit.
 * Composing a LocalMap with the HeadMaps of its inputs costs nnz(local) × |h|, so sparse operators
 * stay cheap even when the accumulated map is dense.
 *
 * Before → after (composeLocal: a LocalMap over the HeadMaps of its inputs):
 *   y = x0 + x2 (rows [0: 1], [2: 1])   over   x = W·h + b
 *   y = (W[0] + W[2])·h + (b[0] + b[2])
 */

/** One operator's map. Columns index the concatenation of its encrypted inputs, in `inSizes` order. */
export interface LocalMap {
  readonly outSize: number;
  readonly inSizes: readonly number[];
  /** CSR: row i's entries are cols/coefs[rowStart[i] .. rowStart[i+1]). */
  readonly rowStart: Int32Array;
  readonly cols: Int32Array;
  readonly coefs: Float64Array;
  /** null: no bias. */
  readonly bias: Float64Array | null;
}

/** Builds a LocalMap row by row; rows must be filled in increasing order. */
export class LocalMapBuilder {
  private readonly rowStart: Int32Array;
  private cols = new Int32Array(64);
  private coefs = new Float64Array(64);
  private count = 0;
  private row = 0;
  private biasValues: Float64Array | null = null;

  constructor(
    readonly outSize: number,
    readonly inSizes: readonly number[],
  ) {
    this.rowStart = new Int32Array(outSize + 1);
  }

  /** Adds coef·x[col] to output `row`. Exact zeros are dropped: they are not work. */
  add(row: number, col: number, coef: number): void {
    if (row < this.row) throw new RangeError(`LocalMapBuilder: row ${row} after row ${this.row}`);
    while (this.row < row) this.rowStart[++this.row] = this.count;
    if (coef === 0) return;
    if (this.count === this.cols.length) this.grow();
    this.cols[this.count] = col;
    this.coefs[this.count] = coef;
    this.count++;
  }

  addBias(row: number, value: number): void {
    if (value === 0) return;
    this.biasValues ??= new Float64Array(this.outSize);
    this.biasValues[row]! += value;
  }

  build(): LocalMap {
    while (this.row < this.outSize) this.rowStart[++this.row] = this.count;
    return {
      outSize: this.outSize,
      inSizes: this.inSizes,
      rowStart: this.rowStart,
      cols: this.cols.slice(0, this.count),
      coefs: this.coefs.slice(0, this.count),
      bias: this.biasValues,
    };
  }

  private grow(): void {
    const cols = new Int32Array(this.cols.length * 2);
    cols.set(this.cols);
    this.cols = cols;
    const coefs = new Float64Array(this.coefs.length * 2);
    coefs.set(this.coefs);
    this.coefs = coefs;
  }
}

/** A value as an affine function of the chain head: y = W·h + b, W row-major [size × headSize]. */
export interface HeadMap {
  readonly size: number;
  readonly headSize: number;
  /** null: the identity (size === headSize). */
  readonly weights: Float64Array | null;
  /** null: zero. */
  readonly bias: Float64Array | null;
}

export function identityMap(size: number): HeadMap {
  return { size, headSize: size, weights: null, bias: null };
}

/** The map of `local` applied to values whose own maps are `inputs` (all over the same head). */
export function composeLocal(local: LocalMap, inputs: readonly HeadMap[]): HeadMap {
  if (inputs.length !== local.inSizes.length) throw new RangeError(`composeLocal: ${inputs.length} inputs for ${local.inSizes.length}`);
  const headSize = inputs[0]!.headSize;
  const offsets: number[] = [];
  let total = 0;
  inputs.forEach((m, k) => {
    if (m.size !== local.inSizes[k]) throw new RangeError(`composeLocal: input ${k} has ${m.size} values, the map expects ${local.inSizes[k]}`);
    if (m.headSize !== headSize) throw new RangeError('composeLocal: inputs over different heads');
    offsets.push(total);
    total += m.size;
  });
  const weights = new Float64Array(local.outSize * headSize);
  const bias = new Float64Array(local.outSize);
  let hasBias = local.bias !== null;
  if (local.bias) bias.set(local.bias);
  for (let i = 0; i < local.outSize; i++) {
    const out = i * headSize;
    for (let e = local.rowStart[i]!; e < local.rowStart[i + 1]!; e++) {
      const col = local.cols[e]!;
      const coef = local.coefs[e]!;
      let k = 0;
      while (k + 1 < offsets.length && col >= offsets[k + 1]!) k++;
      const j = col - offsets[k]!;
      const m = inputs[k]!;
      if (m.weights === null) weights[out + j]! += coef;
      else {
        const row = j * headSize;
        for (let c = 0; c < headSize; c++) weights[out + c]! += coef * m.weights[row + c]!;
      }
      if (m.bias !== null) {
        bias[i]! += coef * m.bias[j]!;
        hasBias = true;
      }
    }
  }
  return { size: local.outSize, headSize, weights, bias: hasBias ? bias : null };
}

/**
 * `m`, a map over the concatenation of heads `from`, as a map over the concatenation of heads `to`
 * (a superset, both ascending), with zero columns for the heads it does not read. Unchanged when
 * the two lists are equal.
 */
export function widenMap(m: HeadMap, from: readonly number[], to: readonly number[], headSizes: readonly number[]): HeadMap {
  if (from.length === to.length) return m;
  const width = to.reduce((n, h) => n + headSizes[h]!, 0);
  const dense = denseWeights(m);
  const weights = new Float64Array(m.size * width);
  let src = 0;
  for (const h of from) {
    const at = to.slice(0, to.indexOf(h)).reduce((n, g) => n + headSizes[g]!, 0);
    const size = headSizes[h]!;
    for (let i = 0; i < m.size; i++) weights.set(dense.subarray(i * m.headSize + src, i * m.headSize + src + size), i * width + at);
    src += size;
  }
  return { size: m.size, headSize: width, weights, bias: m.bias };
}

/** Dense weights of a map (the identity materialised). */
export function denseWeights(m: HeadMap): Float64Array {
  if (m.weights) return m.weights;
  const w = new Float64Array(m.size * m.headSize);
  for (let i = 0; i < m.size; i++) w[i * m.headSize + i] = 1;
  return w;
}

export function isIdentity(m: HeadMap): boolean {
  if (m.size !== m.headSize) return false;
  if (m.bias && m.bias.some((v) => v !== 0)) return false;
  if (!m.weights) return true;
  for (let i = 0; i < m.size; i++) {
    for (let j = 0; j < m.headSize; j++) if (m.weights[i * m.headSize + j] !== (i === j ? 1 : 0)) return false;
  }
  return true;
}
