import type { Layout } from '../../compiler/circuit/ir';
import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import { clientModelOf, type ClientModel } from '../../runtime/client/client-model';
import { toolNameOf, type ServedModel } from '../../runtime/service/served-model';
import { serverModelOf } from '../../runtime/server/fhe-server';
import { compileToy, type CompiledToy } from './seal-test-circuits';

/**
 * A served model made from the SEAL tests' toy circuit (affine → cubic → affine), for MCP tests
 * that exercise the server side without the ONNX compile pipeline. Its client view is the raw
 * ClientModel: these tests encrypt body inputs directly.
 */
export interface ServedToy {
  readonly toy: CompiledToy;
  readonly served: ServedModel;
  readonly clientModel: ClientModel;
}

export function servedToy(name: string, layout: Layout, seed = 7): ServedToy {
  const toy = compileToy(layout, { seed });
  const server = serverModelOf(toy.circuit, toy.params, toy.modelHash);
  const clientModel = clientModelOf(toy.circuit, toy.params, toy.modelHash);
  // What the card and the description both say of the model.
  const model = {
    model: name,
    tool: toolNameOf(name),
    model_hash: toy.modelHash,
    task: 'regression',
    inputs: [{ name: 'x', shape: [null, 6], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [null, 2], dtype: 'float32' }],
  } as const;
  const served: ServedModel = {
    name,
    server,
    // The toy has no ONNX source and no calibration: its card says what it is and promises nothing.
    card: {
      ...model,
      runs: { client_before_encryption: [], server: `toy circuit, ${layout} layout`, client_after_decryption: [] },
      precision: { promise: 'none (a test circuit)', relative: 0, bound: 0, output_range: [0, 0], reached: false },
      client_learns: ['its outputs'],
      server_learns: ['ciphertexts only'],
    },
    description: {
      ...model,
      layout,
      samples_per_evaluation: samplesPerEvaluation(toy.circuit),
      ckks: {
        poly_modulus_degree: toy.params.polyModulusDegree,
        coeff_modulus_bits: toy.params.coeffModulusBits,
        parameter_id: server.parameters.parameterId,
        security_bits: 128,
      },
      rotation_steps: toy.circuit.rotationSteps,
      needs_relin_keys: clientModel.needsRelin,
      client_view: { toy: true },
    },
  };
  return { toy, served, clientModel };
}
