import type { ApproxStage } from '../passes/chain';
import { costsFor, countOps, estimateLatency, type LatencyEstimate, type OpCosts } from './count';
import type { Circuit, Layout } from './ir';
import { lowerChain, type PolyEvaluator } from './lower';
import { vectorSlotsNeeded } from './layout-vector';

export interface LayoutChoiceOptions {
  /** N/2 of the intended parameters. */
  readonly slots: number;
  /** Ring degree the costs are read at (default 2·slots). */
  readonly ringDegree?: number;
  /** Samples a typical request carries (default 1: latency of a single prediction). */
  readonly samples?: number;
  readonly costs?: OpCosts;
  readonly evaluatePoly?: PolyEvaluator;
}

export interface LayoutCandidate {
  readonly layout: Layout;
  /** Null when the layout cannot hold the chain at this slot count. */
  readonly circuit: Circuit | null;
  readonly reason?: string;
  /** Circuit runs needed for `samples` samples. */
  readonly evaluations: number;
  readonly perEvaluation: LatencyEstimate | null;
  /** Client + server time for all samples. */
  readonly totalMs: number;
}

export interface LayoutChoice {
  readonly layout: Layout;
  readonly circuit: Circuit;
  readonly candidates: readonly LayoutCandidate[];
}

/**
 * Lowers the chain in both layouts and keeps the cheaper one for `samples` samples: vector runs
 * once per sample, batch once per N/2 samples but encrypts one ciphertext per feature. Costs are
 * op counts of the actual circuits × per-op costs (count.ts).
 */
export function chooseLayout(stages: readonly ApproxStage[], options: LayoutChoiceOptions): LayoutChoice {
  const samples = Math.max(1, options.samples ?? 1);
  const n = options.ringDegree ?? 2 * options.slots;
  const costs = options.costs ?? costsFor(n);
  const candidates = (['vector', 'batch'] as const).map((layout): LayoutCandidate => {
    if (layout === 'vector' && vectorSlotsNeeded(stages) > options.slots) {
      return {
        layout,
        circuit: null,
        reason: `needs ${vectorSlotsNeeded(stages)} slots, ${options.slots} available`,
        evaluations: samples,
        perEvaluation: null,
        totalMs: Infinity,
      };
    }
    const circuit = lowerChain(stages, { layout, slots: options.slots, evaluatePoly: options.evaluatePoly });
    const perEvaluation = estimateLatency(countOps(circuit), n, costs);
    const evaluations = layout === 'vector' ? samples : Math.ceil(samples / options.slots);
    return { layout, circuit, evaluations, perEvaluation, totalMs: evaluations * perEvaluation.totalMs };
  });
  const best = candidates.reduce((a, b) => (b.totalMs < a.totalMs ? b : a));
  return { layout: best.layout, circuit: best.circuit!, candidates };
}

/** The circuit for a forced layout, or the cost model's pick for 'auto'. */
export function lowerWithLayout(stages: readonly ApproxStage[], layout: Layout | 'auto', options: LayoutChoiceOptions): LayoutChoice {
  if (layout === 'auto') return chooseLayout(stages, options);
  const circuit = lowerChain(stages, { layout, slots: options.slots, evaluatePoly: options.evaluatePoly });
  return { layout, circuit, candidates: [] };
}
