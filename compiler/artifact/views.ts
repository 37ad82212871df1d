import type { Circuit } from '../circuit/ir';
import { fail } from '../errors';
import type { ValueInfo } from '../graph/graph';
import type { CkksParameters } from '../params/types';
import { layoutFromJson, layoutToJson, type LayoutInfo } from './circuit-json';
import { readInlineTensor, writeInlineTensor } from './graph-json';
import { disjointGroups, JsonAt } from './json-read';
import type { JsonObject } from './json-text';
import { CLIENT_SIDE_KEYS, clientSideFromJson, clientSideToJson } from './model-json';
import { inputRangeFromJson, inputRangeToJson, parametersFromJson, parametersToJson } from './summary-json';
import type { BodyValue, ClientSteps, CompiledModel, InputRange, ModelInput, SourceModel } from './types';
import { checkClientSteps, checkInputRange, checkParameters } from './validate';

/**
 * What each side of encrypted inference gets. The client view has no ops and no weights: enough
 * to make keys, encrypt inputs in the right packing, decrypt results and run the prologue and
 * epilogue. The server view has the circuit and its constants, and nothing of the client's steps.
 */

/** Level and scale SEAL must see on a ciphertext. */
export interface CiphertextFormat {
  readonly level: number;
  readonly scale: number;
}

export interface ClientView {
  readonly modelHash: string;
  readonly source: SourceModel;
  readonly input: ModelInput;
  readonly outputs: readonly ValueInfo[];
  readonly bodyInput: BodyValue;
  readonly bodyOutput: BodyValue;
  readonly client: ClientSteps;
  readonly parameters: CkksParameters;
  /** Packing of body inputs into input ciphertexts and of results out of output ciphertexts. */
  readonly layout: LayoutInfo;
  /** Steps the circuit rotates by: the Galois keys the client must make. */
  readonly rotationSteps: readonly number[];
  /** Whether the circuit multiplies ciphertexts, so the server needs relinearization keys. */
  readonly needsRelin: boolean;
  /** Fresh inputs are encrypted at this level and scale. */
  readonly inputCiphertext: CiphertextFormat;
  /** Level and scale of each result ciphertext, by output index. */
  readonly results: readonly CiphertextFormat[];
  /** The model input's calibrated range and the compile margin; null for models compiled before ranges were recorded. */
  readonly inputRange: CalibratedInput | null;
  /**
   * A body with client steps (--refresh auto, MaxPool): what the client needs of each segment, in
   * order, to decrypt a masked result and encrypt the next segment's inputs. The fields above are
   * the first segment's, except `results`, which are the last one's. Absent: one circuit.
   */
  readonly segments?: readonly SegmentView[];
}

/** One segment of a body with client steps, as the client sees it: the circuit fields of a client view, for this segment. */
export interface SegmentView extends Pick<ClientView, 'layout' | 'inputCiphertext' | 'results' | 'rotationSteps' | 'needsRelin'> {
  /** Entered through a max pool: the windows (previous segment's output elements per pooled value), the masked results' formats, and the level maxima are encrypted at. */
  readonly pool?: { readonly windows: readonly (readonly number[])[]; readonly masked: readonly CiphertextFormat[]; readonly freshLevel: number };
  /** Entered through a softmax: its rows (previous segment's output elements; output i is input i), the masked results' formats, and the level the client encrypts at. */
  readonly softmax?: GroupStepView;
  /** Entered through a LayerNorm: its tokens and ε as for a softmax's rows (γ and β stay with the server). */
  readonly layernorm?: GroupStepView & { readonly epsilon: number };
  /** Entered through a refresh masked on the plaintext polynomial's coefficients (the client re-encrypts them as they are); absent with the other steps, a refresh masks the slots. */
  readonly masking?: 'coefficients';
}

/** What the client view holds of a softmax or LayerNorm step. */
export interface GroupStepView {
  readonly groups: readonly (readonly number[])[];
  readonly masked: readonly CiphertextFormat[];
  readonly freshLevel: number;
}

/** What a client checks rows against before encrypting them (see checkRowsInRange). */
export interface CalibratedInput {
  readonly range: InputRange;
  /** Rows may stray this many calibrated widths beyond [min, max]. */
  readonly margin: number;
}

export interface ServerView {
  readonly modelHash: string;
  readonly name: string;
  readonly parameters: CkksParameters;
  readonly circuit: Circuit;
}

export function clientView(m: CompiledModel): ClientView {
  const c = m.circuit;
  const first = c.ops.find((op) => op.op === 'input');
  if (!first) fail('BAD_ARTIFACT', 'the circuit has no inputs');
  const results: CiphertextFormat[] = [];
  for (const op of c.ops) if (op.op === 'output') results[op.output] = { level: op.level, scale: op.scale };
  return {
    modelHash: m.modelHash,
    source: m.source,
    input: m.input,
    outputs: m.outputs,
    bodyInput: m.bodyInput,
    bodyOutput: m.bodyOutput,
    client: m.client,
    parameters: m.parameters,
    layout: layoutInfoOf(c),
    rotationSteps: c.rotationSteps,
    needsRelin: c.ops.some((op) => op.op === 'relin'),
    inputCiphertext: { level: first.level, scale: first.scale },
    results,
    inputRange: m.calibration.input === null ? null : { range: m.calibration.input, margin: m.calibration.margin },
  };
}

/** A circuit's packing, as a view carries it. */
export function layoutInfoOf(c: Circuit): LayoutInfo {
  return { layout: c.layout, slots: c.slots, minSlots: c.minSlots, samplesPerCiphertext: c.samplesPerCiphertext, inputSize: c.inputSize, outputSize: c.outputSize, inputs: c.inputs, outputs: c.outputs };
}

export function serverView(m: CompiledModel): ServerView {
  return { modelHash: m.modelHash, name: m.source.name, parameters: m.parameters, circuit: m.circuit };
}

/** The client view as self-contained JSON (tensors inline), e.g. for `describe_model`. */
export function clientViewToJson(v: ClientView): JsonObject {
  return {
    modelHash: v.modelHash,
    ...clientSideToJson(v, writeInlineTensor),
    parameters: parametersToJson(v.parameters),
    layout: layoutToJson(v.layout),
    rotationSteps: [...v.rotationSteps],
    needsRelin: v.needsRelin,
    inputCiphertext: { level: v.inputCiphertext.level, scale: v.inputCiphertext.scale },
    results: v.results.map((r) => ({ level: r.level, scale: r.scale })),
    ...(v.inputRange === null ? {} : { inputRange: { ...(inputRangeToJson(v.inputRange.range) as JsonObject), margin: v.inputRange.margin } }),
    ...(v.segments ? { segments: v.segments.map(segmentToJson) } : {}),
  };
}

const formatToJson = (f: CiphertextFormat): JsonObject => ({ level: f.level, scale: f.scale });

function segmentToJson(s: SegmentView): JsonObject {
  return {
    layout: layoutToJson(s.layout),
    inputCiphertext: formatToJson(s.inputCiphertext),
    results: s.results.map(formatToJson),
    rotationSteps: [...s.rotationSteps],
    needsRelin: s.needsRelin,
    ...(s.pool ? { pool: { windows: s.pool.windows.map((w) => [...w]), masked: s.pool.masked.map(formatToJson), freshLevel: s.pool.freshLevel } } : {}),
    ...(s.softmax ? { softmax: groupStepToJson(s.softmax) } : {}),
    ...(s.layernorm ? { layernorm: { ...groupStepToJson(s.layernorm), epsilon: s.layernorm.epsilon } } : {}),
    ...(s.masking ? { masking: s.masking } : {}),
  };
}

function groupStepToJson(g: GroupStepView): JsonObject {
  return { groups: g.groups.map((w) => [...w]), masked: g.masked.map(formatToJson), freshLevel: g.freshLevel };
}

/** Parses and checks JSON made by `clientViewToJson` (it comes from a server: trust nothing). */
export function clientViewFromJson(json: unknown): ClientView {
  const root = JsonAt.root(json, 'client view');
  root.object([
    'modelHash',
    ...CLIENT_SIDE_KEYS,
    'parameters',
    'layout',
    'rotationSteps',
    'needsRelin',
    'inputCiphertext',
    'results',
  ], ['inputRange', 'segments']);
  const modelHash = root.field('modelHash').string();
  if (!/^[0-9a-f]{64}$/.test(modelHash)) root.field('modelHash').bad('is not 64 lowercase hex digits');
  const parameters = parametersFromJson(root.field('parameters'));
  checkParameters(parameters);
  const layout = layoutFromJson(root.field('layout'));
  if (layout.slots !== parameters.slots) root.field('layout').bad(`${layout.slots} slots, but the parameters give ${parameters.slots}`);
  const rotationSteps = root
    .field('rotationSteps')
    .items()
    .map((s) => s.integer(1, layout.slots - 1));
  const keyed = new Set(parameters.rotationSteps);
  for (const step of rotationSteps) if (!keyed.has(step)) root.field('rotationSteps').bad(`step ${step} is not among the parameters' rotation steps`);
  const format = (at: JsonAt): CiphertextFormat => {
    at.object(['level', 'scale']);
    const scale = at.field('scale').number();
    if (!(scale > 0)) at.field('scale').bad(`must be positive, got ${scale}`);
    return { level: at.field('level').integer(0, parameters.levels), scale };
  };
  const view: ClientView = {
    modelHash,
    ...clientSideFromJson(root, readInlineTensor),
    parameters,
    layout,
    rotationSteps,
    needsRelin: root.field('needsRelin').boolean(),
    inputCiphertext: format(root.field('inputCiphertext')),
    results: root
      .field('results')
      .items()
      .map(format),
    inputRange: root.has('inputRange') ? calibratedInputFromJson(root.field('inputRange')) : null,
    ...(root.has('segments') ? { segments: segmentsFromJson(root.field('segments'), parameters, keyed, format) } : {}),
  };
  const last = view.segments?.at(-1)?.layout ?? layout;
  if (view.results.length !== last.outputs.length) root.field('results').bad(`${view.results.length} formats for ${last.outputs.length} output ciphertexts`);
  checkClientSteps(view);
  checkInputRange(view.inputRange?.range ?? null, view.input.shape);
  return view;
}

function segmentsFromJson(at: JsonAt, parameters: CkksParameters, keyed: ReadonlySet<number>, format: (at: JsonAt) => CiphertextFormat): SegmentView[] {
  const items = at.items();
  if (items.length < 2) at.bad(`a body with client steps has at least 2 segments, not ${items.length}`);
  return items.map((s, i) => {
    s.object(['layout', 'inputCiphertext', 'results', 'rotationSteps', 'needsRelin'], ['pool', 'softmax', 'layernorm', 'masking']);
    if (['pool', 'softmax', 'layernorm', 'masking'].filter((k) => s.has(k)).length > 1) s.bad('a segment has one client step before it, not several');
    if (s.has('masking') && i === 0) s.field('masking').bad('the first segment has no client step before it');
    const masking = s.has('masking') ? s.field('masking').oneOf(['coefficients'] as const) : undefined;
    const layout = layoutFromJson(s.field('layout'));
    if (layout.slots !== parameters.slots) s.field('layout').bad(`${layout.slots} slots, but the parameters give ${parameters.slots}`);
    const rotationSteps = s.field('rotationSteps').items().map((x) => x.integer(1, layout.slots - 1));
    for (const step of rotationSteps) if (!keyed.has(step)) s.field('rotationSteps').bad(`step ${step} is not among the parameters' rotation steps`);
    const results = s.field('results').items().map(format);
    if (results.length !== layout.outputs.length) s.field('results').bad(`${results.length} formats for ${layout.outputs.length} output ciphertexts`);
    let pool: SegmentView['pool'];
    if (s.has('pool')) {
      if (i === 0) s.field('pool').bad('the first segment has no client step before it');
      const p = s.field('pool');
      p.object(['windows', 'masked', 'freshLevel']);
      const windows = p.field('windows').items().map((w) => w.items().map((x) => x.integer(0)));
      if (windows.length !== layout.inputSize || windows.some((w) => w.length === 0)) p.field('windows').bad(`need ${layout.inputSize} non-empty windows`);
      pool = { windows, masked: p.field('masked').items().map(format), freshLevel: p.field('freshLevel').integer(0, parameters.levels) };
    }
    const group = (key: 'softmax' | 'layernorm', extra: string[]): { step: GroupStepView; at: JsonAt } | undefined => {
      if (!s.has(key)) return undefined;
      const g = s.field(key);
      if (i === 0) g.bad('the first segment has no client step before it');
      g.object(['groups', 'masked', 'freshLevel', ...extra]);
      const groups = disjointGroups(g.field('groups'), layout.inputSize - 1);
      return { step: { groups, masked: g.field('masked').items().map(format), freshLevel: g.field('freshLevel').integer(0, parameters.levels) }, at: g };
    };
    const softmax = group('softmax', []);
    const layernorm = group('layernorm', ['epsilon']);
    return {
      layout,
      inputCiphertext: format(s.field('inputCiphertext')),
      results,
      rotationSteps,
      needsRelin: s.field('needsRelin').boolean(),
      ...(pool ? { pool } : {}),
      ...(softmax ? { softmax: softmax.step } : {}),
      ...(layernorm ? { layernorm: { ...layernorm.step, epsilon: layernorm.at.field('epsilon').numberIn(0, Number.MAX_VALUE) } } : {}),
      ...(masking ? { masking } : {}),
    };
  });
}

function calibratedInputFromJson(at: JsonAt): CalibratedInput {
  return { range: inputRangeFromJson(at, ['margin']), margin: at.field('margin').numberIn(0, Number.MAX_VALUE) };
}
