import type { Circuit, InputSpec, Layout, OutputSpec } from '../../compiler/circuit/ir';
import type { PoolStep } from '../../compiler/artifact/types';
import { poolMaskedMeta } from '../client-step';
import { fail } from '../../compiler/errors';
import type { CkksParameters } from '../../compiler/params/types';
import { contextSpecOf, type ContextSpec } from '../backends/backend';

/**
 * What the client needs to know about a compiled model: parameters, packing, which evaluation
 * keys to make, and where input and result ciphertexts sit. No ops and no weights: the client
 * view of a compiled model is enough to build it.
 */
export interface ClientModel {
  /** SHA-256 (hex) of the compiled model; every envelope is bound to it. */
  readonly modelHash: string;
  readonly parameters: ContextSpec;
  readonly layout: Layout;
  readonly slots: number;
  /** vector layout: samples interleaved in each ciphertext (see compiler/circuit/interleave); 1 in batch. */
  readonly samplesPerCiphertext: number;
  /** Length of one sample's body input (after the prologue) and body output (before the epilogue). */
  readonly inputSize: number;
  readonly outputSize: number;
  readonly inputs: readonly InputSpec[];
  readonly outputs: readonly OutputSpec[];
  /** Fresh inputs are encrypted at this level and scale. */
  readonly inputLevel: number;
  readonly inputScale: number;
  /** Level and scale of each result ciphertext, by output index. */
  readonly results: readonly { readonly level: number; readonly scale: number }[];
  readonly rotationSteps: readonly number[];
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
   * A segment entered through a max pool (runtime/client-step.ts): the windows the client takes
   * the max of, the level and scale of the masked ciphertexts it decrypts (one per output of the
   * segment before), and where it encrypts the maxima (the top level, a level above this
   * segment's inputs, where the server's unmasking takes them down).
   */
  readonly pool?: {
    readonly windows: readonly (readonly number[])[];
    readonly masked: readonly { readonly level: number; readonly scale: number }[];
    readonly freshLevel: number;
  };
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

/** The client view of a body that runs as `circuits` in order, with a client step between each two. */
export function clientModelOfBody(
  circuits: readonly Circuit[],
  params: Pick<CkksParameters, 'polyModulusDegree' | 'coeffModulusBits' | 'primes' | 'expectedPrecisionBits'>,
  modelHash: string,
  /** The max pool before each segment after the first, when there is one (RefreshSegment.pool). */
  pools: readonly (PoolStep | undefined)[] = [],
): ClientModel {
  const segments = circuits.map((c, i): ClientModel => {
    const model = clientModelOf(c, params, modelHash);
    const pool = i > 0 ? pools[i - 1] : undefined;
    if (!pool) return model;
    const before = clientModelOf(circuits[i - 1]!, params, modelHash);
    const masked = before.results.map((r) => poolMaskedMeta(circuits[i - 1]!, r.level, r.scale));
    return { ...model, pool: { windows: pool.windows, masked, freshLevel: model.inputLevel + 1 } };
  });
  return bodyClientModel(segments);
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
