/**
 * The tiny artifact fixture (test/unit/artifact-fixture.ts: body 3 → 2, y = ((0.5x₀ − x₁)², (−x₁ + 2x₂)²)
 * on a 2-level N = 8192 parameter set) cut into three segments by hand, as tfgraph's passes will
 * cut a transformer: its two outputs → softmax client step → a segment that passes them on
 * (no level) → LayerNorm client step over both (ε = 1e-5, γ = (1.2345, −2.75), β = (0, 0.5)) →
 * a segment computing (y₀, −y₁) (one level, starting a level down after the LayerNorm's unmasking).
 */
import type { BodySegment, CompiledModelContent, LayerNormStep } from '../../compiler/artifact/types';
import { CircuitBuilder } from '../../compiler/circuit/builder';
import { countOps, estimateLatency } from '../../compiler/circuit/count';
import { assignScales } from '../../compiler/circuit/passes-scales';
import { tinyContent } from '../unit/artifact-fixture';

export const TINY_LAYER_NORM: LayerNormStep = { groups: [[0, 1]], sources: ['ln'], epsilon: 1e-5, gamma: [1.2345, -2.75], beta: [0, 0.5] };

export function segmentedTiny(): CompiledModelContent {
  const c = tinyContent();
  const primes = c.parameters.primesApprox.slice(1, c.parameters.levels + 1).reverse();
  // The segment before the LayerNorm spends no level, so its mask has one to spend and one to spare.
  const next = (below: number, startStage: number): BodySegment => {
    const b = new CircuitBuilder(c.parameters.slots);
    const x = b.input({ kind: 'replicated', size: 2, period: 4 });
    b.output(below === 0 ? x : b.rescale(b.mulPlain(x, Float64Array.of(1, -1, 0, 0))), { kind: 'slots', slots: [0, 1], elements: [0, 1] });
    const circuit = assignScales(b.finish('vector', 2, 2, 4), primes.slice(below));
    const counts = countOps(circuit);
    return { startStage, circuit, cost: { counts, latency: estimateLatency(counts, c.parameters.polyModulusDegree) } };
  };
  return {
    ...c,
    refresh: {
      maskBits: 20,
      maskBound: 16,
      poolScaleOctaves: 4,
      segments: [
        { ...next(0, 2), softmax: { groups: [[0, 1]], sources: ['attn'] } },
        { ...next(1, 3), layernorm: TINY_LAYER_NORM },
      ],
    },
  };
}

/** What the segmented tiny body computes, in float64, written out by hand. */
export function segmentedTinyReference(x: ArrayLike<number>): Float64Array {
  const q0 = (0.5 * x[0]! - x[1]!) ** 2;
  const q1 = (-x[1]! + 2 * x[2]!) ** 2;
  const m = Math.max(q0, q1);
  const e0 = Math.exp(q0 - m);
  const e1 = Math.exp(q1 - m);
  const s0 = e0 / (e0 + e1);
  const s1 = e1 / (e0 + e1);
  // LayerNorm of two values: mean (s0 + s1)/2, variance ((s0 − s1)/2)².
  const mean = (s0 + s1) / 2;
  const inv = 1 / Math.sqrt(((s0 - s1) / 2) ** 2 + TINY_LAYER_NORM.epsilon);
  const n0 = TINY_LAYER_NORM.gamma[0]! * (s0 - mean) * inv + TINY_LAYER_NORM.beta[0]!;
  const n1 = TINY_LAYER_NORM.gamma[1]! * (s1 - mean) * inv + TINY_LAYER_NORM.beta[1]!;
  return Float64Array.of(n0, -n1);
}
