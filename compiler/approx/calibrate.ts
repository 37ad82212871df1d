/**
 * Calibration: the encrypted body run in float64 (exact activations) on calibration rows, recording
 * what each activation sees. The approximation stage fits each polynomial on the recorded input
 * range (widened by a margin); reports show how much test data later falls outside those ranges,
 * the main accuracy risk of a CKKS model.
 */
import { fail } from '../errors';
import type { NumericTensor } from '../graph/tensor';
import { activationLabel, paramsOf, type ActivationUse } from '../activations/registry';
import { stageOutSize, type SplitModel, type Stage } from '../chain/stages';
import { applyStage, runPrologue } from '../chain/run';
import { evaluateStages, finalOutput } from '../chain/stage-graph';
import { rowFunctionLabel, rowStatistic } from '../chain/rowwise';

export interface ValueStats {
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly std: number;
  /** Number of values seen (rows × units). */
  readonly count: number;
}

export interface ActivationRange extends ValueStats, ActivationUse {
  /** Index of the activation in `split.body`. */
  readonly stage: number;
  readonly sources: readonly string[];
  readonly size: number;
  /** [min, max] over all rows and units: the range a polynomial must cover. */
  readonly range: readonly [number, number];
  /** Per unit (entry of the activation's input vector) minimum and maximum over the rows. */
  readonly unitMin: Float64Array;
  readonly unitMax: Float64Array;
}

/** A row-wise stage (Softmax, LayerNorm) on the calibration rows: what its polynomials are planned from. */
export interface RowRange {
  /** Index of the stage in `split.body`. */
  readonly stage: number;
  readonly sources: readonly string[];
  /** Smallest and largest input value. */
  readonly values: readonly [number, number];
  /** Smallest and largest per-row statistic (chain/rowwise.ts rowStatistic: log Σ exp for Softmax, the variance for LayerNorm). */
  readonly statistic: readonly [number, number];
}

export interface Calibration {
  readonly rows: number;
  readonly activations: readonly ActivationRange[];
  /** Row-wise stages, in body order; absent when there are none (artifacts written before them). */
  readonly rowStages?: readonly RowRange[];
  /** What the body outputs (the values the client decrypts): sizes the output precision. */
  readonly output: ValueStats;
}

class Accumulator {
  min = Infinity;
  max = -Infinity;
  sum = 0;
  sumSq = 0;
  count = 0;
  readonly unitMin: Float64Array;
  readonly unitMax: Float64Array;

  constructor(size: number) {
    this.unitMin = new Float64Array(size).fill(Infinity);
    this.unitMax = new Float64Array(size).fill(-Infinity);
  }

  add(x: Float64Array, where: string): void {
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (!Number.isFinite(v)) fail('BAD_DATA', `calibration: ${where} unit ${i} is ${v}`);
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
      if (v < this.unitMin[i]!) this.unitMin[i] = v;
      if (v > this.unitMax[i]!) this.unitMax[i] = v;
      this.sum += v;
      this.sumSq += v * v;
    }
    this.count += x.length;
  }

  stats(): ValueStats {
    const mean = this.count > 0 ? this.sum / this.count : 0;
    const variance = this.count > 0 ? Math.max(0, this.sumSq / this.count - mean * mean) : 0;
    return { min: this.min, max: this.max, mean, std: Math.sqrt(variance), count: this.count };
  }
}

/** Calibrates a body given as stages on already-prepared body-input vectors (one per row). */
export function calibrateStages(stages: readonly Stage[], vectors: readonly Float64Array[]): Calibration {
  if (vectors.length === 0) fail('BAD_DATA', 'calibration needs at least one row');
  const accs = stages.map((s) => (s.kind === 'activation' ? new Accumulator(s.size) : undefined));
  const rowAccs = stages.map((s) => (s.kind === 'rowwise' ? { values: [Infinity, -Infinity], statistic: [Infinity, -Infinity] } : undefined));
  const out = new Accumulator(stages.length > 0 ? outSizeOf(stages[stages.length - 1]!) : vectors[0]!.length);
  vectors.forEach((v, r) => {
    const outputs = evaluateStages(stages, v, (s, x, i) => {
      accs[i]?.add(x, `row ${r}, input of ${s.kind === 'activation' ? activationLabel(s) : 'stage'} ${i}`);
      const rows = rowAccs[i];
      if (rows && s.kind === 'rowwise') {
        for (const v of x) {
          if (!Number.isFinite(v)) fail('BAD_DATA', `calibration: row ${r}, input of ${rowFunctionLabel(s.fn)} stage ${i} is ${v}`);
          rows.values = [Math.min(rows.values[0]!, v), Math.max(rows.values[1]!, v)];
        }
        for (let start = 0; start < x.length; start += s.rowLength) {
          const t = rowStatistic(s.fn, x.subarray(start, start + s.rowLength));
          rows.statistic = [Math.min(rows.statistic[0]!, t), Math.max(rows.statistic[1]!, t)];
        }
      }
      return applyStage(s, x);
    });
    out.add(finalOutput(outputs, v), `row ${r}, body output`);
  });
  const activations: ActivationRange[] = [];
  stages.forEach((s, i) => {
    const acc = accs[i];
    if (!acc || s.kind !== 'activation') return;
    const st = acc.stats();
    activations.push({ ...st, stage: i, fn: s.fn, ...paramsOf(s), sources: s.sources, size: s.size, range: [st.min, st.max], unitMin: acc.unitMin, unitMax: acc.unitMax });
  });
  const rowStages: RowRange[] = stages.flatMap((s, i) => {
    const a = rowAccs[i];
    return a ? [{ stage: i, sources: s.sources, values: a.values as [number, number], statistic: a.statistic as [number, number] }] : [];
  });
  return { rows: vectors.length, activations, output: out.stats(), ...(rowStages.length > 0 ? { rowStages } : {}) };
}

function outSizeOf(s: Stage): number {
  return stageOutSize(s);
}

/** Calibrates a split model on input rows (a [rows, …input shape] tensor): prologue, then the body. */
export function calibrate(split: SplitModel, input: NumericTensor): Calibration {
  return calibrateStages(split.body, runPrologue(split, input));
}

export interface RangeCoverage {
  readonly stage: number;
  readonly range: readonly [number, number];
  /** Values (rows × units) outside the range, and their share of all values. */
  readonly valuesOutside: number;
  readonly valueShare: number;
  /** Rows with at least one unit outside the range, and their share of all rows. */
  readonly rowsOutside: number;
  readonly rowShare: number;
  /** The farthest any value lies outside the range (0 when none does). */
  readonly worstExcess: number;
}

/**
 * How much of some data falls outside given activation ranges (e.g. the fitted ones), per
 * activation stage. `ranges` maps a stage index of `stages` to its range. The data flows through
 * the exact body, so the numbers describe the inputs the polynomials would see if they were exact.
 */
export function rangeCoverage(stages: readonly Stage[], vectors: readonly Float64Array[], ranges: ReadonlyMap<number, readonly [number, number]>): RangeCoverage[] {
  for (const i of ranges.keys()) {
    if (stages[i]?.kind !== 'activation') fail('BAD_ARGUMENT', `stage ${i} is not an activation`);
  }
  const outside = new Map<number, { values: number; rows: number; worst: number }>([...ranges.keys()].map((i) => [i, { values: 0, rows: 0, worst: 0 }]));
  for (const v of vectors) {
    evaluateStages(stages, v, (s, x, i) => {
      const range = ranges.get(i);
      if (range) {
        const o = outside.get(i)!;
        let hit = false;
        for (const value of x) {
          const excess = value < range[0] ? range[0] - value : value > range[1] ? value - range[1] : 0;
          if (excess > 0) {
            o.values++;
            hit = true;
            if (excess > o.worst) o.worst = excess;
          }
        }
        if (hit) o.rows++;
      }
      return applyStage(s, x);
    });
  }
  return [...ranges.entries()].map(([stage, range]) => {
    const o = outside.get(stage)!;
    const size = (stages[stage] as { size: number }).size;
    const total = vectors.length * size;
    return {
      stage,
      range,
      valuesOutside: o.values,
      valueShare: total > 0 ? o.values / total : 0,
      rowsOutside: o.rows,
      rowShare: vectors.length > 0 ? o.rows / vectors.length : 0,
      worstExcess: o.worst,
    };
  });
}

/** rangeCoverage on input rows of a split model. */
export function splitRangeCoverage(split: SplitModel, input: NumericTensor, ranges: ReadonlyMap<number, readonly [number, number]>): RangeCoverage[] {
  return rangeCoverage(split.body, runPrologue(split, input), ranges);
}
