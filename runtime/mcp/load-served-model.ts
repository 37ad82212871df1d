import { basename, resolve } from 'node:path';
import { readCompiledModel } from '../../compiler/artifact/files';
import type { CompiledModel } from '../../compiler/artifact/types';
import { clientView, clientViewToJson, serverView } from '../../compiler/artifact/views';
import { fail } from '../../compiler/errors';
import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import type { ValueInfo } from '../../compiler/graph/graph';
import { serverModelOf } from '../server/fhe-server';
import { modelNameOf, toolNameOf, type ServedModel, type TensorDescription } from './served-model';

/**
 * A compiled-model directory as `deeppowers serve` offers it. The tool is named after the
 * directory (`iris.compiled/` → `predict_iris`), which the operator chose, rather than the ONNX
 * graph name, which exporters fill with things like "torch_jit".
 */
export function loadServedModel(dir: string): ServedModel {
  const compiled = readCompiledModel(dir);
  const base = basename(resolve(dir)).replace(/\.compiled$/i, '');
  return servedModelOf(compiled, base === '' ? compiled.source.name : base);
}

export function servedModelOf(m: CompiledModel, rawName: string): ServedModel {
  // The MCP tools and `deeppowers client` do one request and one answer; the round trips of a
  // client step (compile --refresh auto) are not served yet.
  if (m.refresh) {
    fail('BAD_ARGUMENT', `${rawName}: a model with client steps (compiled with --refresh auto) cannot be served yet; serve one compiled with --refresh off, or run it with predict --mode fhe`);
  }
  const name = modelNameOf(rawName);
  const server = serverView(m);
  const view = clientView(m);
  const sealServer = serverModelOf(server.circuit, server.parameters, server.modelHash);
  return {
    name,
    server: sealServer,
    description: {
      model: name,
      tool: toolNameOf(name),
      model_hash: m.modelHash,
      ...taskOf(m.outputs),
      inputs: [
        {
          name: m.input.name,
          shape: [null, ...m.input.shape],
          dtype: m.input.dtype,
          ...(m.input.featureNames ? { features: [...m.input.featureNames] } : {}),
        },
      ],
      outputs: m.outputs.map(outputDescription),
      layout: m.circuit.layout,
      samples_per_evaluation: samplesPerEvaluation(m.circuit),
      ckks: {
        poly_modulus_degree: m.parameters.polyModulusDegree,
        coeff_modulus_bits: [...m.parameters.coeffModulusBits],
        parameter_id: sealServer.parameters.parameterId,
        security_bits: 128,
      },
      rotation_steps: [...m.circuit.rotationSteps],
      needs_relin_keys: view.needsRelin,
      client_view: clientViewToJson(view),
    },
  };
}

function outputDescription(v: ValueInfo): TensorDescription {
  if (v.type.kind === 'sequence-of-maps') return { name: v.name, shape: [null], dtype: `map(${v.type.keyType}, ${v.type.valueType})` };
  return { name: v.name, shape: (v.type.shape ?? []).map((d) => (typeof d === 'number' ? d : null)), dtype: v.type.dtype };
}

/** A model that outputs labels (integer or string tensors, or ZipMap's maps) classifies; a float-only output says nothing sure. */
function taskOf(outputs: readonly ValueInfo[]): { task?: string } {
  const labels = outputs.some((o) => o.type.kind === 'sequence-of-maps' || o.type.dtype === 'string' || o.type.dtype === 'int64' || o.type.dtype === 'int32');
  return labels ? { task: 'classification' } : {};
}
