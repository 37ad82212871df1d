import { countOps, type LatencyEstimate } from '../circuit/count';
import type { Circuit } from '../circuit/ir';
import type { CkksParameters } from '../params/types';
import { ACTIVATION_FNS, activationRecord, type ActivationUse } from '../activations/registry';
import type { QuantizationSummary, StageQuantization } from '../quantize/summary';
import type { JsonAt } from './json-read';
import { canonicalJson, type JsonValue } from './json-text';
import { plainJson } from './plain-json';
import type { Approximation, CalibratedRange, CalibrationSummary, CostEstimate, InputRange, PrecisionPromise } from './types';

/** The manifest's descriptive sections: parameters, approximations, quantization, calibration, cost. */

const PARAMETER_KEYS = [
  'scheme',
  'polyModulusDegree',
  'coeffModulusBits',
  'primes',
  'primesApprox',
  'scaleBits',
  'outputBits',
  'levels',
  'securityBits',
  'maxBitCount',
  'totalBits',
  'slots',
  'rotationSteps',
  'galoisElements',
  'expectedPrecisionBits',
] as const satisfies readonly (keyof CkksParameters)[];

export function parametersToJson(p: CkksParameters): JsonValue {
  return plainJson(Object.fromEntries(PARAMETER_KEYS.map((k) => [k, p[k]])), 'parameters');
}

export function parametersFromJson(at: JsonAt): CkksParameters {
  at.object(PARAMETER_KEYS);
  const ints = (key: string, min: number, max?: number): number[] =>
    at
      .field(key)
      .items()
      .map((x) => x.integer(min, max));
  const securityBits = at.field('securityBits').integer();
  if (securityBits !== 128) at.field('securityBits').bad(`${securityBits}: only 128-bit security is supported`);
  return {
    scheme: at.field('scheme').oneOf(['ckks'] as const),
    polyModulusDegree: at.field('polyModulusDegree').integer(2),
    coeffModulusBits: ints('coeffModulusBits', 1, 60),
    primes: at
      .field('primes')
      .items()
      .map((x) => {
        const s = x.string();
        if (!/^[1-9][0-9]{0,18}$/.test(s)) x.bad(`expected a prime as a decimal string, got ${JSON.stringify(s)}`);
        return s;
      }),
    primesApprox: at
      .field('primesApprox')
      .items()
      .map((x) => x.numberIn(2, 2 ** 61)),
    scaleBits: at.field('scaleBits').integer(1, 60),
    outputBits: at.field('outputBits').integer(0, 60),
    levels: at.field('levels').integer(0, 62),
    securityBits: 128,
    maxBitCount: at.field('maxBitCount').integer(1),
    totalBits: at.field('totalBits').integer(1),
    slots: at.field('slots').integer(1),
    rotationSteps: ints('rotationSteps', 1),
    galoisElements: ints('galoisElements', 1),
    expectedPrecisionBits: at.field('expectedPrecisionBits').integer(0),
  };
}

/** `fn`, and `params` when the activation has any (absent otherwise, as in artifacts written before parameters existed). */
function activationUseToJson(use: ActivationUse): { fn: string; params?: { [name: string]: number } } {
  return use.params === undefined ? { fn: use.fn } : { fn: use.fn, params: { ...use.params } };
}

function activationUseFromJson(at: JsonAt): ActivationUse {
  const fn = at.field('fn').oneOf(ACTIVATION_FNS);
  if (!at.has('params')) return { fn };
  const allowed = activationRecord(fn).params;
  const params: Record<string, number> = {};
  for (const [name, v] of at.field('params').record()) {
    if (!allowed.includes(name)) v.bad(`${fn} has no parameter "${name}"`);
    params[name] = v.number();
  }
  return { fn, params };
}

export function approximationToJson(a: Approximation): JsonValue {
  return {
    stage: a.stage,
    sources: [...a.sources],
    ...activationUseToJson(a),
    range: [...a.range],
    method: a.method,
    degree: a.degree,
    maxError: a.maxError,
    chebyshev: Array.from(a.chebyshev),
    ...(a.unitBounds ? { unitBounds: Array.from(a.unitBounds) } : {}),
  };
}

export function approximationFromJson(at: JsonAt): Approximation {
  at.object(['stage', 'sources', 'fn', 'range', 'method', 'degree', 'maxError', 'chebyshev'], ['params', 'unitBounds']);
  const degree = at.field('degree').integer(0);
  const chebyshev = Float64Array.from(
    at
      .field('chebyshev')
      .items()
      .map((x) => x.number()),
  );
  if (chebyshev.length !== degree + 1) at.field('chebyshev').bad(`${chebyshev.length} coefficients for degree ${degree}`);
  const maxError = at.field('maxError').number();
  if (maxError < 0) at.field('maxError').bad(`negative (${maxError})`);
  return {
    stage: at.field('stage').integer(0),
    sources: strings(at.field('sources')),
    ...activationUseFromJson(at),
    range: range(at.field('range')),
    method: at.field('method').oneOf(['chebyshev', 'remez', 'square'] as const),
    degree,
    maxError,
    chebyshev,
    ...(at.has('unitBounds')
      ? {
          unitBounds: Float64Array.from(
            at
              .field('unitBounds')
              .items()
              .map((x) => x.numberIn(Number.MIN_VALUE, Number.MAX_VALUE)),
          ),
        }
      : {}),
  };
}

export function quantizationToJson(q: QuantizationSummary | null): JsonValue {
  return q === null ? null : plainJson({ ...q, stages: q.stages.map((s) => ({ ...s, sources: [...s.sources] })) }, 'quantization');
}

export function quantizationFromJson(at: JsonAt): QuantizationSummary | null {
  return at.nullable((q) => {
    q.object(['bits', 'perChannel', 'stages']);
    const stages = q
      .field('stages')
      .items()
      .map((s): StageQuantization => {
        s.object(['stage', 'sources', 'bits', 'perChannel', 'outSize', 'inSize', 'maxScale', 'maxAbsError', 'zeroFraction']);
        return {
          stage: s.field('stage').integer(0),
          sources: strings(s.field('sources')),
          bits: s.field('bits').integer(2, 16),
          perChannel: s.field('perChannel').boolean(),
          outSize: s.field('outSize').integer(1),
          inSize: s.field('inSize').integer(1),
          maxScale: s.field('maxScale').numberIn(0, Number.MAX_VALUE),
          maxAbsError: s.field('maxAbsError').numberIn(0, Number.MAX_VALUE),
          zeroFraction: s.field('zeroFraction').numberIn(0, 1),
        };
      });
    return { bits: q.field('bits').integer(2, 16), perChannel: q.field('perChannel').boolean(), stages };
  });
}

export function calibrationToJson(c: CalibrationSummary): JsonValue {
  return {
    rows: c.rows,
    margin: c.margin,
    ranges: c.ranges.map((r) => ({ stage: r.stage, sources: [...r.sources], ...activationUseToJson(r), observed: [...r.observed], fitted: [...r.fitted] })),
    ...(c.input === null ? {} : { input: inputRangeToJson(c.input) }),
    precision: { ...c.precision, outputRange: [...c.precision.outputRange] },
  };
}

function precisionFromJson(at: JsonAt): PrecisionPromise {
  at.object(['relative', 'outputRange', 'bound', 'approximationError', 'noiseBound', 'reached']);
  return {
    relative: at.field('relative').numberIn(Number.MIN_VALUE, 1),
    outputRange: range(at.field('outputRange'), true),
    bound: at.field('bound').numberIn(Number.MIN_VALUE, Number.MAX_VALUE),
    approximationError: at.field('approximationError').numberIn(0, Number.MAX_VALUE),
    noiseBound: at.field('noiseBound').numberIn(0, Number.MAX_VALUE),
    reached: at.field('reached').boolean(),
  };
}

export function inputRangeToJson(r: InputRange): JsonValue {
  return { min: [...r.min], max: [...r.max] };
}

/** An input range: two equally long lists of finite numbers, min ≤ max element by element. */
export function inputRangeFromJson(at: JsonAt, otherKeys: readonly string[] = []): InputRange {
  at.object(['min', 'max', ...otherKeys]);
  const min = at.field('min').items().map((x) => x.number());
  const max = at.field('max').items().map((x) => x.number());
  if (min.length !== max.length) at.bad(`min has ${min.length} values, max ${max.length}`);
  min.forEach((lo, i) => {
    if (lo > max[i]!) at.field('min').bad(`element ${i} is ${lo}, above its max ${max[i]}`);
  });
  return { min, max };
}

export function calibrationFromJson(at: JsonAt): CalibrationSummary {
  at.object(['rows', 'margin', 'ranges', 'precision'], ['input']);
  return {
    precision: precisionFromJson(at.field('precision')),
    rows: at.field('rows').integer(0),
    margin: at.field('margin').numberIn(0, Number.MAX_VALUE),
    ranges: at
      .field('ranges')
      .items()
      .map((r): CalibratedRange => {
        r.object(['stage', 'sources', 'fn', 'observed', 'fitted'], ['params']);
        return {
          stage: r.field('stage').integer(0),
          sources: strings(r.field('sources')),
          ...activationUseFromJson(r),
          observed: range(r.field('observed'), true),
          fitted: range(r.field('fitted')),
        };
      }),
    input: at.has('input') ? inputRangeFromJson(at.field('input')) : null,
  };
}

export function costToJson(c: CostEstimate): JsonValue {
  return { counts: plainJson(c.counts, 'cost.counts'), latency: plainJson(c.latency, 'cost.latency') };
}

const COST_KINDS = ['rotate', 'relin', 'mulCt', 'mulPt', 'rescale', 'modswitch', 'add'] as const;

/**
 * The stored counts must be exactly what the circuit has: reports read them, and a count that
 * drifted from the ops would mislead. The latency is a prediction and is only type-checked.
 */
export function costFromJson(at: JsonAt, circuit: Circuit): CostEstimate {
  at.object(['counts', 'latency']);
  const counts = countOps(circuit);
  if (canonicalJson(plainJson(counts, 'counts')) !== canonicalJson(at.field('counts').value as JsonValue)) {
    at.field('counts').bad("the stored counts do not match the circuit's ops");
  }
  const l = at.field('latency').object(['serverMs', 'clientMs', 'totalMs', 'byKindMs']);
  const ms = (x: JsonAt): number => x.numberIn(0, Number.MAX_VALUE);
  const byKind = l.field('byKindMs').object(COST_KINDS);
  const latency: LatencyEstimate = {
    serverMs: ms(l.field('serverMs')),
    clientMs: ms(l.field('clientMs')),
    totalMs: ms(l.field('totalMs')),
    byKindMs: Object.fromEntries(COST_KINDS.map((k) => [k, ms(byKind.field(k))])) as LatencyEstimate['byKindMs'],
  };
  return { counts, latency };
}

function strings(at: JsonAt): string[] {
  return at.items().map((x) => x.string());
}

function range(at: JsonAt, allowPoint = false): [number, number] {
  const items = at.items();
  if (items.length !== 2) at.bad(`expected [lo, hi], got ${items.length} numbers`);
  const lo = items[0]!.number();
  const hi = items[1]!.number();
  if (allowPoint ? !(lo <= hi) : !(lo < hi)) at.bad(`expected lo ${allowPoint ? '≤' : '<'} hi, got [${lo}, ${hi}]`);
  return [lo, hi];
}
