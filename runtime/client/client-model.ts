import type { Circuit } from '../../compiler/circuit/ir';
import type { ClientKnows, ClientStep } from '../../compiler/client-steps/kind';
import { stepKind } from '../../compiler/client-steps/table';
import { fail } from '../../compiler/errors';
import type { SegmentView } from '../../compiler/artifact/views';
import type { CkksParameters } from '../../compiler/params/types';
import { contextSpecOf, type ContextSpec } from '../backends/backend';

/**
 * What the client shares with the circuit (the fields are documented on Circuit): how samples sit
 * in the slots, where each input and output is packed, and the rotations its keys must cover.
 */
export type CircuitPacking = Pick<Circuit, 'layout' | 'slots' | 'samplesPerCiphertext' | 'inputSize' | 'outputSize' | 'inputs' | 'outputs' | 'rotationSteps'>;

/**
 * What the client needs to know about a compiled model: parameters, packing, which evaluation
 * keys to make, and where input and result ciphertexts sit. No ops and no weights: the client
 * view of a compiled model is enough to build it.
 */
export interface ClientModel extends CircuitPacking {
  /** SHA-256 (hex) of the compiled model; every envelope is bound to it. */
  readonly modelHash: string;
  readonly parameters: ContextSpec;
  /** Fresh inputs are encrypted at this level and scale. */
  readonly inputLevel: number;
  readonly inputScale: number;
  /** Level and scale of each result ciphertext, by output index. */
  readonly results: readonly { readonly level: number; readonly scale: number }[];
  readonly needsRelin: boolean;
  /**
   * Fractional bits kept when decrypted outputs are rounded: values leave the client as
   * multiples of 2^−bits. CKKS decryptions carry noise that depends on the secret key; returning
   * them unrounded is what key-recovery attacks on CKKS (Li–Micciancio) exploit.
   */
  readonly outputPrecisionBits: number;
  /**
   * A refreshed body (compile --refresh auto): the client view of each segment, in order. The
   * model's inputs are the first one's, its outputs and results the last one's, its keys cover
   * all of them. Absent: the body is one circuit.
   */
  readonly segments?: readonly ClientModel[];
  /**
   * A segment after a client step (compiler/client-steps/): what the client knows of the step
   * (its kind; a max pool's windows), the level and scale of the masked ciphertexts it decrypts
   * (one per output of the segment before), and the level it encrypts at (the top level; this
   * segment's inputs sit lower when the server's unmasking spends a level).
   */
  readonly step?: ClientSideStep;
}

export interface ClientSideStep {
  readonly knows: ClientKnows;
  readonly masked: readonly { readonly level: number; readonly scale: number }[];
  readonly freshLevel: number;
}

/** The client view of a circuit compiled under `params`. */
export function clientModelOf(
  circuit: Circuit,
  params: Pick<CkksParameters, 'polyModulusDegree' | 'coeffModulusBits' | 'primes' | 'expectedPrecisionBits'>,
  modelHash: string,
): ClientModel {
  const inputOps = circuit.ops.filter((op) => op.op === 'input');
  const first = inputOps[0];
  if (!first) fail('BAD_ARTIFACT', 'the circuit has no inputs');
  for (const op of inputOps) {
    if (op.level !== first.level || op.scale !== first.scale) fail('BAD_ARTIFACT', 'the circuit inputs disagree on level or scale');
  }
  const results: { level: number; scale: number }[] = [];
  for (const op of circuit.ops) if (op.op === 'output') results[op.output] = { level: op.level, scale: op.scale };
  if (results.length !== circuit.outputs.length || results.some((r) => !r)) fail('BAD_ARTIFACT', 'the circuit does not produce every output');
  return {
    modelHash,
    parameters: contextSpecOf(params),
    layout: circuit.layout,
    slots: circuit.slots,
    samplesPerCiphertext: circuit.samplesPerCiphertext,
    inputSize: circuit.inputSize,
    outputSize: circuit.outputSize,
    inputs: circuit.inputs,
    outputs: circuit.outputs,
    inputLevel: first.level,
    inputScale: first.scale,
    results,
    rotationSteps: circuit.rotationSteps,
    needsRelin: circuit.ops.some((op) => op.op === 'relin'),
    outputPrecisionBits: params.expectedPrecisionBits,
  };
}

/** The client view of a body that runs as `circuits` in order, with `steps[k]` between circuits k and k + 1 (the artifact's: compiler/client-steps/table.ts, bodySteps). */
export function clientModelOfBody(
  circuits: readonly Circuit[],
  params: Pick<CkksParameters, 'polyModulusDegree' | 'coeffModulusBits' | 'primes' | 'expectedPrecisionBits'>,
  modelHash: string,
  steps: readonly ClientStep[],
): ClientModel {
  if (steps.length !== circuits.length - 1) fail('BAD_ARTIFACT', `${circuits.length} segments with ${steps.length} client steps between them`);
  const models = circuits.map((c) => clientModelOf(c, params, modelHash));
  const segments = models.map((model, i): ClientModel => {
    if (i === 0) return model;
    const step = steps[i - 1]!;
    const kind = stepKind(step.kind);
    const masked = models[i - 1]!.results.map((r) => kind.maskedAt(circuits[i - 1]!, r));
    return { ...model, step: { knows: step, masked, freshLevel: model.inputLevel + kind.unmaskLevels } };
  });
  return bodyClientModel(segments);
}

/**
 * A step as the client view carries it (compiler/artifact/views.ts): a max pool names its windows,
 * masked formats and fresh level under `pool`, a softmax its rows under `softmax`, a LayerNorm its
 * tokens and ε under `layernorm`, a coefficient-masked refresh says `masking`; a refresh step with
 * slot masks is implied by their absence.
 */
export function stepToView(step: ClientSideStep | undefined): Pick<SegmentView, 'pool' | 'softmax' | 'layernorm' | 'masking'> {
  if (!step) return {};
  switch (step.knows.kind) {
    case 'refresh':
      return {};
    case 'coefficient-refresh':
      return { masking: 'coefficients' };
    case 'maxpool':
      return { pool: { windows: step.knows.pool.windows, masked: step.masked, freshLevel: step.freshLevel } };
    case 'softmax':
      return { softmax: { groups: step.knows.softmax.groups, masked: step.masked, freshLevel: step.freshLevel } };
    case 'layernorm':
      return { layernorm: { groups: step.knows.layernorm.groups, epsilon: step.knows.layernorm.epsilon, masked: step.masked, freshLevel: step.freshLevel } };
  }
}

/** The step before `segment` (the client model of a later segment) read back from its view; `before` is the segment before it. */
export function stepFromView(view: SegmentView, segment: ClientModel, before: ClientModel): ClientSideStep {
  if (view.pool) return { knows: { kind: 'maxpool', pool: { windows: view.pool.windows } }, masked: view.pool.masked, freshLevel: view.pool.freshLevel };
  if (view.softmax) return { knows: { kind: 'softmax', softmax: { groups: view.softmax.groups } }, masked: view.softmax.masked, freshLevel: view.softmax.freshLevel };
  if (view.layernorm) {
    const { groups, epsilon, masked, freshLevel } = view.layernorm;
    return { knows: { kind: 'layernorm', layernorm: { groups, epsilon } }, masked, freshLevel };
  }
  return { knows: { kind: view.masking === 'coefficients' ? 'coefficient-refresh' : 'refresh' }, masked: before.results, freshLevel: segment.inputLevel };
}

/** One client model for a body of `segments` (each a segment's client model, in order): inputs of the first, outputs of the last, keys for all. */
export function bodyClientModel(segments: readonly ClientModel[]): ClientModel {
  if (segments.length === 1) return segments[0]!;
  const first = segments[0]!;
  const last = segments[segments.length - 1]!;
  return {
    ...first,
    outputSize: last.outputSize,
    outputs: last.outputs,
    results: last.results,
    rotationSteps: [...new Set(segments.flatMap((s) => s.rotationSteps))].sort((a, b) => a - b),
    needsRelin: segments.some((s) => s.needsRelin),
    segments,
  };
}

/**
 * The packing helpers take a Circuit but read only its layout fields; this is that circuit
 * shape with no ops or constants, which the client never has.
 */
export function packingCircuitOf(model: ClientModel): Circuit {
  return {
    layout: model.layout,
    slots: model.slots,
    minSlots: model.slots,
    samplesPerCiphertext: model.samplesPerCiphertext,
    inputSize: model.inputSize,
    outputSize: model.outputSize,
    inputs: model.inputs,
    outputs: model.outputs,
    ops: [],
    constants: [],
    rotationSteps: model.rotationSteps,
    depth: 0,
    topLevel: model.inputLevel,
    primes: null,
  };
}
