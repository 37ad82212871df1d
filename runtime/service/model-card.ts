import { describePromise } from '../../compiler/approx/precision-target';
import type { CompiledModel } from '../../compiler/artifact/types';
import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import type { Node } from '../../compiler/graph/graph';
import { describeClientSteps } from '../../compiler/client-steps/table';
import { describeDishonestClient } from '../../compiler/client-steps/dishonest-client';
import type { ModelIdentity } from './served-model';

/**
 * A served model's card: what a host can show a person before anything is called — the inputs
 * and outputs, what runs on the client and what on the server, the precision promised, and what
 * each side learns. Offered as an MCP resource (resources/read), so reading it costs no tool call.
 * Plain JSON: nothing in it is secret (the client view holds the same facts, and more).
 */
export interface ModelCard extends ModelIdentity {
  readonly runs: {
    /** ONNX operators the client runs in the clear before encrypting (empty: the body reads the input as given). */
    readonly client_before_encryption: readonly string[];
    /** The encrypted part, on the server. */
    readonly server: string;
    /** Round trips between segments, when the body has client steps (compile --refresh auto, MaxPool). */
    readonly client_steps?: string;
    /** ONNX operators the client runs in the clear after decrypting. */
    readonly client_after_decryption: readonly string[];
  };
  readonly precision: {
    /** e.g. "≤ 1% of the output range [−12.3, 25.8] (0.381)". */
    readonly promise: string;
    readonly relative: number;
    readonly bound: number;
    readonly output_range: readonly [number, number];
    /** Whether the calibration rows met the promise at compile time. */
    readonly reached: boolean;
  };
  readonly client_learns: readonly string[];
  readonly server_learns: readonly string[];
}

/** What the card takes from the served model's description (the model hash it reads from the artifact). */
export type CardNames = Omit<ModelIdentity, 'model_hash'>;

export function modelCardOf(m: CompiledModel, names: CardNames): ModelCard {
  const p = m.parameters;
  const segments = 1 + (m.refresh?.segments.length ?? 0);
  const perEvaluation = samplesPerEvaluation(m.circuit);
  const precision = m.calibration.precision;
  const clientSteps = m.refresh ? describeClientSteps(m.refresh) : undefined;
  const trees = m.options['trees'] !== undefined;
  return {
    model: names.model,
    tool: names.tool,
    ...(names.description !== undefined ? { description: names.description } : {}),
    model_hash: m.modelHash,
    ...(names.task !== undefined ? { task: names.task } : {}),
    inputs: names.inputs,
    outputs: names.outputs,
    runs: {
      client_before_encryption: opTypes(m.client.prologue),
      server:
        `CKKS (SEAL), N = ${p.polyModulusDegree}, ${p.securityBits}-bit security: ${segments === 1 ? 'one circuit' : `${segments} segments`} of depth ${m.circuit.depth}` +
        `${segments === 1 ? '' : ' (first segment)'}, ${m.circuit.layout} layout, ${perEvaluation} sample${perEvaluation === 1 ? '' : 's'} per evaluation, ` +
        `${m.approximations.length} polynomial activation${m.approximations.length === 1 ? '' : 's'}`,
      ...(clientSteps !== undefined ? { client_steps: clientSteps } : {}),
      client_after_decryption: opTypes(m.client.epilogue),
    },
    precision: {
      promise: describePromise(precision),
      relative: precision.relative,
      bound: precision.bound,
      output_range: [precision.outputRange[0], precision.outputRange[1]],
      reached: precision.reached,
    },
    client_learns: [
      'the outputs for its own rows, decrypted with its own secret key, which never leaves it',
      'the client view (the resource next to this card): CKKS parameters, packing, rotation steps, the calibrated input range, ' +
        'and the clear ONNX nodes before and after the encrypted part with their constants; not the weights of the encrypted part',
      ...(trees ? ["the snapped threshold of each feature's cuts (it encodes each feature as bits against them), not which tree or node uses them, the trees' structure or leaf values"] : []),
      ...(clientSteps !== undefined ? [`at each client step, masked intermediate values: ${clientSteps}`] : []),
      ...(m.refresh ? [describeDishonestClient(m.refresh)] : []),
      'with every answer, one more point of the model\'s input-output map (extraction by queries: the server\'s --query-budget bounds it per tenant and day)',
    ],
    server_learns: [
      'ciphertexts and evaluation keys only: never a row, an output or the secret key',
      `how many evaluations each call takes (${perEvaluation === 1 ? 'one per row' : `up to ${perEvaluation} rows each`}), the ciphertext sizes and when calls arrive`,
      ...(segments > 1 ? [`that each prediction makes ${segments - 1} client round trip${segments === 2 ? '' : 's'}`] : []),
    ],
  };
}

function opTypes(nodes: readonly Node[]): string[] {
  return nodes.map((n) => (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType));
}
