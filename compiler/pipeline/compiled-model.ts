/**
 * A Compilation (everything the pipeline worked out) → the CompiledModel the artifact module
 * validates, hashes and writes. Only plain facts cross over: nothing here depends on paths, time
 * or machine, so the same model and options give the same bytes.
 */
import { segmentStart } from '../plan/refresh-plan';
import { stepFields } from '../client-steps/table';
import { paramsOf } from '../activations/registry';
import { DEFAULT_MARGIN } from '../approx/fit';
import { finalizeCompiledModel } from '../artifact/codec';
import type { JsonObject, JsonValue } from '../artifact/json-text';
import type { CompiledModel } from '../artifact/types';
import { fail } from '../errors';
import type { FittedActivation } from '../approx/approximate-chain';
import type { Compilation, CompileOptions } from './compile';
import type { DegreeChoice } from '../approx/degree-choice';
import { treeSummaryJson } from './steps/encode-trees';

/** The compile options that shape the result, as recorded in the manifest (no data, no paths). */
export function optionsJson(c: Compilation, options: CompileOptions): JsonObject {
  const out: Record<string, JsonValue> = { layout: options.layout ?? 'auto', calibrationRows: c.calibration.rows };
  const optional = {
    degree: c.degreeChoice ? 'auto' : options.degree,
    minAgreement: options.minAgreement,
    precision: options.precision,
    maxError: options.maxError,
    method: options.method,
    margin: options.margin,
    nBits: options.nBits,
    perUnitRanges: options.perUnitRanges === undefined ? undefined : String(options.perUnitRanges),
    biasCorrection: options.biasCorrection === undefined ? undefined : String(options.biasCorrection),
    scaleBits: options.scaleBits,
    objective: options.objective,
    precisionBits: options.precisionBits,
    polyModulusDegree: options.polyModulusDegree,
    refresh: options.refresh,
    name: options.name,
    description: options.description,
    maskBits: options.maskBits,
    onClient: options.onClient !== undefined && options.onClient.length > 0 ? options.onClient.join(',') : undefined,
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) out[k] = v;
  // Why auto picked its degree (the artifact's approximations keep only the fitted result).
  if (c.degreeChoice) out['degreeChoice'] = degreeChoiceJson(c.degreeChoice);
  if (c.trees) out['trees'] = treeSummaryJson(c.trees);
  return out;
}

function degreeChoiceJson(d: DegreeChoice): JsonObject {
  return {
    mode: d.mode,
    comparison: d.comparison,
    target: { ...d.target },
    rows: d.rows,
    // A trial whose outputs went non-finite has no error JSON can hold.
    tried: d.tried.map((t) => ({ ...t, ...(t.maxRelativeError !== undefined ? { maxRelativeError: Number.isFinite(t.maxRelativeError) ? t.maxRelativeError : null } : {}) })),
    degree: d.degree,
    reached: d.reached,
    ...(d.warning !== undefined ? { warning: d.warning } : {}),
  };
}

/** Names given for the model input's features: one per element of a sample, each non-empty and distinct. */
function checkedFeatureNames(names: readonly string[] | undefined, input: string, shape: readonly number[]): readonly string[] | null {
  if (names === undefined) return null;
  const elements = shape.reduce((a, b) => a * b, 1);
  if (names.length !== elements) {
    fail('BAD_ARGUMENT', `--feature-names gives ${names.length} name${names.length === 1 ? '' : 's'}; input "${input}" has ${elements} feature${elements === 1 ? '' : 's'} per row (shape [${shape.join(', ')}])`);
  }
  const seen = new Set<string>();
  for (const n of names) {
    if (n === '') fail('BAD_ARGUMENT', '--feature-names has an empty name');
    if (seen.has(n)) fail('BAD_ARGUMENT', `--feature-names names "${n}" twice`);
    seen.add(n);
  }
  return [...names];
}

function unitBoundsOf(a: FittedActivation): { unitBounds?: Float64Array } {
  return a.unitBounds ? { unitBounds: a.unitBounds } : {};
}

export function toCompiledModel(c: Compilation, options: CompileOptions, toolVersion: string): CompiledModel {
  const { split, build } = c;
  const polys = c.stages.flatMap((s, stage) => (s.kind === 'poly' ? [{ s, stage }] : []));
  if (polys.length !== c.approximations.length) fail('BAD_ARGUMENT', 'approximations do not match the polynomial stages');
  return finalizeCompiledModel({
    source: {
      name: c.source.name,
      sourceFile: c.source.file,
      sha256: c.source.sha256,
      producer: c.source.producer,
      irVersion: c.source.irVersion,
      opsets: c.source.opsets,
    },
    input: { name: split.inputName, dtype: split.inputDType, shape: split.inputShape, featureNames: checkedFeatureNames(options.featureNames, split.inputName, split.inputShape) },
    outputs: split.outputs,
    client: { prologue: split.prologue, epilogue: split.epilogue, constants: split.constants },
    // The prologue's output is flattened per sample before encryption; without a prologue the
    // body reads the model input as it is.
    bodyInput:
      split.prologue.length === 0
        ? { name: split.bodyInput, dtype: split.inputDType, shape: split.inputShape }
        : { name: split.bodyInput, dtype: 'float32', shape: [build.circuit.inputSize] },
    bodyOutput: { name: split.bodyOutput, dtype: split.bodyOutputDType, shape: split.bodyOutputShape },
    parameters: build.params,
    circuit: build.circuit,
    ...(c.refresh
      ? {
          refresh: {
            maskBits: c.refresh.maskBits,
            maskBound: c.refresh.maskBound,
            ...(c.refresh.poolScaleOctaves !== undefined ? { poolScaleOctaves: c.refresh.poolScaleOctaves } : {}),
            segments: c.refresh.segments.slice(1).map((s, i) => {
              return {
                startStage: segmentStart(c.stages, c.refresh!.cuts[i]!),
                ...stepFields(c.refresh!.steps[i]!),
                circuit: s.circuit,
                cost: { counts: s.counts, latency: s.latency },
              };
            }),
          },
        }
      : {}),
    approximations: polys.map(({ s, stage }, k) => ({
      stage,
      sources: s.sources,
      fn: s.fn,
      ...paramsOf(s),
      range: s.range,
      method: s.method,
      degree: s.degree,
      maxError: s.maxError,
      chebyshev: s.chebyshev,
      ...unitBoundsOf(c.approximations[k]!),
    })),
    quantization: c.quantization,
    calibration: {
      rows: c.calibration.rows,
      margin: options.margin ?? DEFAULT_MARGIN,
      ranges: c.approximations.map((a) => ({ stage: a.stage, sources: a.sources, fn: a.fn, ...paramsOf(a), observed: a.calibratedRange, fitted: a.range })),
      input: c.inputRange,
      precision: c.precision,
    },
    cost: { counts: build.counts, latency: build.latency },
    options: optionsJson(c, options),
    toolVersion,
  });
}
