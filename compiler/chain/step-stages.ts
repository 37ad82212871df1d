/**
 * The chain stages that are client steps, declared once for the layers below the client-step
 * table: the encrypted body is cut at such a stage, and the client computes it between two
 * segments. What the chain, approximation, lowering and the passes need of each kind is here (its
 * float64 semantics, sizes and words); the rest of the kind (masks, cost, what the client learns)
 * is its record in compiler/client-steps/table.ts, keyed by the same kind, which sits above the
 * circuit layer and so cannot be imported from here. A new kind of step stage is a variant of
 * StepStage (stages.ts), a record below and a record in that table (which fails type-checking
 * without it).
 */
import { maxOverWindows } from './max-pool';
import { layerNormReference, overGroups, softmaxReference } from './normalize';
import type { StepStage } from './stages';

export type StepStageKindName = StepStage['kind'];

export interface StepStageKind<S extends StepStage> {
  readonly kind: S['kind'];
  /** What it is, after "is": 'a max pool'. */
  readonly noun: string;
  /** The ONNX operator it comes from, for messages: 'MaxPool'. */
  readonly operator: string;
  /** The step's operation on one sample's vector, in float64 (what the client computes on the unmasked values). */
  apply(stage: S, x: Float64Array): Float64Array;
  outSize(stage: S): number;
  /** A short label with its sizes: 'max pool 64→16'. */
  label(stage: S): string;
  /** Its own parameters in words, for inspect and the report: '2×2 kernel, strides 2×2, no padding'. */
  detail(stage: S): string;
}

export const STEP_STAGE_KINDS: { readonly [K in StepStageKindName]: StepStageKind<Extract<StepStage, { kind: K }>> } = {
  maxpool: {
    kind: 'maxpool',
    noun: 'a max pool',
    operator: 'MaxPool',
    apply: (s, x) => maxOverWindows(s.windows, x),
    outSize: (s) => s.windows.length,
    label: (s) => `max pool ${s.inSize}→${s.windows.length}`,
    detail: (s) => s.geometry,
  },
  softmax: {
    kind: 'softmax',
    noun: 'a softmax',
    operator: 'Softmax',
    apply: (s, x) => overGroups(s.groups, x, softmaxReference),
    outSize: (s) => s.inSize,
    label: (s) => `softmax ${s.inSize}→${s.inSize}`,
    detail: (s) => `${s.groups.length} rows of ${[...new Set(s.groups.map((g) => g.length))].join('/')}`,
  },
  layernorm: {
    kind: 'layernorm',
    noun: 'a layer norm',
    operator: 'LayerNormalization',
    apply: (s, x) => overGroups(s.groups, x, (v) => layerNormReference(v, s)),
    outSize: (s) => s.inSize,
    label: (s) => `layer norm ${s.inSize}→${s.inSize}`,
    // A float32 ε (1e-5 stored as 9.99999974e-6) reads as itself.
    detail: (s) => `${s.groups.length} tokens of ${s.gamma.length} features, ε = ${Number(s.epsilon.toPrecision(6))}`,
  },
};

const STEP_KINDS: ReadonlySet<string> = new Set(Object.keys(STEP_STAGE_KINDS));

/** Whether a stage is a client step (the body is cut there) rather than one a circuit computes. */
export function isStepStage<S extends { readonly kind: string }>(s: S): s is Extract<S, StepStage> {
  return STEP_KINDS.has(s.kind);
}

/**
 * The record of a step stage's own kind. TypeScript cannot correlate a union value with the entry
 * its `kind` selects, so the lookup widens the record once here; a record only gets stages of its kind.
 */
export function stepStageKind(s: StepStage): StepStageKind<StepStage> {
  return STEP_STAGE_KINDS[s.kind] as unknown as StepStageKind<StepStage>;
}

/** One sample's vector through a step stage, in float64. */
export function applyStepStage(s: StepStage, x: Float64Array): Float64Array {
  return stepStageKind(s).apply(s, x);
}
