/**
 * Activation stages → polynomial stages on their calibrated ranges, with the range normalisation
 * t = (2x − lo − hi)/(hi − lo) folded into the affine map before each polynomial, so the circuit
 * evaluates Σ c_k T_k(t) on t ∈ [−1, 1] and the normalisation costs no level.
 */
import { rowPlan } from './row-plans';
import type { Range } from './chebyshev';
import { DEFAULT_MARGIN, fitActivation, widenRange, type Fit, type FitMethod } from './fit';
import { fail } from '../errors';
import { activationRecord, paramsOf, type ActivationUse } from '../activations/registry';
import type { AffineStage, ApproxStage, PolyStage, RowRanges, Stage } from '../chain/stages';
import type { Calibration } from './calibrate';
import { BODY_INPUT } from '../chain/stage-graph';
import { rowFunctionLabel } from '../chain/rowwise';
import { isStepStage } from '../chain/step-stages';
import { UNIT_RANGE, type UnitBounds } from './unit-scaling';

export interface ApproximationOptions {
  /**
   * One degree for every activation (exclusive with maxError). Without either, each activation
   * gets its registry record's default degree; compile does not come here so by default: its
   * default is degree 'auto' (degree-choice), which tries 3 … 127 on the calibration rows.
   */
  readonly degree?: number;
  /** Smallest 2^k − 1 degree whose max error on the range is ≤ this (exclusive with degree). */
  readonly maxError?: number;
  readonly method?: FitMethod;
  /** Calibrated ranges are widened to centre ± margin·half-width (default DEFAULT_MARGIN). */
  readonly margin?: number;
}

export interface ChainApproximationOptions extends ApproximationOptions {
  /**
   * Activations whose units the chain already rescaled (see unit-scaling): fitted on [−1, 1]
   * rather than on their widened calibrated range, with the divisors recorded.
   */
  readonly unitBounds?: UnitBounds;
}

/** One fitted activation, for the manifest and the report. */
export interface FittedActivation extends ActivationUse {
  /** Position of the polynomial stage in the approximated chain. */
  readonly stage: number;
  readonly sources: readonly string[];
  readonly size: number;
  /** Input range seen on the calibration rows. */
  readonly calibratedRange: Range;
  /** The range the polynomial is fitted on (calibrated range widened by the margin, or [−1, 1] for unit-scaled ones). */
  readonly range: Range;
  /** Per-unit divisors B_i folded into the neighbouring affine maps; absent for a per-layer range. */
  readonly unitBounds?: Float64Array;
  readonly margin: number;
  /** The method asked for, and the one that produced the coefficients (Remez may fall back). */
  readonly requestedMethod: FitMethod;
  readonly method: FitMethod;
  readonly degree: number;
  readonly maxError: number;
  readonly note?: string;
}

export interface ApproximatedChain {
  readonly stages: ApproxStage[];
  readonly approximations: FittedActivation[];
}

export function approximateChain(body: readonly Stage[], calibration: Calibration, options: ChainApproximationOptions = {}): ApproximatedChain {
  if (options.degree !== undefined && options.maxError !== undefined) fail('BAD_ARGUMENT', 'give --degree or --max-error, not both');
  const margin = options.margin ?? DEFAULT_MARGIN;
  const method = options.method ?? 'chebyshev';
  const stages: ApproxStage[] = [];
  const approximations: FittedActivation[] = [];
  // Normalisation may insert a stage, so a DAG's reads are renumbered to the new positions.
  const position: number[] = [];
  const renumber = (r: number): number => (r === BODY_INPUT ? r : position[r]!);
  const renumbered = (reads: readonly number[] | undefined): { reads?: readonly number[] } => (reads ? { reads: reads.map(renumber) } : {});
  body.forEach((stage, k) => {
    if (stage.kind === 'affine') {
      stages.push(stage.reads ? { ...stage, ...renumbered(stage.reads) } : stage);
      position[k] = stages.length - 1;
      return;
    }
    if (isStepStage(stage) || stage.kind === 'product') {
      stages.push(stage.kind === 'product' ? { ...stage, reads: [renumber(stage.reads[0]), renumber(stage.reads[1])] } : stage);
      position[k] = stages.length - 1;
      return;
    }
    if (stage.kind === 'rowwise') {
      const measured = calibration.rowStages?.find((a) => a.stage === k);
      if (!measured) fail('BAD_ARGUMENT', `no calibrated ranges for ${rowFunctionLabel(stage.fn)} stage ${k} (${stage.sources.join(', ')})`);
      const [lo, hi] = measured.values;
      const ranges: RowRanges =
        stage.fn.kind === 'softmax'
          ? { kind: 'softmax', scores: [lo, hi], sums: [Math.exp(measured.statistic[0] - hi), Math.exp(measured.statistic[1] - hi)] }
          : { kind: 'layernorm', variance: measured.statistic };
      const rowpoly = { kind: 'rowpoly', sources: stage.sources, fn: stage.fn, size: stage.size, rowLength: stage.rowLength, ranges } as const;
      // A Softmax is a stage per part (its exps, then each division round of its plan), a
      // LayerNorm with a prescale two (the prescale, the normalisation), so a refresh may cut between them.
      const plan = rowPlan(rowpoly);
      if (plan.kind === 'softmax') {
        stages.push({ ...rowpoly, part: 'exps' }, ...plan.plan.rounds.map((_r, round) => ({ ...rowpoly, part: { round } })));
      } else if (plan.plan.prescale) stages.push({ ...rowpoly, part: { round: 0 } }, { ...rowpoly, part: { round: 1 } });
      else stages.push(rowpoly);
      position[k] = stages.length - 1;
      return;
    }
    const calibrated = calibration.activations.find((a) => a.stage === k)?.range;
    if (!calibrated) fail('BAD_ARGUMENT', `no calibrated range for activation stage ${k} (${stage.sources.join(', ')})`);
    const unitBounds = options.unitBounds?.get(k);
    const range = unitBounds ? UNIT_RANGE : widenRange(calibrated, margin);
    const fit: Fit = fitActivation({
      fn: stage.fn,
      ...paramsOf(stage),
      range,
      method,
      ...(options.maxError !== undefined
        ? { maxError: options.maxError }
        : { degree: method === 'square' ? 2 : (options.degree ?? activationRecord(stage.fn).defaultDegree) }),
    });
    normaliseInto(stages, stage.size, range, stage.sources);
    const poly: PolyStage = {
      kind: 'poly',
      sources: stage.sources,
      fn: stage.fn,
      ...paramsOf(stage),
      size: stage.size,
      range,
      method: fit.method,
      chebyshev: fit.chebyshev,
      degree: fit.degree,
      maxError: fit.maxError,
    };
    approximations.push({
      stage: stages.length,
      sources: stage.sources,
      fn: stage.fn,
      ...paramsOf(stage),
      size: stage.size,
      calibratedRange: calibrated,
      range,
      margin,
      requestedMethod: method,
      method: fit.method,
      degree: fit.degree,
      maxError: fit.maxError,
      ...(unitBounds ? { unitBounds } : {}),
      ...(fit.note !== undefined ? { note: fit.note } : {}),
    });
    stages.push(poly);
    position[k] = stages.length - 1;
  });
  return { stages, approximations };
}

/**
 * Makes the last stage of `stages` produce t = a·x + c instead of x, with a = 2/(hi − lo) and
 * c = −(lo + hi)/(hi − lo). A max pool right after an affine map passes the fold through: a > 0,
 * so max(a·x_i + c) = a·max(x_i) + c, and the map before the pool takes it (the pool is a client
 * step, so otherwise the normalisation would open the segment after it, a level more). When no
 * affine map precedes (an activation first in the chain, or right after another one), a diagonal
 * map is inserted: one ct×pt level that the fold avoids everywhere else.
 */
function normaliseInto(stages: ApproxStage[], size: number, [lo, hi]: Range, sources: readonly string[]): void {
  const a = 2 / (hi - lo);
  const c = -(lo + hi) / (hi - lo);
  const fold = (at: number): void => {
    const map = stages[at] as AffineStage;
    stages[at] = { ...map, weights: map.weights.map((w) => a * w), bias: map.bias.map((b) => a * b + c) };
  };
  const last = stages[stages.length - 1];
  if (last?.kind === 'affine') {
    fold(stages.length - 1);
    return;
  }
  const before = stages[stages.length - 2];
  const chain = !stages.some((s) => s.kind === 'affine' && s.reads !== undefined);
  if (last?.kind === 'maxpool' && before?.kind === 'affine' && chain && a > 0) {
    fold(stages.length - 2);
    return;
  }
  const weights = new Float64Array(size * size);
  for (let i = 0; i < size; i++) weights[i * size + i] = a;
  const scaling: AffineStage = {
    kind: 'affine',
    sources: [`range normalisation of ${sources.join(', ')}`],
    inSize: size,
    outSize: size,
    weights,
    bias: new Float64Array(size).fill(c),
  };
  stages.push(scaling);
}
