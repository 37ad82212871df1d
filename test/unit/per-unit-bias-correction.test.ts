/**
 * Bias correction of polynomial activations: after it, the approximated chain's mean output error
 * on the calibration rows is zero (exactly, for one activation followed by an affine map), the
 * weights are untouched, and a trailing activation (no affine map after it) is left alone.
 */
import { describe, expect, it } from 'vitest';
import { calibrateStages } from '../../compiler/approx/calibrate';
import { clenshaw } from '../../compiler/approx/chebyshev';
import type { AffineStage, ApproxStage, Stage } from '../../compiler/chain/stages';
import { applyStages } from '../../compiler/chain/run';
import { approximateChain } from '../../compiler/approx/approximate-chain';
import { correctPolynomialBias } from '../../compiler/approx/bias-correction';
import { lcg, uniform } from '../helpers/random';
import { affineStage } from '../helpers/stages';

const rand = uniform(lcg(5), -1, 1);
const affine = (outSize: number, inSize: number): AffineStage => affineStage(outSize, inSize, () => 3 * rand(), () => rand());

function run(stages: readonly ApproxStage[], x: Float64Array): Float64Array {
  return stages.reduce((y, s) => {
    if (s.kind === 'rowpoly') throw new Error('no row-wise stages in these chains');
    return s.kind === 'poly' ? y.map((t) => clenshaw(s.chebyshev, t)) : applyStages([s], y);
  }, x);
}

/** Mean of approximated − exact output over the rows, per output. */
function meanError(exact: readonly Stage[], approx: readonly ApproxStage[], rows: readonly Float64Array[]): Float64Array {
  const mean = new Float64Array(applyStages(exact, rows[0]!).length);
  for (const x of rows) {
    const e = applyStages(exact, x);
    run(approx, x).forEach((v, i) => (mean[i]! += (v - e[i]!) / rows.length));
  }
  return mean;
}

describe('correctPolynomialBias', () => {
  const rows = Array.from({ length: 150 }, () => Float64Array.from({ length: 4 }, () => 2 * rand()));

  for (const fn of ['relu', 'tanh'] as const) {
    it(`${fn}: removes the mean output error on the calibration rows and touches only the next bias`, () => {
      const chain: Stage[] = [affine(6, 4), { kind: 'activation', sources: ['a'], fn, size: 6 }, affine(3, 6)];
      const { stages } = approximateChain(chain, calibrateStages(chain, rows), { degree: 7 });
      const corrected = correctPolynomialBias(stages, rows);
      const before = meanError(chain, stages, rows);
      const after = meanError(chain, corrected, rows);
      expect(Math.max(...before.map(Math.abs))).toBeGreaterThan(1e-3);
      for (const v of after) expect(Math.abs(v)).toBeLessThan(1e-12);
      expect((corrected[2] as AffineStage).weights).toEqual((stages[2] as AffineStage).weights);
      expect(corrected[0]).toBe(stages[0]);
      expect(corrected[1]).toBe(stages[1]);
    });
  }

  it('leaves a trailing activation alone: there is no bias to fold into', () => {
    const chain: Stage[] = [affine(3, 4), { kind: 'activation', sources: ['a'], fn: 'relu', size: 3 }];
    const { stages } = approximateChain(chain, calibrateStages(chain, rows), { degree: 7 });
    expect(correctPolynomialBias(stages, rows)).toEqual(stages);
  });
});
