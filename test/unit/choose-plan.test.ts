import { describe, expect, test } from 'vitest';
import type { ApproxStage } from '../../compiler/chain/stages';
import { BODY_INPUT } from '../../compiler/chain/stage-graph';
import { candidatePlans, choosePlan } from '../../compiler/plan/choose-plan';
import { clientStepBytes, DEFAULT_NETWORK, planLatency } from '../../compiler/plan/plan-cost';
import { cutPoints, splitStages } from '../../compiler/plan/refresh-plan';
import { ciphertextBytes } from '../../compiler/params/sizes';
import { affineStage } from '../helpers/stages';

/**
 * The planner (compiler/plan/choose-plan.ts) on a hand-made chain: three layers of 16 units (two activations) with a
 * degree-7 activation each. As one circuit it is deep enough to need N = 16384; cut between the
 * layers each segment fits N = 8192, at the price of a client round trip per cut. Which plan wins
 * is a matter of the round trip: the predicted latency says so, the heap check sets aside what
 * would not fit.
 */
const poly = (size: number): ApproxStage => ({
  kind: 'poly',
  fn: 'relu',
  sources: ['relu'],
  size,
  range: [-1, 1],
  method: 'chebyshev',
  chebyshev: Float64Array.of(0.3, 0.5, 0.2, 0, -0.05, 0, 0.01, 0),
  degree: 7,
  maxError: 0.01,
});
const layer = (seed: number): ApproxStage => affineStage(16, 16, (r, c) => Math.sin(seed + 3 * r + c) / 8, (r) => 0.01 * r);
const chain: ApproxStage[] = [layer(1), poly(16), layer(2), poly(16), layer(3)];
const options = { outputBits: 8 };

describe('whole plans by predicted end-to-end latency', () => {
  const { plans } = candidatePlans({ stages: chain, layout: 'vector', options, maxAbs: 4, refresh: 'auto', objective: 'latency', network: DEFAULT_NETWORK });
  const uncut = plans.find((p) => !p.refresh)!;
  const cut8192 = plans.find((p) => p.refresh && p.build.params.polyModulusDegree === 8192)!;

  test('one circuit needs a larger N than segments do; both fit the heap', () => {
    expect(uncut.build.params.polyModulusDegree).toBeGreaterThan(8192);
    expect(cut8192.refresh!.segments.length).toBeGreaterThan(1);
    expect(uncut.memory.fits && cut8192.memory.fits).toBe(true);
  });

  test('a plan\'s latency is its segments plus, per client step, a round trip and its bytes at the bandwidth', () => {
    const s = cut8192.refresh!;
    const steps = s.steps.length;
    const bytes = s.steps.reduce((sum, step, i) => sum + clientStepBytes(s.params, s.segments[i]!.circuit, s.segments[i + 1]!.circuit, step), 0);
    // One masked result down at its output level less the mask's level, one fresh seeded input up at the top.
    const first = s.segments[0]!.circuit;
    const out = first.ops.find((op) => op.op === 'output')!;
    expect(clientStepBytes(s.params, first, s.segments[1]!.circuit, s.steps[0]!)).toBe(ciphertextBytes(s.params, out.level) + ciphertextBytes(s.params, s.params.levels, { seeded: true }));
    const l = planLatency(s.params, s.segments, s.steps, { rttMs: 7, bytesPerSecond: 1e6 });
    expect(l.networkMs).toBeCloseTo(7 * steps + (1000 * bytes) / 1e6, 9);
    const segments = s.segments.reduce((t, b) => t + b.latency.totalMs, 0);
    expect(l.totalMs).toBeCloseTo(segments + l.networkMs, 9);
  });

  test('on a fast network the segments at the smaller N win; on a slow one the single circuit does', () => {
    const fast = choosePlan({ stages: chain, layout: 'vector', options, maxAbs: 4, refresh: 'auto', objective: 'latency', network: { rttMs: 0, bytesPerSecond: Infinity } });
    expect(fast.refresh).not.toBeNull();
    expect(fast.build.params.polyModulusDegree).toBe(8192);
    expect(fast.whyCut).toMatch(/^faster end to end than one circuit at N=16384/);
    const slow = choosePlan({ stages: chain, layout: 'vector', options, maxAbs: 4, refresh: 'auto', objective: 'latency', network: { rttMs: 60_000, bytesPerSecond: 125e6 } });
    expect(slow.refresh).toBeNull();
    expect(slow.build.params.polyModulusDegree).toBe(uncut.build.params.polyModulusDegree);
  });

  test('--refresh off offers the single circuit only', () => {
    expect(candidatePlans({ stages: chain, layout: 'vector', options, maxAbs: 4, refresh: 'off', objective: 'latency', network: DEFAULT_NETWORK }).plans.every((p) => !p.refresh)).toBe(true);
  });
});

describe('cuts in a body with a residual branch', () => {
  // x → fc1 → relu → fc2 → relu → fc3([relu1, relu2]): the residual reads the first activation.
  const body: ApproxStage[] = [affineStage(3, 4, () => 0.1, () => 0), poly(3), affineStage(3, 3, () => 0.1, () => 0), poly(3), { ...affineStage(2, 6, () => 0.1, () => 0), reads: [1, 3] }];
  test('a cut where only the activation\'s own output crosses; none where an older one would', () => {
    expect(cutPoints(body)).toEqual([2]);
  });
  test('the segment after it reads that output as its own input', () => {
    const [first, second] = splitStages(body, [2]);
    expect(first).toHaveLength(2);
    expect(second!.map((s) => (s.kind === 'affine' ? s.reads : undefined))).toEqual([undefined, undefined, [BODY_INPUT, 1]]);
  });
});

describe('the heap budget', () => {
  test('a plan over the budget is never chosen: with --refresh off and nothing else it is refused in one line; with client steps the cut plan runs', () => {
    // Four activations: one circuit needs N = 32768, whose Galois keys alone are more than a GiB.
    const deep: ApproxStage[] = [layer(1)];
    for (let k = 0; k < 4; k++) deep.push(poly(16), layer(k + 2));
    expect(() => choosePlan({ stages: deep, layout: 'vector', options, maxAbs: 4, refresh: 'off', objective: 'latency', network: DEFAULT_NETWORK })).toThrow(/^the body as one circuit needs about [\d.]+ GiB of WASM memory at N=32768 [^\n]* over the 3\.50 GiB budget [^\n]*--refresh off forbids the client steps[^\n]*$/);
    const cut = choosePlan({ stages: deep, layout: 'vector', options, maxAbs: 4, refresh: 'auto', objective: 'latency', network: DEFAULT_NETWORK });
    expect(cut.memory.fits).toBe(true);
    expect(cut.build.params.polyModulusDegree).toBeLessThan(32768);
    expect(cut.whyCut).toMatch(/^as one circuit it needs about [\d.]+ GiB/);
  });
});
