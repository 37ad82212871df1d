import { nextPowerOfTwo } from './constant-table';

/**
 * The Halevi–Shoup diagonal plan for y = M·x with baby-step giant-step rotations, for any m×n.
 *
 * M is zero-padded to m'×n' (next powers of two) and x is replicated with period n'. We work over
 * one period p = max(m', n') and use d = min(m', n') generalised diagonals
 *   diag_i[j] = M[j mod m'][(j + i) mod n'],   j ∈ [0, p), i ∈ [0, d)
 * so Σ_i diag_i ⊙ rot(x, i) holds at slot j the partial row sum of row j mod m' over the columns
 * j, j+1, …, j+d−1 (mod n'). For m' ≥ n' that is the whole row; for squat m' < n' the partial sums
 * of one row sit m' slots apart and log2(n'/m') rotate-and-add folds (by m', 2m', …) finish them.
 * Either way the result comes out replicated with period m', the layout the next layer reads.
 *
 * Baby-step giant-step: i = g·j + b, y = Σ_j rot(Σ_b diag'_{g·j+b} ⊙ rot(x, b), g·j) with the
 * diagonals pre-rotated in the clear, diag'_i = rot(diag_i, −g·j). All-zero diagonals are skipped,
 * and so are the baby steps and giant groups that only zero diagonals would need.
 */
export interface MatVecPlan {
  readonly rows: number;
  readonly cols: number;
  readonly rowsPadded: number;
  readonly colsPadded: number;
  /** Period the diagonals and the product live in: max(rowsPadded, colsPadded). */
  readonly period: number;
  readonly diagonalCount: number;
  /** Which diagonals have a nonzero entry (an all-zero matrix uses none; the lowering handles it). */
  readonly used: readonly boolean[];
  /** g: diagonals per giant step. */
  readonly babyStep: number;
  /** Baby rotations of the input actually needed (nonzero steps b ∈ [1, g)). */
  readonly babyRotations: readonly number[];
  /** Giant rotations of partial sums actually needed (steps g·j, j ≥ 1). */
  readonly giantRotations: readonly number[];
  /** Fold steps m', 2m', …, n'/2 (empty unless m' < n'). */
  readonly foldSteps: readonly number[];
  /** Rotations the plan performs: baby + giant + fold. */
  readonly rotations: number;
}

export function planMatVec(weights: Float64Array, rows: number, cols: number, forceBabyStep?: number): MatVecPlan {
  if (weights.length !== rows * cols) throw new Error(`weights hold ${weights.length} values, not ${rows}×${cols}`);
  const rowsPadded = nextPowerOfTwo(rows);
  const colsPadded = nextPowerOfTwo(cols);
  const period = Math.max(rowsPadded, colsPadded);
  const diagonalCount = Math.min(rowsPadded, colsPadded);
  const used = new Array<boolean>(diagonalCount).fill(false);
  // Entry (r, c) lies on diagonal (c − r) mod n' whenever that index is < d; scanning the nonzero
  // entries is cheaper than building every diagonal.
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (weights[r * cols + c] === 0) continue;
      // Slot j = r + k·m' (for any k with j < p) reads column (j + i) mod n' = c.
      for (let j = r; j < period; j += rowsPadded) {
        const i = (((c - j) % colsPadded) + colsPadded) % colsPadded;
        if (i < diagonalCount) used[i] = true;
      }
    }
  }

  const babyStep = forceBabyStep ?? bestBabyStep(used);
  const { baby, giant } = rotationsFor(used, babyStep);
  const foldSteps: number[] = [];
  for (let s = rowsPadded; s < colsPadded; s *= 2) foldSteps.push(s);
  return {
    rows,
    cols,
    rowsPadded,
    colsPadded,
    period,
    diagonalCount,
    used,
    babyStep,
    babyRotations: baby,
    giantRotations: giant,
    foldSteps,
    rotations: baby.length + giant.length + foldSteps.length,
  };
}

/** diag_i over one period, pre-rotated left by `preRotate` (in the clear). */
export function diagonal(
  weights: Float64Array,
  plan: Pick<MatVecPlan, 'rows' | 'cols' | 'rowsPadded' | 'colsPadded' | 'period'>,
  i: number,
  preRotate: number,
): Float64Array {
  const { rows, cols, rowsPadded, colsPadded, period } = plan;
  const out = new Float64Array(period);
  for (let t = 0; t < period; t++) {
    const j = (((t + preRotate) % period) + period) % period;
    const r = j % rowsPadded;
    const c = (j + i) % colsPadded;
    if (r < rows && c < cols) out[t] = weights[r * cols + c]!;
  }
  return out;
}

function rotationsFor(used: readonly boolean[], g: number): { baby: number[]; giant: number[] } {
  const baby = new Set<number>();
  const giant = new Set<number>();
  used.forEach((u, i) => {
    if (!u) return;
    if (i % g !== 0) baby.add(i % g);
    if (i >= g) giant.add(Math.floor(i / g) * g);
  });
  return { baby: [...baby].sort((a, b) => a - b), giant: [...giant].sort((a, b) => a - b) };
}

/** The g with the fewest rotations; ties go to a power of two (shared keys across layers), then smaller g. */
function bestBabyStep(used: readonly boolean[]): number {
  let best = 1;
  let bestCost = Infinity;
  let bestPow2 = false;
  for (let g = 1; g <= used.length; g++) {
    const { baby, giant } = rotationsFor(used, g);
    const cost = baby.length + giant.length;
    const pow2 = (g & (g - 1)) === 0;
    if (cost < bestCost || (cost === bestCost && pow2 && !bestPow2)) {
      best = g;
      bestCost = cost;
      bestPow2 = pow2;
    }
  }
  return best;
}
