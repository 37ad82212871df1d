import { circuitFromJson, circuitToJson } from './circuit-json';
import { ConstantSink, ConstantSource } from './graph-json';
import { disjointGroups, type JsonAt } from './json-read';
import type { JsonObject } from './json-text';
import {
  approximationFromJson,
  approximationToJson,
  calibrationFromJson,
  calibrationToJson,
  costFromJson,
  costToJson,
  parametersFromJson,
  parametersToJson,
  quantizationFromJson,
  quantizationToJson,
} from './summary-json';
import { CLIENT_SIDE_KEYS, clientSideFromJson, clientSideToJson } from './model-json';
import { ARTIFACT_FORMAT, ARTIFACT_FORMAT_VERSION, type CompiledModelContent, type GroupStep, type LayerNormStep, type PoolStep, type SegmentedBody } from './types';
import type { ConstantEntry } from './constants-bin';

/**
 * manifest.json ⇄ CompiledModelContent. The manifest's fields, in the order the file shows them;
 * `modelHash` and `constants` (size and SHA-256 of constants.bin) are added by the writer.
 */
export const MANIFEST_KEYS = [
  'format',
  'formatVersion',
  'modelHash',
  'toolVersion',
  ...CLIENT_SIDE_KEYS,
  'layout',
  'parameters',
  'rotationSteps',
  'approximations',
  'quantization',
  'calibration',
  'cost',
  'options',
  'constants',
  'circuit',
  'refresh',
] as const;

/** Fields only some models have: `refresh` when the body is cut into segments. */
export const OPTIONAL_MANIFEST_KEYS: readonly string[] = ['refresh'];
/** The fields every manifest has, in order. */
export const REQUIRED_MANIFEST_KEYS = MANIFEST_KEYS.filter((k) => !OPTIONAL_MANIFEST_KEYS.includes(k));

export interface EncodedContent {
  /** Every manifest field except `modelHash` and `constants`. */
  readonly fields: JsonObject;
  readonly constants: readonly ConstantEntry[];
}

export function encodeContent(m: CompiledModelContent): EncodedContent {
  const sink = new ConstantSink();
  // Circuit constants first, so their constants.bin indices equal the circuit's constant ids.
  const circuit = circuitToJson(m.circuit, sink);
  const refresh = m.refresh ? refreshToJson(m.refresh, sink) : undefined;
  const fields: JsonObject = {
    format: ARTIFACT_FORMAT,
    formatVersion: ARTIFACT_FORMAT_VERSION,
    toolVersion: m.toolVersion,
    ...clientSideToJson(m, sink.tensor),
    layout: circuit.layout,
    parameters: parametersToJson(m.parameters),
    rotationSteps: circuit.rotationSteps,
    approximations: m.approximations.map(approximationToJson),
    quantization: quantizationToJson(m.quantization),
    calibration: calibrationToJson(m.calibration),
    cost: costToJson(m.cost),
    options: m.options,
    circuit: circuit.circuit,
    ...(refresh ? { refresh } : {}),
  };
  return { fields, constants: sink.entries };
}

/** Decodes every field; format, version and hashes are checked before this by the reader. */
export function decodeContent(root: JsonAt, entries: readonly ConstantEntry[]): CompiledModelContent {
  root.object(REQUIRED_MANIFEST_KEYS, OPTIONAL_MANIFEST_KEYS);
  const source = new ConstantSource(entries);
  const circuit = circuitFromJson(root.field('layout'), root.field('rotationSteps'), root.field('circuit'), source);
  const options = root.field('options');
  options.record();
  return {
    ...clientSideFromJson(root, source.tensor),
    parameters: parametersFromJson(root.field('parameters')),
    circuit,
    ...(root.has('refresh') ? { refresh: refreshFromJson(root.field('refresh'), source) } : {}),
    approximations: root.field('approximations').items().map(approximationFromJson),
    quantization: quantizationFromJson(root.field('quantization')),
    calibration: calibrationFromJson(root.field('calibration')),
    cost: costFromJson(root.field('cost'), circuit),
    options: options.value as JsonObject,
    toolVersion: root.field('toolVersion').string(),
  };
}

function refreshToJson(r: SegmentedBody, sink: ConstantSink): JsonObject {
  return {
    maskBits: r.maskBits,
    maskBound: r.maskBound,
    ...(r.poolScaleOctaves !== undefined ? { poolScaleOctaves: r.poolScaleOctaves } : {}),
    segments: r.segments.map((s) => {
      const c = circuitToJson(s.circuit, sink);
      const pool: JsonObject = s.pool ? { pool: { windows: s.pool.windows.map((w) => [...w]), geometry: s.pool.geometry, sources: [...s.pool.sources] } } : {};
      const softmax: JsonObject = s.softmax ? { softmax: groupStepToJson(s.softmax) } : {};
      const layernorm: JsonObject = s.layernorm ? { layernorm: { ...groupStepToJson(s.layernorm), epsilon: s.layernorm.epsilon, gamma: [...s.layernorm.gamma], beta: [...s.layernorm.beta] } } : {};
      const masking: JsonObject = s.masking ? { masking: s.masking } : {};
      const json: JsonObject = { startStage: s.startStage, ...pool, ...softmax, ...layernorm, ...masking, layout: c.layout, rotationSteps: c.rotationSteps, circuit: c.circuit, cost: costToJson(s.cost) };
      return json;
    }),
  };
}

function refreshFromJson(at: JsonAt, source: ConstantSource): SegmentedBody {
  at.object(['maskBits', 'maskBound', 'segments'], ['poolScaleOctaves']);
  return {
    maskBits: at.field('maskBits').integer(1, 40),
    maskBound: at.field('maskBound').numberIn(1, Number.MAX_VALUE),
    ...(at.has('poolScaleOctaves') ? { poolScaleOctaves: at.field('poolScaleOctaves').integer(0, 16) } : {}),
    segments: at
      .field('segments')
      .items()
      .map((s) => {
        s.object(['startStage', 'layout', 'rotationSteps', 'circuit', 'cost'], ['pool', 'softmax', 'layernorm', 'masking']);
        if (['pool', 'softmax', 'layernorm', 'masking'].filter((k) => s.has(k)).length > 1) s.bad('a segment has one client step before it, not several');
        const masking = s.has('masking') ? { masking: s.field('masking').oneOf(['coefficients'] as const) } : {};
        const circuit = circuitFromJson(s.field('layout'), s.field('rotationSteps'), s.field('circuit'), source);
        const pool = s.has('pool') ? { pool: poolStepFromJson(s.field('pool')) } : {};
        const softmax = s.has('softmax') ? { softmax: groupStepFromJson(s.field('softmax'), []) } : {};
        const layernorm = s.has('layernorm') ? { layernorm: layerNormStepFromJson(s.field('layernorm')) } : {};
        return { startStage: s.field('startStage').integer(1, 1 << 20), ...pool, ...softmax, ...layernorm, ...masking, circuit, cost: costFromJson(s.field('cost'), circuit) };
      }),
  };
}

function groupStepToJson(g: GroupStep): JsonObject {
  return { groups: g.groups.map((w) => [...w]), sources: [...g.sources] };
}

function groupStepFromJson(at: JsonAt, extra: readonly string[]): GroupStep {
  at.object(['groups', 'sources', ...extra]);
  const groups = disjointGroups(at.field('groups'), 1 << 30);
  return { groups, sources: at.field('sources').items().map((x) => x.string()) };
}

function layerNormStepFromJson(at: JsonAt): LayerNormStep {
  const g = groupStepFromJson(at, ['epsilon', 'gamma', 'beta']);
  const gamma = at.field('gamma').items().map((x) => x.numberIn(-Number.MAX_VALUE, Number.MAX_VALUE));
  const beta = at.field('beta').items().map((x) => x.numberIn(-Number.MAX_VALUE, Number.MAX_VALUE));
  if (beta.length !== gamma.length || g.groups.some((w) => w.length !== gamma.length)) at.bad(`tokens, γ (${gamma.length}) and β (${beta.length}) disagree on the feature count`);
  return { ...g, epsilon: at.field('epsilon').numberIn(0, Number.MAX_VALUE), gamma, beta };
}

function poolStepFromJson(at: JsonAt): PoolStep {
  at.object(['windows', 'geometry', 'sources']);
  return {
    windows: at.field('windows').items().map((w) => w.items().map((i) => i.integer(0, 1 << 30))),
    geometry: at.field('geometry').string(),
    sources: at.field('sources').items().map((x) => x.string()),
  };
}
