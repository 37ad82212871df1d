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
import { assignScales } from '../circuit/passes-scales';
import type { LayoutBuild, Objective, ParameterOptions } from './build-layout';

export type ChainLowerer = (stages: readonly ApproxStage[], options: LowerOptions) => Circuit;

export type Scaler = (circuit: Circuit, primes: readonly number[]) => Circuit;

export interface PlanMemo {
  readonly lowerChain: ChainLowerer;
  /** assignScales once per circuit and primes (the same segments are scaled again when a retry lands on the same parameters). */
  readonly assignScales: Scaler;
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
  const scaled = new WeakMap<Circuit, Map<string, Circuit>>();
  return {
    lowerChain: (stages, options) => {
      // A custom evaluator is a function: no key names it, so it is never remembered.
      if (options.evaluatePoly !== undefined) return lowerChain(stages, options);
      const base = `${stagesKey(stages)}|${options.layout}|${options.slots}`;
      // Rotation keys change only how rotations are spelled: a circuit with none (the batch
      // layout's) is the same whichever keys are asked for, so it is kept under no keys at all.
      const unrotated = circuits.get(`${base}|*`);
      if (unrotated) return unrotated;
      const key = `${base}|${options.rotationKeys ?? ''}`;
      let circuit = circuits.get(key);
      if (!circuit) {
        circuit = lowerChain(stages, options);
        circuits.set(circuit.rotationSteps.length === 0 ? `${base}|*` : key, circuit);
      }
      return circuit;
    },
    assignScales: (circuit, primes) => {
      let byPrimes = scaled.get(circuit);
      if (!byPrimes) scaled.set(circuit, (byPrimes = new Map()));
      const key = primes.join();
      let made = byPrimes.get(key);
      if (!made) byPrimes.set(key, (made = assignScales(circuit, primes)));
      return made;
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
