/**
 * What the plan search may remember for one compile. It plans the same stages again for every mask
 * width σ that `--mask-bits auto` tries (pipeline/steps/mask-search.ts), and neither lowering nor
 * the uncut body's build depends on σ: only the segmented plans' parameters and mask room do. A hit
 * needs the very same stage objects (by identity, in order) and the same lowering or parameter
 * options, so a segment whose stages were rewritten (a residual read renumbered) is simply built
 * again.
 */
import type { ApproxStage } from '../chain/stages';
import type { Circuit, Layout } from '../circuit/ir';
import { lowerChain, type LowerOptions } from '../circuit/lower';
import type { LayoutBuild, Objective, ParameterOptions } from './build-layout';

export type ChainLowerer = (stages: readonly ApproxStage[], options: LowerOptions) => Circuit;

export interface PlanMemo {
  readonly lowerChain: ChainLowerer;
  /** The body as one circuit: `build()` once per stages, layout, objective and parameter options (σ aside). */
  uncut(stages: readonly ApproxStage[], layout: Layout, options: ParameterOptions, objective: Objective, build: () => LayoutBuild): LayoutBuild;
}

export function planMemo(): PlanMemo {
  const ids = new WeakMap<ApproxStage, number>();
  let nextId = 0;
  const idOf = (s: ApproxStage): number => {
    let id = ids.get(s);
    if (id === undefined) ids.set(s, (id = nextId++));
    return id;
  };
  const stagesKey = (stages: readonly ApproxStage[]): string => stages.map(idOf).join(',');
  const circuits = new Map<string, Circuit>();
  const builds = new Map<string, LayoutBuild>();
  return {
    lowerChain: (stages, options) => {
      // A custom evaluator is a function: no key names it, so it is never remembered.
      if (options.evaluatePoly !== undefined) return lowerChain(stages, options);
      const key = `${stagesKey(stages)}|${options.layout}|${options.slots}|${options.rotationKeys ?? ''}`;
      let circuit = circuits.get(key);
      if (!circuit) circuits.set(key, (circuit = lowerChain(stages, options)));
      return circuit;
    },
    uncut: (stages, layout, options, objective, build) => {
      const { memo: _memo, maskBits: _maskBits, ...rest } = options;
      const key = `${stagesKey(stages)}|${layout}|${objective}|${JSON.stringify(rest)}`;
      let made = builds.get(key);
      if (!made) builds.set(key, (made = build()));
      return made;
    },
  };
}
