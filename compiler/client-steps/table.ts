/**
 * The kinds of client step, declared once (as circuit/op-table.ts declares the circuit ops): each
 * record (./kind.ts) owns its mask and unmask circuits, its client operation, its float64
 * semantics, what the client learns in words and its cost. A new kind (softmax, LayerNorm) is a
 * record here and a variant of ClientStep; docs/adding-a-client-step.md walks through it.
 */
import type { SegmentedBody, BodySegment } from '../artifact/types';
import type { ApproxStage } from '../chain/stages';
import { isStepStage, type StepStageKindName } from '../chain/step-stages';
import { fail } from '../errors';
import type { ClientKnows, ClientStep, ClientStepKind, ClientStepKindRecord, DrawnMask, StepBounds, StepSegments } from './kind';
import { LAYER_NORM } from './layer-norm';
import { MAX_POOL } from './max-pool';
import { COEFFICIENT_REFRESH } from './coefficient-refresh';
import { inputAt, REFRESH } from './refresh';
import { SOFTMAX } from './softmax';
import { outputsOf } from './step-circuits';

export const CLIENT_STEP_KINDS: { readonly [K in ClientStepKind]: ClientStepKindRecord<Extract<ClientStep, { kind: K }>, Extract<ClientKnows, { kind: K }>> } = {
  refresh: REFRESH,
  'coefficient-refresh': COEFFICIENT_REFRESH,
  maxpool: MAX_POOL,
  softmax: SOFTMAX,
  layernorm: LAYER_NORM,
};

/** Every kind of step stage the chain declares (chain/step-stages.ts) has its record above: a kind left out fails type-checking here. */
const STEP_STAGES_ARE_CLIENT_STEPS: StepStageKindName extends ClientStepKind ? true : never = true;
void STEP_STAGES_ARE_CLIENT_STEPS;

/**
 * The record of a step's own kind. TypeScript cannot correlate a union value with the entry its
 * `kind` selects, so the lookup widens the record once here; a record only ever gets steps of its kind.
 */
export function stepKind(kind: ClientStepKind): ClientStepKindRecord<ClientStep, ClientKnows> {
  return CLIENT_STEP_KINDS[kind] as unknown as ClientStepKindRecord<ClientStep, ClientKnows>;
}

/**
 * The client step a chain stage is, or null for a stage that runs encrypted (affine maps,
 * polynomials): a step stage (chain/step-stages.ts) is its kind's step. The one place that maps
 * stages to steps; a refresh step is no stage (the compiler cuts between two, see refresh-plan).
 */
export function stepOfStage(s: ApproxStage): ClientStep | null {
  if (!isStepStage(s)) return null;
  switch (s.kind) {
    case 'maxpool':
      return { kind: 'maxpool', pool: { windows: s.windows, geometry: s.geometry, sources: s.sources } };
    case 'softmax':
      return { kind: 'softmax', softmax: { groups: s.groups, sources: s.sources } };
    case 'layernorm':
      return { kind: 'layernorm', layernorm: { groups: s.groups, sources: s.sources, epsilon: s.epsilon, gamma: s.gamma, beta: s.beta } };
  }
}

/** The client step before a segment after the first, as the artifact records it (a max pool's windows, a softmax's rows, a LayerNorm's tokens, a refresh's coefficient masking, or none: a refresh with slot masks). */
export function clientStepBefore(segment: Pick<BodySegment, StepField>): ClientStep {
  if (segment.pool) return { kind: 'maxpool', pool: segment.pool };
  if (segment.softmax) return { kind: 'softmax', softmax: segment.softmax };
  if (segment.layernorm) return { kind: 'layernorm', layernorm: segment.layernorm };
  if (segment.masking === 'coefficients') return { kind: 'coefficient-refresh' };
  return { kind: 'refresh' };
}

/** The fields of a segment that record the step before it (at most one is present). */
export type StepField = 'pool' | 'softmax' | 'layernorm' | 'masking';

/** A step as the artifact records it on the segment after it (the inverse of clientStepBefore). */
export function stepFields(step: ClientStep): Pick<BodySegment, StepField> {
  switch (step.kind) {
    case 'refresh':
      return {};
    case 'coefficient-refresh':
      return { masking: 'coefficients' };
    case 'maxpool':
      return { pool: step.pool };
    case 'softmax':
      return { softmax: step.softmax };
    case 'layernorm':
      return { layernorm: step.layernorm };
  }
}

/** Every client step of a segmented body, in order (step k comes before segment k + 1). */
export function clientStepsOf(plan: Pick<SegmentedBody, 'segments'>): ClientStep[] {
  return plan.segments.map(clientStepBefore);
}

/** Whether a step is a refresh (a cut the planner chose, with slot or coefficient masks), not an operation of the model. */
export function isRefresh(step: Pick<ClientStep, 'kind'>): boolean {
  return step.kind === 'refresh' || step.kind === 'coefficient-refresh';
}

/** The client steps of a compiled body (none for a body that runs as one circuit). */
export function bodySteps(m: { readonly refresh?: Pick<SegmentedBody, 'segments'> | undefined }): ClientStep[] {
  return m.refresh ? clientStepsOf(m.refresh) : [];
}

/** σ, B and the octaves of a body's steps. */
export function stepBounds(plan: SegmentedBody): StepBounds {
  return { maskBits: plan.maskBits, maskBound: plan.maskBound, ...(plan.poolScaleOctaves !== undefined ? { poolScaleOctaves: plan.poolScaleOctaves } : {}) };
}

/**
 * A fresh mask for one evaluation of `step`, checked to hand each party the ciphertexts it
 * expects: the unmasking lands exactly on the level and scale the next segment reads.
 */
export function drawStepMask(step: ClientStep, segments: StepSegments, bounds: StepBounds): DrawnMask {
  const drawn = stepKind(step.kind).draw(segments, step, bounds);
  const want = inputAt(segments.to);
  for (const { circuit } of drawn.unmask) {
    for (const got of outputsOf(circuit)) {
      if (got.level !== want.level || got.scale !== want.scale) {
        fail('PARAMS', `a ${step.kind} step's unmasking lands at level ${got.level}, scale 2^${Math.log2(got.scale)}; the next segment reads level ${want.level}, 2^${Math.log2(want.scale)}`);
      }
    }
  }
  for (const { at } of drawn.coefficients?.remove ?? []) {
    if (at.level !== want.level || at.scale !== want.scale) fail('PARAMS', `a ${step.kind} step's unmasking is at level ${at.level}, scale 2^${Math.log2(at.scale)}; the next segment reads level ${want.level}, 2^${Math.log2(want.scale)}`);
  }
  const coefficients = (list: readonly unknown[] | undefined): number[] => (list ?? []).map((_, k) => k);
  coversEach(step, 'mask', [...drawn.mask.flatMap((c) => c.ciphertexts), ...coefficients(drawn.coefficients?.add)], segments.from.outputs.length);
  coversEach(step, 'unmask', [...drawn.unmask.flatMap((c) => c.ciphertexts), ...coefficients(drawn.coefficients?.remove)], segments.to.inputs.length);
  return drawn;
}

/** Every ciphertext of the evaluation goes through exactly one of a step's circuits or coefficient masks. */
function coversEach(step: ClientStep, what: string, ciphertexts: readonly number[], count: number): void {
  const seen = [...ciphertexts].sort((a, b) => a - b);
  if (seen.length !== count || seen.some((k, i) => k !== i)) fail('BAD_ARTIFACT', `a ${step.kind} step's ${what} circuits read ciphertexts [${seen.join(', ')}], not each of the ${count} once`);
}

/**
 * Every client step of a segmented body, in words: for the report, compile and the tool
 * description. A body of refresh steps only reads as one sentence about the mask.
 */
export function describeClientSteps(plan: SegmentedBody): string {
  const steps = clientStepsOf(plan);
  const n = steps.length;
  const bounds = stepBounds(plan);
  const others = steps.filter((s) => !isRefresh(s));
  const slotRefreshes = steps.filter((s) => s.kind === 'refresh').length;
  const coefficientRefreshes = steps.filter((s) => s.kind === 'coefficient-refresh').length;
  if (others.length === 0 && coefficientRefreshes === 0) {
    return (
      `${n} client step${n === 1 ? '' : 's'} per evaluation: the client decrypts every slot of the segment's result masked by r uniform in ±2^${plan.maskBits}·${plan.maskBound.toPrecision(3)} ` +
      `(B = calibration's bound on any circuit value), so what it sees is within 2^-${plan.maskBits} statistical distance of uniform whatever the values; ` +
      `it encrypts them again at the top level and never returns a decryption; the mask costs ≈ ${plan.maskBits} + log2 B of the 53 float64 bits`
    );
  }
  if (others.length === 0 && slotRefreshes === 0) {
    return (
      `${n} client step${n === 1 ? '' : 's'} per evaluation: ${COEFFICIENT_REFRESH.describe({ kind: 'coefficient-refresh' }, bounds)} ` +
      `(B = calibration's bound on any circuit value, Δ the result's scale); it never returns a decryption, and the mask costs no float64 precision, only modulus room at the cut`
    );
  }
  const parts = others.map((s) => stepKind(s.kind).describe(s, bounds));
  if (coefficientRefreshes > 0) parts.push(`${coefficientRefreshes} refresh step${coefficientRefreshes === 1 ? '' : 's'} masked on coefficients: ${COEFFICIENT_REFRESH.describe({ kind: 'coefficient-refresh' }, bounds)}`);
  if (slotRefreshes > 0) parts.push(`${slotRefreshes} refresh step${slotRefreshes === 1 ? '' : 's'} masked on slots: ${REFRESH.describe({ kind: 'refresh' }, bounds)}`);
  return `${n} client step${n === 1 ? '' : 's'} per evaluation; ${parts.join('; ')}`;
}
