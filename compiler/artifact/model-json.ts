import { DTYPES, nodeFromJson, nodeToJson, valueInfoFromJson, valueInfoToJson, type TensorReader, type TensorWriter } from './graph-json';
import type { JsonAt } from './json-read';
import type { JsonObject, JsonValue } from './json-text';
import type { BodyValue, ClientSide, ClientSteps, ModelInput, SourceModel } from './types';

/** The model-facing sections that the manifest and the client view share. */

export function sourceToJson(s: SourceModel): JsonValue {
  return {
    name: s.name,
    sourceFile: s.sourceFile,
    sha256: s.sha256,
    producer: s.producer,
    irVersion: s.irVersion,
    opsets: Object.fromEntries(s.opsets),
  };
}

export function sourceFromJson(at: JsonAt): SourceModel {
  at.object(['name', 'sourceFile', 'sha256', 'producer', 'irVersion', 'opsets']);
  return {
    name: at.field('name').string(),
    sourceFile: at.field('sourceFile').string(),
    sha256: at.field('sha256').string(),
    producer: at.field('producer').string(),
    irVersion: at.field('irVersion').integer(0),
    opsets: new Map(
      at
        .field('opsets')
        .record()
        .map(([domain, v]) => [domain, v.integer(1)]),
    ),
  };
}

export function inputToJson(i: ModelInput): JsonValue {
  return { name: i.name, dtype: i.dtype, shape: [...i.shape], featureNames: i.featureNames === null ? null : [...i.featureNames] };
}

export function inputFromJson(at: JsonAt): ModelInput {
  at.object(['name', 'dtype', 'shape', 'featureNames']);
  return {
    name: at.field('name').string(),
    dtype: at.field('dtype').oneOf(DTYPES),
    shape: shapeFromJson(at.field('shape')),
    featureNames: at.field('featureNames').nullable((f) => f.items().map((x) => x.string())),
  };
}

export function bodyValueToJson(v: BodyValue): JsonValue {
  return { name: v.name, dtype: v.dtype, shape: [...v.shape] };
}

export function bodyValueFromJson(at: JsonAt): BodyValue {
  at.object(['name', 'dtype', 'shape']);
  return { name: at.field('name').string(), dtype: at.field('dtype').oneOf(DTYPES), shape: shapeFromJson(at.field('shape')) };
}

function shapeFromJson(at: JsonAt): number[] {
  return at.items().map((d) => d.integer(0));
}

/** prologue, epilogue and clientConstants: the fields the client view also carries. */
export function clientStepsToJson(c: ClientSteps, tensors: TensorWriter): { prologue: JsonValue; epilogue: JsonValue; clientConstants: JsonValue } {
  return {
    prologue: c.prologue.map((n) => nodeToJson(n, tensors)),
    epilogue: c.epilogue.map((n) => nodeToJson(n, tensors)),
    // Sorted by name so constants.bin's order does not depend on how the map was filled.
    clientConstants: Object.fromEntries(
      [...c.constants].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, t]) => [name, tensors(t)]),
    ),
  };
}

export function clientStepsFromJson(root: JsonAt, tensors: TensorReader): ClientSteps {
  return {
    prologue: root
      .field('prologue')
      .items()
      .map((n) => nodeFromJson(n, tensors)),
    epilogue: root
      .field('epilogue')
      .items()
      .map((n) => nodeFromJson(n, tensors)),
    constants: new Map(
      root
        .field('clientConstants')
        .record()
        .map(([name, t]) => [name, tensors(t)]),
    ),
  };
}

/** The keys of `clientSideToJson`'s block, in its order. */
export const CLIENT_SIDE_KEYS = ['model', 'input', 'outputs', 'body', 'prologue', 'epilogue', 'clientConstants'] as const;

/** Reads the block `clientSideToJson` writes (the caller checks the object's keys). */
export function clientSideFromJson(root: JsonAt, tensors: TensorReader): ClientSide {
  const body = root.field('body').object(['input', 'output']);
  return {
    source: sourceFromJson(root.field('model')),
    input: inputFromJson(root.field('input')),
    outputs: root.field('outputs').items().map(valueInfoFromJson),
    bodyInput: bodyValueFromJson(body.field('input')),
    bodyOutput: bodyValueFromJson(body.field('output')),
    client: clientStepsFromJson(root, tensors),
  };
}

/** model, input, outputs, body and the client steps, in that order: the block the manifest and the client view both write. */
export function clientSideToJson(m: ClientSide, tensors: TensorWriter): JsonObject {
  return {
    model: sourceToJson(m.source),
    input: inputToJson(m.input),
    outputs: m.outputs.map(valueInfoToJson),
    body: { input: bodyValueToJson(m.bodyInput), output: bodyValueToJson(m.bodyOutput) },
    ...clientStepsToJson(m.client, tensors),
  };
}
