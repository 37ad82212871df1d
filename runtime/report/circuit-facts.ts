/**
 * What a compiled circuit costs, read off the circuit IR itself: op counts, depth per layer,
 * ciphertexts alive at once, plaintexts to pre-encode, key and ciphertext bytes, latency. Nothing
 * here is a separate estimate of the model; every count is a walk over `circuit.ops`.
 */
import { polyCost } from '../../compiler/approx/evaluate';
import { activationLabel } from '../../compiler/activations/registry';
import { bodyCircuits, lastCircuit } from '../../compiler/artifact/segments';
import type { CompiledModel } from '../../compiler/artifact/types';
import { clientStepBefore, describeClientSteps, stepKind } from '../../compiler/client-steps/table';
import { describeDishonestClient } from '../../compiler/client-steps/dishonest-client';
import { addCounts, countOps, estimateLatency, type LatencyEstimate, type OpCounts } from '../../compiler/circuit/count';
import type { Circuit } from '../../compiler/circuit/ir';
import { planMemory } from '../../compiler/plan/plan-memory';
import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import type { Stage } from '../../compiler/chain/stages';
import { rowFunctionLabel } from '../../compiler/chain/rowwise';
import { isChain } from '../../compiler/chain/stage-graph';
import { isStepStage, stepStageKind, type StepStageKindName } from '../../compiler/chain/step-stages';
import { parameterId } from '../../compiler/params/parameter-id';
import { ciphertextBytes, keySizes, type KeySizes, type RunMemoryEstimate } from '../../compiler/params/sizes';

export interface LayerDepth {
  /** Index in the encrypted chain (the exact body of the source model). */
  readonly stage: number;
  readonly kind: 'affine' | 'polynomial' | 'product' | 'rowwise' | StepStageKindName;
  readonly label: string;
  readonly sources: readonly string[];
  /**
   * Levels the layer consumes, and the level of its input and output ciphertexts. Null where the
   * stages alone do not say: a row-wise function the server evaluates (its polynomials are planned
   * from calibrated ranges the manifest does not keep), and every level of a body with branches
   * (its segments add selection and gathering maps of their own; the segments' depths are the circuit's).
   */
  readonly depth: number | null;
  readonly levelIn: number | null;
  readonly levelOut: number | null;
}

export interface DepthBreakdown {
  readonly total: number;
  readonly topLevel: number;
  /** Level of the result ciphertexts (read off the circuit's output ops). */
  readonly outputLevel: number;
  readonly layers: readonly LayerDepth[];
  /**
   * Whether the layers add up to the circuit's own depth and output level (they must, in a chain);
   * null for a body with branches or row-wise stages, whose per-layer levels the stages do not fix
   * (`total` is then the segments' depths, read off the circuits).
   */
  readonly consistent: boolean | null;
}

/**
 * Depth per layer: an affine map is one rescale in both layouts (plus one for the inserted
 * range normalisation of an activation no affine map precedes), a polynomial is what the
 * baby-step giant-step evaluator spends on its coefficients. The sum is checked against the
 * circuit's depth and output level.
 */
export function depthBreakdown(model: CompiledModel, body: readonly Stage[]): DepthBreakdown {
  const { circuit } = model;
  const last = lastCircuit(model);
  const outputLevel = Math.min(...last.ops.filter((op) => op.op === 'output').map((op) => op.level));
  const layers: LayerDepth[] = [];
  // A segmented body starts each segment at the top level again, less what the client step's unmasking spends.
  const starts = new Map(model.refresh?.segments.map((s) => [s.startStage, stepKind(clientStepBefore(s).kind).unmaskLevels]) ?? []);
  let level = circuit.topLevel;
  let poly = 0;
  // A body with branches (a transformer's residuals, attention's factors) or server-side row-wise
  // functions: each layer's own depth where the stage fixes it, no levels, total from the circuits.
  const levelled = isChain(body) && !body.some((s) => s.kind === 'rowwise');
  body.forEach((s, stage) => {
    const unmask = starts.get(stage);
    if (unmask !== undefined) level = circuit.topLevel - unmask;
    let depth: number | null;
    let label: string;
    if (s.kind === 'affine') {
      depth = 1;
      label = `affine ${s.inSize}→${s.outSize}`;
    } else if (s.kind === 'product') {
      depth = 1;
      label = `product ×${s.size} (ciphertext × ciphertext)`;
    } else if (s.kind === 'rowwise') {
      depth = null;
      label = `${rowFunctionLabel(s.fn)} ×${s.size} in rows of ${s.rowLength} (server: polynomials and Newton steps)`;
    } else if (isStepStage(s)) {
      depth = 0;
      label = `${stepStageKind(s).label(s)} (client step, ${stepStageKind(s).detail(s)})`;
    } else {
      const a = model.approximations[poly++];
      const normalisation = stage === 0 || body[stage - 1]!.kind !== 'affine' ? 1 : 0;
      depth = normalisation + (a ? polyCost(a.chebyshev).depth : 0);
      label = `${activationLabel(s)} ×${s.size} (degree ${a?.degree ?? '?'}${normalisation ? ', normalisation' : ''})`;
    }
    if (levelled && depth !== null) {
      layers.push({ stage, kind: s.kind === 'activation' ? 'polynomial' : s.kind, label, sources: s.sources, depth, levelIn: level, levelOut: level - depth });
      level -= depth;
    } else {
      layers.push({ stage, kind: s.kind === 'activation' ? 'polynomial' : s.kind, label, sources: s.sources, depth, levelIn: null, levelOut: null });
    }
  });
  const depth = bodyCircuits(model).reduce((sum, c) => sum + c.depth, 0);
  if (!levelled) return { total: depth, topLevel: circuit.topLevel, outputLevel, layers, consistent: null };
  const total = layers.reduce((sum, l) => sum + l.depth!, 0);
  return { total, topLevel: circuit.topLevel, outputLevel, layers, consistent: total === depth && level === outputLevel };
}

export interface CircuitFacts {
  readonly layout: Circuit['layout'];
  readonly parameterId: string;
  readonly counts: Omit<OpCounts, 'byLevel'>;
  /** Whether the counts recorded in the manifest equal the counts of its circuit. */
  readonly countsMatchManifest: boolean;
  readonly depth: DepthBreakdown;
  readonly sizes: {
    /** Seeded keys, as the client uploads them. */
    readonly keys: KeySizes;
    /** Fresh seeded input ciphertexts and result ciphertexts of one circuit run. */
    readonly inputCiphertext: number;
    readonly inputCiphertextsPerRun: number;
    readonly outputCiphertext: number;
    readonly outputCiphertextsPerRun: number;
  };
  readonly memory: RunMemoryEstimate & { readonly peakLiveCiphertexts: number };
  /** A refreshed body: segments, their depths and what the client sees at each step; null for one circuit. */
  readonly clientSteps: { readonly segmentDepths: readonly number[]; readonly clientSees: string; readonly dishonestClient: string } | null;
  readonly latency: {
    /** Every segment together (client steps' round trips not included). */
    readonly perRun: LatencyEstimate;
    readonly samplesPerRun: number;
    /** perRun / samplesPerRun: the amortised cost of one sample in a full run. */
    readonly perSampleMs: number;
  };
}

export function circuitFacts(model: CompiledModel, body: readonly Stage[]): CircuitFacts {
  const { circuit, parameters: params } = model;
  const circuits = bodyCircuits(model);
  const recorded = [model.cost.counts, ...(model.refresh?.segments.map((s) => s.cost.counts) ?? [])];
  const perCircuit = circuits.map((c) => countOps(c));
  const countsMatchManifest = perCircuit.every((c, i) => (Object.keys(c) as (keyof OpCounts)[]).every((k) => JSON.stringify(c[k]) === JSON.stringify(recorded[i]![k])));
  const { byLevel: _byLevel, ...counts } = perCircuit.reduce(addCounts);
  const depth = depthBreakdown(model, body);
  const relin = circuits.some((c) => c.ops.some((op) => op.op === 'relin'));
  const memory = planMemory(params, circuits);
  const perRun = perCircuit.map((c) => estimateLatency(c, params.polyModulusDegree)).reduce(addLatency);
  const samplesPerRun = samplesPerEvaluation(circuit);
  const last = circuits[circuits.length - 1]!;
  return {
    layout: circuit.layout,
    parameterId: parameterId(params),
    counts,
    countsMatchManifest,
    depth,
    sizes: {
      keys: keySizes(params, { seeded: true, relin }),
      inputCiphertext: ciphertextBytes(params, circuit.topLevel, { seeded: true }),
      inputCiphertextsPerRun: circuit.inputs.length,
      outputCiphertext: ciphertextBytes(params, depth.outputLevel),
      outputCiphertextsPerRun: last.outputs.length,
    },
    clientSteps: model.refresh
      ? { segmentDepths: circuits.map((c) => c.depth), clientSees: describeClientSteps(model.refresh), dishonestClient: describeDishonestClient(model.refresh) }
      : null,
    memory,
    latency: { perRun, samplesPerRun, perSampleMs: perRun.totalMs / samplesPerRun },
  };
}

function addLatency(a: LatencyEstimate, b: LatencyEstimate): LatencyEstimate {
  const byKindMs = { ...a.byKindMs };
  for (const k of Object.keys(byKindMs) as (keyof LatencyEstimate['byKindMs'])[]) byKindMs[k] += b.byKindMs[k];
  return { serverMs: a.serverMs + b.serverMs, clientMs: a.clientMs + b.clientMs, totalMs: a.totalMs + b.totalMs, byKindMs };
}
