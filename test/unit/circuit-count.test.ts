import { describe, expect, it } from 'vitest';
import { countOps, costsFor, DEFAULT_COSTS, estimateLatency } from '../../compiler/circuit/count';
import { lowerChain } from '../../compiler/circuit/lower';
import type { AffineStage, ApproxStage } from '../../compiler/chain/stages';
import { affineStage } from '../helpers/stages';

function affine(rows: number, cols: number): AffineStage {
  return affineStage(rows, cols, (_r, _c, k) => Math.sin(k + 1) / cols, (k) => 0.01 * k);
}

const logistic: ApproxStage[] = [affine(1, 30)];
const mlp: ApproxStage[] = [
  affine(16, 64),
  { kind: 'poly', sources: ['act'], fn: 'relu', size: 16, range: [-1, 1], method: 'chebyshev', chebyshev: Float64Array.from([0.3, 0.5, 0.2, 0, -0.04]), degree: 4, maxError: 0 },
  affine(4, 16),
];

describe('op counts', () => {
  it('counts every op of the circuit by kind and level', () => {
    const c = lowerChain(mlp, { layout: 'vector', slots: 128 });
    const counts = countOps(c);
    const kinds = (k: string): number => c.ops.filter((op) => op.op === k).length;
    expect(counts.rotations).toBe(kinds('rotate'));
    expect(counts.ctCtMul).toBe(kinds('mul'));
    expect(counts.ctPtMul).toBe(kinds('mulPlain') + kinds('mulScalar'));
    expect(counts.rescales).toBe(kinds('rescale'));
    expect(counts.relins).toBe(kinds('relin'));
    expect(counts.ctCtAdd).toBe(kinds('add') + kinds('sub') + kinds('neg'));
    expect(counts.ctPtAdd).toBe(kinds('addPlain') + kinds('addScalar'));
    expect(counts.rotationSteps).toEqual([...new Set(c.ops.flatMap((op) => (op.op === 'rotate' ? [op.k] : [])))].sort((a, b) => a - b));
    const perLevel = counts.byLevel.reduce((s, l) => s + l.rotate, 0);
    expect(perLevel).toBe(counts.rotations);
  });

  it('estimates latency from counts: more ops or a larger N cost more', () => {
    const small = countOps(lowerChain(logistic, { layout: 'vector', slots: 4096 }));
    const big = countOps(lowerChain(mlp, { layout: 'vector', slots: 4096 }));
    for (const n of [8192, 16384, 32768]) {
      expect(estimateLatency(big, n).serverMs).toBeGreaterThan(estimateLatency(small, n).serverMs);
    }
    expect(estimateLatency(big, 16384).totalMs).toBeGreaterThan(estimateLatency(big, 8192).totalMs);
    // The level scaling, worked by hand: with k data primes a key switch at level l (l + 1 primes)
    // costs (l + 1)(l + 2) / (k (k + 1)) of its top-level figure, anything else (l + 1) / k; and
    // costs add up over ops and levels.
    const k = DEFAULT_COSTS[8192]!.dataPrimes;
    const only = (kind: 'rotate' | 'add', level: number, count = 1) => {
      const byLevel = Array.from({ length: k }, () => ({ rotate: 0, relin: 0, mulCt: 0, mulPt: 0, rescale: 0, modswitch: 0, add: 0 }));
      byLevel[level]![kind] = count;
      return estimateLatency({ ...small, byLevel }, 8192).serverMs;
    };
    const rotateTop = DEFAULT_COSTS[8192]!.micros.rotate / 1000;
    expect(only('rotate', k - 1)).toBeCloseTo(rotateTop, 9);
    expect(only('rotate', 0)).toBeCloseTo((rotateTop * 2) / (k * (k + 1)), 9);
    expect(only('rotate', 1)).toBeCloseTo((rotateTop * 6) / (k * (k + 1)), 9);
    expect(only('add', 0)).toBeCloseTo(DEFAULT_COSTS[8192]!.micros.add / 1000 / k, 9);
    expect(only('rotate', 1, 5)).toBeCloseTo(5 * only('rotate', 1), 9);
    expect(costsFor(4096).micros.rotate).toBeCloseTo(DEFAULT_COSTS[8192]!.micros.rotate / 2, 6);
  });
});
