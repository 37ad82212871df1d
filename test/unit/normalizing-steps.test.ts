/**
 * The softmax and LayerNorm client steps (compiler/client-steps/softmax.ts, layer-norm.ts): the
 * client's operation on hand-worked values; the float64 semantics against a slow softmax and a
 * two-pass LayerNorm; one evaluation through the real mask and unmask circuits (built with
 * CircuitBuilder, scaled and checked, run in simulation) against the same references, landing
 * where the next segment reads; what the client's decryption shows (a row under one offset);
 * and what a client that returns values of its own does to the next segment, as each record's
 * `dishonestClient` says.
 */
import { describe, expect, it } from 'vitest';
import { decodeCompiledModel, encodeCompiledModel, finalizeCompiledModel } from '../../compiler/artifact/codec';
import type { BodySegment, CompiledModelContent, GroupStep, LayerNormStep } from '../../compiler/artifact/types';
import { clientViewFromJson, clientViewToJson } from '../../compiler/artifact/views';
import { layerNormReference } from '../../compiler/approx/layer-norm';
import { softmaxReference } from '../../compiler/approx/softmax';
import { applyStages } from '../../compiler/chain/run';
import type { AffineStage, ApproxStage, LayerNormStage, SoftmaxStage, Stage } from '../../compiler/chain/stages';
import { CircuitBuilder } from '../../compiler/circuit/builder';
import type { Circuit } from '../../compiler/circuit/ir';
import { assignScales } from '../../compiler/circuit/passes-scales';
import type { StepBounds } from '../../compiler/client-steps/kind';
import { LAYER_NORM, normalizeTokens } from '../../compiler/client-steps/layer-norm';
import { SOFTMAX, softmaxRows } from '../../compiler/client-steps/softmax';
import { resultAt } from '../../compiler/client-steps/refresh';
import { outputsOf } from '../../compiler/client-steps/step-circuits';
import { describeClientSteps, drawStepMask, stepKind } from '../../compiler/client-steps/table';
import { nttPrimes } from '../../compiler/params/primes';
import { buildSegments, checkPools, poolCuts } from '../../compiler/plan/refresh-plan';
import { simulateCircuit, simulateSamples } from '../../runtime/backends/simulate';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { mulberry32 } from '../helpers/random';
import { segmentedTiny } from '../helpers/segmented-tiny';
import { simulateStep } from '../helpers/simulate-step';

const SLOTS = 16;
const PRIMES = nttPrimes(2 * SLOTS, 40, 5).map(Number);
const BOUNDS: StepBounds = { maskBits: 20, maskBound: 16, poolScaleOctaves: 4 };

/** A batch-layout segment of n features: each output is its input times 1 (one level), scaled on `primes`. */
function segment(n: number, primes: readonly number[]): Circuit {
  const b = new CircuitBuilder(SLOTS);
  const xs = Array.from({ length: n }, (_v, i) => b.input({ kind: 'feature', feature: i }));
  xs.forEach((x, i) => b.output(b.rescale(b.mulScalar(x, 1)), { kind: 'feature', element: i }));
  return assignScales(b.finish('batch', n, n, 1), primes);
}

/** Per sample (slot), n values in [−8, 8]. */
function samples(seed: number, n: number): Float64Array[] {
  const rnd = mulberry32(seed);
  return Array.from({ length: SLOTS }, () => Float64Array.from({ length: n }, () => 16 * rnd() - 8));
}

/** Samples → the segment's result slot vectors (one per output), by simulating it. */
function resultsOf(from: Circuit, rows: readonly Float64Array[]): Float64Array[] {
  const inputs = Array.from({ length: from.inputSize }, (_v, i) => Float64Array.from(rows, (r) => r[i]!));
  return simulateCircuit(from, inputs);
}

const SOFTMAX_STEP: GroupStep = { groups: [[0, 2, 4], [1, 5]], sources: ['attn/Softmax'] };
const LAYER_NORM_STEP: LayerNormStep = { groups: [[0, 1, 2], [3, 4, 5]], sources: ['ln/LayerNormalization'], epsilon: 0, gamma: [2, -1, 0.5], beta: [0.25, 0, -3] };

/** What the next segment should read: each group through `f`, the rest unchanged. */
function expected(groups: GroupStep['groups'], y: Float64Array, f: (v: Float64Array, j: number) => Float64Array): Float64Array {
  const out = Float64Array.from(y);
  groups.forEach((g, k) => {
    const r = f(Float64Array.from(g, (i) => y[i]!), k);
    g.forEach((i, j) => (out[i] = r[j]!));
  });
  return out;
}
const softmaxWant = (y: Float64Array): Float64Array => expected(SOFTMAX_STEP.groups, y, (v) => softmaxReference(v));
const layerNormWant = (y: Float64Array, step: LayerNormStep = LAYER_NORM_STEP): Float64Array => expected(step.groups, y, (v) => layerNormReference(v, step));

describe("the client's operation, hand-worked", () => {
  it('softmax: each row replaced by its softmax, the rest untouched', () => {
    // Row {0, 1} = (0, ln 3) → (1/4, 3/4); element 2 is in no row.
    const got = softmaxRows([[0, 1]], Float64Array.from([0, Math.log(3), 7]));
    expect(got[0]).toBeCloseTo(0.25, 15);
    expect(got[1]).toBeCloseTo(0.75, 15);
    expect(got[2]).toBe(7);
  });

  it('LayerNorm: each token normalized without γ and β, the rest untouched', () => {
    // Token {0, 2} = (1, 3): mean 2, variance 1 → (−1, 1); with ε = 3: (−1/2, 1/2).
    expect([...normalizeTokens([[0, 2]], 0, Float64Array.from([1, 9, 3]))]).toEqual([-1, 9, 1]);
    expect([...normalizeTokens([[0, 2]], 3, Float64Array.from([1, 9, 3]))]).toEqual([-0.5, 9, 0.5]);
  });
});

describe('float64 semantics against the slow references', () => {
  it('softmax: exact on the rows up to the mask’s rounding, the rest given back', () => {
    const rows = samples(1, 6);
    const got = SOFTMAX.simulate(rows, { kind: 'softmax', softmax: SOFTMAX_STEP }, BOUNDS);
    // z = y + c with |c| ≤ 2^20·16: float64 keeps y to 2^(24 − 53).
    rows.forEach((y, s) => got[s]!.forEach((v, i) => expect(Math.abs(v - softmaxWant(y)[i]!)).toBeLessThan(2 ** -27)));
  });

  it('LayerNorm with ε = 0: exact up to the mask’s rounding, γ and β applied, the rest given back', () => {
    const rows = samples(2, 7);
    const got = LAYER_NORM.simulate(rows, { kind: 'layernorm', layernorm: LAYER_NORM_STEP }, BOUNDS);
    rows.forEach((y, s) => got[s]!.forEach((v, i) => expect(Math.abs(v - layerNormWant(y)[i]!)).toBeLessThan(2 ** -20)));
  });

  it('LayerNorm with ε > 0: the client uses ε/a² in effect, within the relative ε/(2·var) the description states', () => {
    const step = { ...LAYER_NORM_STEP, epsilon: 0.05 };
    const rows = samples(3, 6);
    const got = LAYER_NORM.simulate(rows, { kind: 'layernorm', layernorm: step }, BOUNDS);
    let moved = 0;
    rows.forEach((y, s) => {
      const want = layerNormWant(y, step);
      step.groups.forEach((g) => {
        const v = g.map((i) => y[i]!);
        const m = v.reduce((a, x) => a + x, 0) / v.length;
        const variance = v.reduce((a, x) => a + (x - m) ** 2, 0) / v.length;
        g.forEach((i, j) => {
          const normalized = (want[i]! - step.beta[j]!) / step.gamma[j]!;
          const err = Math.abs((got[s]![i]! - step.beta[j]!) / step.gamma[j]! - normalized);
          moved = Math.max(moved, err);
          expect(err).toBeLessThanOrEqual(Math.abs(normalized) * (step.epsilon / (2 * variance)) + 2 ** -20);
        });
      });
    });
    // a ≥ 1 is drawn at random, so the result does move (it is not the exact LayerNorm).
    expect(moved).toBeGreaterThan(1e-6);
  });
});

describe('one evaluation through the mask and unmask circuits (simulated, scales checked)', () => {
  it.each([
    ['softmax', SOFTMAX_STEP, softmaxWant, 6],
    ['layernorm', LAYER_NORM_STEP, layerNormWant, 7],
  ] as const)('%s: the next segment reads the reference, at the level and scale it expects', (kind, group, want, n) => {
    const step = kind === 'softmax' ? ({ kind, softmax: group } as const) : ({ kind, layernorm: group as LayerNormStep } as const);
    const record = stepKind(kind);
    const from = segment(n, PRIMES);
    const to = segment(n, PRIMES.slice(record.unmaskLevels));
    const rows = samples(4, n);
    const drawn = drawStepMask(step, { from, to, top: from }, BOUNDS);
    const masked = simulateStep(drawn.mask, resultsOf(from, rows));
    for (const g of drawn.mask) outputsOf(g.circuit).forEach((at, j) => expect(at).toEqual(record.maskedAt(from, resultAt(from, g.ciphertexts[j]!))));
    const fresh = record.clientOperation(from, to, step, masked);
    const next = simulateStep(drawn.unmask, fresh);
    rows.forEach((y, s) => {
      const w = want(y);
      for (let i = 0; i < n; i++) expect(Math.abs(next[i]![s]! - w[i]!), `sample ${s}, element ${i}`).toBeLessThan(2 ** -18);
    });
  });

  it('softmax: what the client decrypts is each row under one offset — differences within a row kept, its level hidden', () => {
    const from = segment(6, PRIMES);
    const rows = samples(5, 6);
    const drawn = drawStepMask({ kind: 'softmax', softmax: SOFTMAX_STEP }, { from, to: segment(6, PRIMES), top: from }, BOUNDS);
    const z = simulateStep(drawn.mask, resultsOf(from, rows));
    rows.forEach((y, s) => {
      expect(z[2]![s]! - z[0]![s]!).toBeCloseTo(y[2]! - y[0]!, 5);
      expect(Math.abs(z[0]![s]! - y[0]!)).toBeGreaterThan(16);
    });
  });
});

describe('a client that returns values of its own', () => {
  it('softmax: the next segment runs on exactly the weights it returned (no mask to remove)', () => {
    const from = segment(6, PRIMES);
    const to = segment(6, PRIMES);
    const drawn = drawStepMask({ kind: 'softmax', softmax: SOFTMAX_STEP }, { from, to, top: from }, BOUNDS);
    // One-hot "attention" on row {0, 2, 4}: element 2 gets weight 1 in every sample.
    const lie = [0, 0, 1, 0, 0, 0].map((v) => new Float64Array(SLOTS).fill(v));
    const next = simulateStep(drawn.unmask, lie);
    for (const i of [0, 2, 4]) next[i]!.forEach((v) => expect(v).toBeCloseTo(i === 2 ? 1 : 0, 9));
  });

  it('LayerNorm: returning n + t moves the next input by exactly γ·t', () => {
    const from = segment(6, PRIMES);
    const to = segment(6, PRIMES.slice(1));
    const rows = samples(6, 6);
    const step = { kind: 'layernorm', layernorm: LAYER_NORM_STEP } as const;
    const drawn = drawStepMask(step, { from, to, top: from }, BOUNDS);
    const masked = simulateStep(drawn.mask, resultsOf(from, rows));
    const honest = LAYER_NORM.clientOperation(from, to, step, masked);
    const t = 0.5;
    const lying = honest.map((v, i) => (i === 1 ? v.map((x) => x + t) : v));
    const a = simulateStep(drawn.unmask, honest);
    const b = simulateStep(drawn.unmask, lying);
    b[1]!.forEach((v, s) => expect(v - a[1]![s]!).toBeCloseTo(LAYER_NORM_STEP.gamma[1]! * t, 8));
  });
});

describe('in words', () => {
  it('compile, the report and the tool description name what the client learns at each kind', () => {
    const seg = { startStage: 1, circuit: segment(6, PRIMES), cost: { counts: { ctMuls: 0 }, latency: {} } } as never;
    const text = describeClientSteps({
      maskBits: 20,
      maskBound: 16,
      poolScaleOctaves: 4,
      segments: [
        { ...(seg as object), softmax: SOFTMAX_STEP },
        { ...(seg as object), layernorm: LAYER_NORM_STEP },
      ] as never,
    });
    expect(text).toMatch(/softmax \(attn\/Softmax; 2 rows\) as an exact client step.*the attention pattern of its own input/);
    expect(text).toMatch(/LayerNorm \(ln\/LayerNormalization; 2 tokens of 3 features\).*normalized hidden state/);
  });
});

describe('in the artifact', () => {
  it('both steps survive the manifest and the client view, the client view without γ and β', () => {
    const model = finalizeCompiledModel(segmentedTiny());
    expect(decodeCompiledModel(encodeCompiledModel(model))).toEqual(model);
    // The served tool's client view: what a client gets, segments and steps included.
    const served = servedModelOf(model, 'tiny');
    const json = served.description.client_view;
    const view = clientViewFromJson(JSON.parse(JSON.stringify(json)));
    expect(clientViewToJson(view)).toEqual(json);
    expect(view.segments![1]!.softmax!.groups).toEqual([[0, 1]]);
    expect(view.segments![2]!.layernorm).toMatchObject({ groups: [[0, 1]], epsilon: 1e-5 });
    expect(JSON.stringify(json)).not.toMatch(/gamma|beta|1\.2345|2\.75/);
    // The model card (the tool description) says what the client learns at each step.
    expect(JSON.stringify(served.card)).toMatch(/attention pattern of its own input.*normalized hidden state/);
  });

  it('a step naming an output the segment before does not write, or a token of the wrong width, is refused in one line', () => {
    const c = segmentedTiny();
    const bad = (seg: Partial<BodySegment>, k: 0 | 1): CompiledModelContent => ({ ...c, refresh: { ...c.refresh!, segments: c.refresh!.segments.map((s, i) => (i === k ? { ...s, ...seg } : s)) } });
    expect(() => finalizeCompiledModel(bad({ softmax: { groups: [[0, 2]], sources: [] } }, 0))).toThrow(/group 0 before segment 2 reads element 2, the segment before writes 2/);
    expect(() => finalizeCompiledModel(bad({ layernorm: { groups: [[0, 1]], sources: [], epsilon: 0, gamma: [1], beta: [0] } }, 1))).toThrow(/tokens, γ and β of different lengths/);
  });
});

describe('where the compiler makes them: softmax and layer-norm step stages in a chain', () => {
  const rnd = mulberry32(12);
  const affine = (n: number, m: number): AffineStage => ({
    kind: 'affine',
    sources: ['fc'],
    inSize: n,
    outSize: m,
    weights: Float64Array.from({ length: n * m }, () => 2 * rnd() - 1),
    bias: Float64Array.from({ length: m }, () => rnd() - 0.5),
  });
  const softmax: SoftmaxStage = { kind: 'softmax', sources: ['attn'], inSize: 4, groups: [[0, 1], [2, 3]] };
  const layernorm: LayerNormStage = { kind: 'layernorm', sources: ['ln'], inSize: 4, groups: [[0, 1, 2, 3]], epsilon: 0, gamma: [1, 2, -1, 0.5], beta: [0, 1, 0, -1] };
  const stages: ApproxStage[] = [affine(3, 4), softmax, affine(4, 4), layernorm, affine(4, 2)];

  it('each is a cut with its step between two segments; the LayerNorm’s next segment starts a level down; the segments and steps compute the chain', () => {
    const plan = buildSegments(stages, poolCuts(stages), 'vector', { outputBits: 8 }, 8);
    expect(plan.steps.map((s) => s.kind)).toEqual(['softmax', 'layernorm']);
    const [first, second, third] = plan.segments.map((s) => s.circuit);
    expect(second!.topLevel).toBe(first!.topLevel);
    expect(third!.topLevel).toBe(first!.topLevel - 1);
    const bounds = { maskBits: plan.maskBits, maskBound: plan.maskBound, poolScaleOctaves: plan.poolScaleOctaves! };
    const xs = Array.from({ length: 5 }, () => Float64Array.from({ length: 3 }, () => 2 * rnd() - 1));
    let rows = simulateSamples(first!, xs);
    rows = simulateSamples(second!, stepKind('softmax').simulate(rows, plan.steps[0]!, bounds));
    rows = simulateSamples(third!, stepKind('layernorm').simulate(rows, plan.steps[1]!, bounds));
    xs.forEach((x, r) => applyStages(stages as Stage[], x).forEach((w, i) => expect(Math.abs(rows[r]![i]! - w), `row ${r} output ${i}`).toBeLessThan(1e-6)));
  });

  it('refused next to another step or at either end of the encrypted part, naming the operator', () => {
    const refused = (s: ApproxStage[]): string => {
      try {
        checkPools(s);
        return 'accepted';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(refused([softmax, affine(4, 2)])).toMatch(/^Softmax \(attn\): a softmax on the encrypted input itself is not supported for encryption yet/);
    expect(refused([affine(3, 4), layernorm])).toMatch(/^LayerNormalization \(ln\): a layer norm as the last step of the encrypted part/);
    expect(refused([affine(3, 4), softmax, layernorm, affine(4, 2)])).toMatch(/two client steps in a row \(a softmax, then a layer norm\)/);
    expect(refused(stages)).toBe('accepted');
  });
});
