/**
 * Refresh cuts in a DAG body (a transformer's residual sums and products): the segments
 * dag-segments makes, run one after the other with each segment's output as the next one's input
 * (what the client's refresh hands over), compute what the uncut body computes, value for value;
 * each segment lowers to a circuit on its own.
 */
import { describe, expect, it } from 'vitest';
import { lowerChain } from '../../compiler/circuit/lower';
import type { AffineStage, ApproxStage, LayerNormStage, PolyStage, ProductStage, RowPolyStage, SoftmaxStage } from '../../compiler/chain/stages';
import { applyStepStage, isStepStage } from '../../compiler/chain/step-stages';
import type { RowPart } from '../../compiler/chain/rowwise';
import { dagCutPoints, liveAt, liveOffset, splitDag } from '../../compiler/plan/dag-segments';
import { cutPoints, splitStages } from '../../compiler/plan/refresh-plan';
import { lcg } from '../helpers/random';
import { approxChainByHand, walkStagesByHand } from '../helpers/stages';

function affine(rows: number, cols: number, seed: number, reads?: number[]): AffineStage {
  const r = lcg(seed);
  const weights = Float64Array.from({ length: rows * cols }, () => (2 * r() - 1) / cols);
  const bias = Float64Array.from({ length: rows }, () => 0.1 * (2 * r() - 1));
  return { kind: 'affine', sources: [`fc${seed}`], inSize: cols, outSize: rows, weights, bias, ...(reads ? { reads } : {}) };
}

const poly = (size: number): PolyStage => ({ kind: 'poly', sources: ['p'], fn: 'tanh', size, range: [-1, 1], method: 'chebyshev', chebyshev: Float64Array.from([0.1, 0.8, 0.2, -0.1]), degree: 3, maxError: 0 });
const at = (n: number): number[] => Array.from({ length: n }, (_v, i) => i);
const product = (reads: [number, number]): ProductStage => ({ kind: 'product', sources: ['mul'], size: 4, reads, factorSizes: [4, 4], left: at(4), right: at(4) });

// 0 = A·x, 1 = p(A·x), 2 = B·[x, p] (a residual), 3 = C·(2), 4 = p ⊙ (3), 5 = D·[(4), x] (x read again at the end).
const stages: ApproxStage[] = [affine(4, 3, 1, [-1]), poly(4), affine(4, 7, 2, [-1, 1]), affine(4, 4, 3, [2]), product([1, 3]), affine(2, 7, 4, [4, -1])];

describe('refresh cuts in a DAG body', () => {
  it('cuts only after a polynomial, where every later reader of an earlier value is a map or a product', () => {
    expect(dagCutPoints(stages)).toEqual([2]);
    expect(cutPoints(stages)).toEqual([2]);
    // Crossing the cut: the body input (read by stages 2 and 5) and the polynomial's output (read by 2 and 4).
    expect(liveAt(stages, 2)).toEqual([-1, 1]);
  });

  it('the segments, run in turn on what crosses each cut, compute the uncut body; each lowers on its own', () => {
    const [first, second] = splitDag(stages, [2]) as [ApproxStage[], ApproxStage[]];
    expect(splitStages(stages, [2])).toEqual([first, second]);
    const r = lcg(7);
    for (let row = 0; row < 3; row++) {
      const x = Float64Array.from({ length: 3 }, () => 2 * r() - 1);
      const carried = approxChainByHand(first, x);
      // The body input and the polynomial's output, concatenated.
      expect(carried.length).toBe(3 + 4);
      const got = approxChainByHand(second, carried);
      const want = approxChainByHand(stages, x);
      want.forEach((w, i) => expect(Math.abs(got[i]! - w)).toBeLessThan(1e-12));
    }
    for (const segment of [first, second]) expect(lowerChain(segment, { layout: 'batch', slots: 8 }).depth).toBeGreaterThan(0);
  });

  it('a Softmax\'s parts may be cut apart, and an affine map from the row-wise stage after it; the part after a cut reads its input through a selection', () => {
    const softmax = (part: RowPart): RowPolyStage => ({ kind: 'rowpoly', sources: ['sm'], fn: { kind: 'softmax' }, size: 4, rowLength: 2, ranges: softmaxRanges, part });
    // 0 = A·x, 1 = its exps, 2 = their normalisation, 3 = B·[(2), x] (the input read again at the end).
    const body: ApproxStage[] = [affine(4, 3, 5, [-1]), softmax('exps'), softmax({ round: 0 }), affine(2, 7, 6, [2, -1])];
    expect(dagCutPoints(body)).toEqual([1, 2, 3]);
    const [first, second] = splitDag(body, [2]) as [ApproxStage[], ApproxStage[]];
    // The body input and the exps cross the cut; the normalisation reads the exps selected from them.
    expect(liveAt(body, 2)).toEqual([-1, 1]);
    expect(second.map((s) => s.kind)).toEqual(['affine', 'rowpoly', 'affine']);
    const r = lcg(9);
    for (let row = 0; row < 3; row++) {
      const x = Float64Array.from({ length: 3 }, () => 2 * r() - 1);
      const got = approxChainByHand(second, approxChainByHand(first, x));
      const want = approxChainByHand(body, x);
      want.forEach((w, i) => expect(Math.abs(got[i]! - w)).toBeLessThan(1e-9));
    }
    for (const segment of [first, second]) expect(lowerChain(segment, { layout: 'vector', slots: 16 }).depth).toBeGreaterThan(0);
  });
});

const softmaxRanges = { kind: 'softmax', scores: [-2, 2], sums: [0.05, 2] } as const;

describe('client steps (compile --on-client) in a DAG body', () => {
  // 0 = A·x, 1 = softmax of (0) in rows of 2 (a client step), 2 = B·[(1), (0)] (the step's input read
  // again, as a pre-norm block's residual reads x beside LN(x)), 3 = LayerNorm of (2) (a client step),
  // 4 = C·[(3), x].
  const softmax: SoftmaxStage = { kind: 'softmax', sources: ['sm'], inSize: 4, groups: [[0, 1], [2, 3]] };
  const layerNorm: LayerNormStage = { kind: 'layernorm', sources: ['ln'], inSize: 4, groups: [[0, 1, 2, 3]], epsilon: 1e-5, gamma: [1, 1, 1, 1], beta: [0, 0, 0, 0] };
  const body: ApproxStage[] = [affine(4, 3, 11, [-1]), softmax, affine(4, 8, 12, [1, 0]), layerNorm, affine(2, 7, 13, [3, -1])];

  it('each step ends a segment with its input handed over in its output\'s place (twice where read again); the steps applied there give the uncut body', () => {
    const [first, second, third] = splitDag(body, [1, 3]) as [ApproxStage[], ApproxStage[], ApproxStage[]];
    // Crossing the softmax step: x, A·x (read again by stage 2) and A·x again where the softmax's output goes.
    const at1 = liveOffset(body, 2, 1);
    expect(at1).toBe(3 + 4);
    const at3 = liveOffset(body, 4, 3);
    expect(at3).toBe(3);
    const shifted = <S extends SoftmaxStage | LayerNormStage>(s: S, by: number): S => ({ ...s, inSize: s.inSize + by, groups: s.groups.map((g) => g.map((i) => i + by)) });
    const r = lcg(21);
    for (let row = 0; row < 3; row++) {
      const x = Float64Array.from({ length: 3 }, () => 2 * r() - 1);
      const handed1 = approxChainByHand(first, x);
      expect(handed1.length).toBe(3 + 4 + 4);
      const handed2 = approxChainByHand(second, applyStepStage(shifted(softmax, at1), handed1));
      expect(handed2.length).toBe(3 + 4);
      const got = approxChainByHand(third, applyStepStage(shifted(layerNorm, at3), handed2));
      const want = walkStagesByHand(body, x, (s, v) => (isStepStage(s) ? applyStepStage(s, v) : fail(s.kind)));
      want.forEach((w, i) => expect(Math.abs(got[i]! - w), `row ${row} output ${i}`).toBeLessThan(1e-12));
    }
    for (const segment of [first, second, third]) expect(lowerChain(segment, { layout: 'batch', slots: 8 }).depth).toBeGreaterThan(0);
  });
});

function fail(kind: string): never {
  throw new Error(`a ${kind} stage in a body of maps and client steps`);
}

