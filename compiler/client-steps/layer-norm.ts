/**
 * A LayerNorm between two segments as a client step, using LayerNorm(a·y + c) = LayerNorm(y), a > 0:
 *   server: per sample and token g, a_g log-uniform in [1, 2^octaves] and c_g uniform in
 *           ±2^σ·B·2^octaves: every feature y of token g becomes z = a_g·y + c_g (a plaintext
 *           product and a rescale, then an addPlain: one level); values in no token get an
 *           offset r_i of their own
 *   client: z decrypted, unpacked, each token normalized, n = (z − mean)/√(var + ε) (the rest
 *           unchanged), packed as segment k+1's inputs (output i is input i), encrypted fresh
 *           at the top level → server
 *   server: γ·n + β on the tokens' features, z − r_i on the rest: a plaintext product and a
 *           rescale, so segment k+1 starts a level down
 * Exact when ε = 0. With ε > 0 the client's n is the normalization with ε/a² in place of ε
 * (it cannot scale ε without learning a): it differs from the exact one by a factor
 * √((var + ε)/(var + ε/a²)) ∈ [1, √(1 + ε/var)], which the float64 semantics (`simulate`) carries.
 * The client learns each token's normalized hidden state, (y − mean)/deviation, and not its
 * level (c) or its spread beyond the factor a.
 */
import type { LayerNormStep } from '../artifact/types';
import { normalizeReference, overGroups } from '../chain/normalize';
import { fail } from '../errors';
import type { ClientStepKindRecord, StepBounds } from './kind';
import { POOL_SCALE_OCTAVES } from './max-pool';
import { applyRowMask, checkGroups, drawEvaluationMasks, drawRowMask, packForNext } from './group-mask';
import { inputAt, resultAt } from './refresh';
import { repackSlots } from './repack';
import { affineCircuit, affineCircuits, outputOf } from './step-circuits';

/** A token's scale a is log-uniform in [1, 2^octaves], as a max pool's window scale (one body has one octave count, SegmentedBody.poolScaleOctaves). */
export const LAYER_NORM_SCALE_OCTAVES = POOL_SCALE_OCTAVES;

type LayerNorm = { readonly kind: 'layernorm'; readonly layernorm: LayerNormStep };

/** Each token of `z` normalized, (z − mean)/√(var + ε) over its features; elements in no token unchanged. */
export function normalizeTokens(tokens: LayerNormStep['groups'], epsilon: number, z: Float64Array): Float64Array {
  return overGroups(tokens, z, (v) => normalizeReference(v, epsilon));
}

/** Per element of one sample, the unmasking's factor and offset: γ and β on a token's features, 1 and −r elsewhere. */
function unmaskAffine(step: LayerNormStep, size: number, offsets: Float64Array, grouped: Uint8Array): { scale: Float64Array; shift: Float64Array } {
  const scale = new Float64Array(size).fill(1);
  const shift = offsets.map((c, i) => (grouped[i] ? 0 : -c));
  for (const token of step.groups) {
    token.forEach((i, j) => {
      scale[i] = step.gamma[j]!;
      shift[i] = step.beta[j]!;
    });
  }
  return { scale, shift };
}

function checkAffine(step: LayerNormStep): void {
  if (step.gamma.length !== step.beta.length || step.groups.some((g) => g.length !== step.gamma.length)) {
    fail('BAD_ARTIFACT', `a LayerNorm step with tokens of ${[...new Set(step.groups.map((g) => g.length))].join('/')} features, ${step.gamma.length} scales and ${step.beta.length} shifts`);
  }
}

export const LAYER_NORM: ClientStepKindRecord<LayerNorm, { readonly kind: 'layernorm'; readonly layernorm: Pick<LayerNormStep, 'groups' | 'epsilon'> }> = {
  kind: 'layernorm',
  domain: 'slots',
  // The product by a (rescaled) before the client's normalization; the product by γ after it.
  maskLevels: 1,
  unmaskLevels: 1,
  scaleOctaves: LAYER_NORM_SCALE_OCTAVES,
  maskGrowthBits: (bounds) => octavesOf(bounds),
  // z = a·y + c reaches 2^σ·B·2^octaves; the client's n is at most √d, far inside that.
  roundingBits: (bounds) => octavesOf(bounds) + 1,

  draw({ from, to, top }, { layernorm }, bounds) {
    checkGroups(layernorm.groups, from, to);
    checkAffine(layernorm);
    const { rows, scales, offsets } = drawEvaluationMasks(from, layernorm.groups, bounds.maskBits, bounds.maskBound, octavesOf(bounds));
    const mask = affineCircuits(from, from.outputs.map((_, k) => resultAt(from, k)), scales, offsets);
    const affine = rows.map((r) => unmaskAffine(layernorm, from.outputSize, r.offsets, r.grouped));
    const factor = packForNext(to, affine.map((u) => u.scale));
    const shift = packForNext(to, affine.map((u) => u.shift));
    // The client encrypts at the top level; rescale(n·γ) + β lands where `to` reads.
    const fresh = { level: top.topLevel, scale: inputAt(to).scale };
    return { mask, unmask: affineCircuits(top, factor.map(() => fresh), factor, shift) };
  },
  maskedAt: (from, result) => outputOf(affineCircuit(from, result, new Float64Array(from.slots).fill(1), new Float64Array(from.slots))),

  clientOperation: (from, to, { layernorm }, slotVectors) => repackSlots(from, to, slotVectors, (z) => normalizeTokens(layernorm.groups, layernorm.epsilon, z)),

  // Per sample, z = a·y + c with a fresh mask, the client's normalization of z, then γ·n + β and z − r, in float64.
  simulate(samples, { layernorm }, bounds) {
    checkAffine(layernorm);
    return samples.map((y) => {
      const m = drawRowMask(y.length, layernorm.groups, bounds.maskBits, bounds.maskBound, octavesOf(bounds));
      const n = normalizeTokens(layernorm.groups, layernorm.epsilon, applyRowMask(y, m));
      const { scale, shift } = unmaskAffine(layernorm, y.length, m.offsets, m.grouped);
      return n.map((v, i) => scale[i]! * v + shift[i]!);
    });
  },

  describe({ layernorm }, bounds) {
    const octaves = octavesOf(bounds);
    return (
      `LayerNorm (${layernorm.sources.join(', ')}; ${layernorm.groups.length} tokens of ${layernorm.gamma.length} features) as a client step: the server masks each token's features as a·y + c, ` +
      `with a > 0 log-uniform in [1, 2^${octaves}] and c uniform in ±2^${bounds.maskBits}·2^${octaves}·${bounds.maskBound.toPrecision(3)}, both fresh per token and per sample (LayerNorm(a·y + c) = LayerNorm(y)); ` +
      `the client decrypts, normalizes each token and encrypts it fresh, and the server applies γ and β. ` +
      `The client learns each token's normalized hidden state (y − mean)/deviation; not its mean (c hides it within 2^-${bounds.maskBits}) and its deviation only up to the unknown factor a (2^${octaves}); ` +
      (layernorm.epsilon > 0 ? `as the client cannot scale ε = ${Number(layernorm.epsilon.toPrecision(6))} by a it uses ε/a² in effect, a relative change of at most ε/(2·var) per token; ` : '') +
      `values in no token it sees under a random offset alone, as at a refresh step`
    );
  },

  // The server multiplies what comes back by γ: n + t becomes γ·n + β + γ·t for the next segment.
  dishonestClient: 'returning a normalized value plus t moves the next segment\'s input by γ_j·t exactly: queries map out γ and the layers after the step',
};

function octavesOf(bounds: StepBounds): number {
  if (bounds.poolScaleOctaves === undefined) fail('BAD_ARTIFACT', 'a LayerNorm step without scale octaves (poolScaleOctaves)');
  return bounds.poolScaleOctaves;
}
