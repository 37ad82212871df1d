import { describePromise } from '../../compiler/approx/precision-target';
import { bodySteps } from '../../compiler/client-steps/table';
import { basename, resolve } from 'node:path';
import { readCompiledModel } from '../../compiler/artifact/files';
import type { CompiledModel } from '../../compiler/artifact/types';
import { clientView, clientViewToJson, layoutInfoOf, serverView, type ClientView, type SegmentView } from '../../compiler/artifact/views';
import { bodyCircuits } from '../../compiler/artifact/segments';
import { clientModelOfBody, stepToView } from '../client/client-model';
import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import type { ValueInfo } from '../../compiler/graph/graph';
import { serverModelOf } from '../server/fhe-server';
import { heapShortfall } from '../../compiler/plan/plan-memory';
import { modelCardOf } from './model-card';
import { modelNameOf, toolNameOf, type ServedModel, type TensorDescription } from './served-model';
import { exposeRanges, type RangeExposure } from './client-view-exposure';

/**
 * A compiled-model directory as `deeppowers serve` offers it. The tool is named after the name
 * given at compile time (`compile --name iris` → `predict_iris`), else after the directory
 * (`iris.compiled/` → `predict_iris`), which the operator chose, rather than the ONNX graph name,
 * which exporters fill with things like "torch_jit".
 */
export function loadServedModel(dir: string, ranges: RangeExposure = 'exact'): ServedModel {
  const compiled = readCompiledModel(dir);
  return servedModelOf(compiled, servedNameOf(dir, compiled), ranges);
}

/** The name a compiled directory is served under (before it is made safe for a tool name): see loadServedModel. */
export function servedNameOf(dir: string, compiled: CompiledModel): string {
  const base = basename(resolve(dir)).replace(/\.compiled$/i, '');
  return givenName(compiled) ?? (base === '' ? compiled.source.name : base);
}

/** `compile --name` and `--description`, recorded with the compile options. */
function givenName(m: CompiledModel): string | undefined {
  const name = m.options['name'];
  return typeof name === 'string' ? name : undefined;
}

function givenDescription(m: CompiledModel): { description?: string } {
  const d = m.options['description'];
  return typeof d === 'string' ? { description: d } : {};
}

/** `ranges`: how much of the calibration ranges the client view shows (client-view-exposure.ts). */
export function servedModelOf(m: CompiledModel, rawName: string, ranges: RangeExposure = 'exact'): ServedModel {
  const name = modelNameOf(rawName);
  const server = serverView(m);
  const view = exposeRanges(withSegments(clientView(m), m), ranges);
  const sealServer = serverModelOf(server.circuit, server.parameters, server.modelHash, m.refresh ?? undefined);
  const inputs: TensorDescription[] = [
    {
      name: m.input.name,
      shape: [null, ...m.input.shape],
      dtype: m.input.dtype,
      ...(m.input.featureNames ? { features: [...m.input.featureNames] } : {}),
    },
  ];
  const outputs = m.outputs.map(outputDescription);
  const names = { model: name, tool: toolNameOf(name), ...givenDescription(m), ...taskOf(m.outputs), inputs, outputs };
  return {
    name,
    server: sealServer,
    noiseBound: m.calibration.precision.noiseBound,
    ...heapShortfallOf(m),
    card: modelCardOf(m, names),
    description: {
      model: name,
      tool: names.tool,
      ...givenDescription(m),
      model_hash: m.modelHash,
      ...taskOf(m.outputs),
      inputs,
      outputs,
      layout: m.circuit.layout,
      samples_per_evaluation: samplesPerEvaluation(m.circuit),
      ckks: {
        poly_modulus_degree: m.parameters.polyModulusDegree,
        coeff_modulus_bits: [...m.parameters.coeffModulusBits],
        parameter_id: sealServer.parameters.parameterId,
        security_bits: 128,
      },
      rotation_steps: [...view.rotationSteps],
      needs_relin_keys: view.needsRelin,
      precision: describePromise(m.calibration.precision),
      client_view: clientViewToJson(view),
    },
  };
}

/**
 * A body with client steps: the client view gains each segment's packing and ciphertext formats
 * (and a max pool's windows), its results become the last segment's and its keys every segment's.
 */
function withSegments(view: ClientView, m: CompiledModel): ClientView {
  if (!m.refresh) return view;
  const circuits = bodyCircuits(m);
  const body = clientModelOfBody(circuits, m.parameters, m.modelHash, bodySteps(m));
  const segments = circuits.map((c, i): SegmentView => {
    const cm = body.segments![i]!;
    return {
      layout: layoutInfoOf(c),
      inputCiphertext: { level: cm.inputLevel, scale: cm.inputScale },
      results: cm.results,
      rotationSteps: cm.rotationSteps,
      needsRelin: cm.needsRelin,
      ...stepToView(cm.step),
    };
  });
  return { ...view, results: body.results, rotationSteps: body.rotationSteps, needsRelin: body.needsRelin, segments };
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

function heapShortfallOf(m: CompiledModel): { heapShortfall?: string } {
  const shortfall = heapShortfall(m.parameters, bodyCircuits(m));
  return shortfall === null ? {} : { heapShortfall: shortfall };
}
