/**
 * Compile step 5: the approximated chain → one circuit with its parameters per layout asked for
 * (see build-layout), and the choice among them. Layout `auto` lowers both layouts and keeps, for
 * objective `latency`, the one with the lower estimated latency of one prediction (one circuit
 * run, client encryption and decryption included), and for `throughput` the one with more
 * estimated samples per second (samples per evaluation over that latency); a layout that cannot
 * fit (a vector layer wider than N/2) leaves the other.
 */
import type { ApproxStage } from '../../chain/stages';
import { samplesPerEvaluation } from '../../circuit/packing';
import { buildLayout, type LayoutBuild, type Objective, type ParameterOptions } from '../build-layout';
import type { CompileStep, LayoutRequest } from '../compile';
import { chooseAmongLayouts, layoutReasonOf } from './layout-chooser';

export interface LayoutChoice {
  readonly build: LayoutBuild;
  /** Every layout that was lowered, with its cost. */
  readonly candidates: readonly LayoutBuild[];
  readonly layoutReason: string;
}

export function chooseLayout(
  stages: readonly ApproxStage[],
  request: LayoutRequest,
  parameters: ParameterOptions,
  progress: (step: CompileStep) => void,
  objective: Objective = 'latency',
): LayoutChoice {
  const cost = objective === 'latency' ? (b: LayoutBuild): number => b.latency.totalMs : (b: LayoutBuild): number => -samplesPerSecond(b);
  const c = chooseAmongLayouts(request, parameters, progress, (layout, p) => buildLayout(stages, layout, p, objective), cost);
  const layoutReason =
    objective === 'throughput'
      ? layoutReasonOf(request, c, 'more estimated samples per second', (b) => `${b.layout} ${samplesPerSecond(b).toFixed(0)} samples/s (${samplesPerEvaluation(b.circuit)} per evaluation) at N=${b.params.polyModulusDegree}`)
      : layoutReasonOf(request, c, 'lower estimated latency of one prediction', (b) => `${b.layout} ${b.latency.totalMs.toFixed(0)} ms at N=${b.params.polyModulusDegree}`);
  return { build: c.chosen, candidates: c.candidates, layoutReason };
}

/** Estimated samples per second of one layout: a full evaluation's samples over its latency. */
function samplesPerSecond(b: LayoutBuild): number {
  return (1000 * samplesPerEvaluation(b.circuit)) / b.latency.totalMs;
}
