/**
 * --degree auto: the smallest of 3, 7, 15, 31, 63, 127, 255 whose approximated chain (polynomials, bias
 * correction) keeps the calibration rows' predictions, measured on the calibration rows only;
 * the best with a warning when none does; explicit --degree and --max-error bypass it.
 */
import { describe, expect, it } from 'vitest';
import { calibrateStages } from '../../compiler/approx/calibrate';
import { DeepPowersError } from '../../compiler/errors';
import type { AffineStage, ApproxStage, Stage } from '../../compiler/chain/stages';
import { applyStages, runPrologue } from '../../compiler/chain/run';
import { APPROXIMATION_SHARE } from '../../compiler/approx/precision-target';
import { compileModel } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import {
  approximateBody,
  AUTO_DEGREES,
  chooseDegree,
  DEFAULT_MIN_AGREEMENT,
  outputAgreement,
  outputComparison,
} from '../../compiler/approx/degree-choice';
import { compileFile } from '../../runtime/app/compile-file';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { mulberry32 } from '../helpers/random';

const rand = mulberry32(11);
const uniform = (): number => 2 * rand() - 1;
const affine = (outSize: number, inSize: number, scale = 2): AffineStage => ({
  kind: 'affine',
  sources: ['fc'],
  inSize,
  outSize,
  weights: Float64Array.from({ length: outSize * inSize }, () => scale * uniform()),
  bias: Float64Array.from({ length: outSize }, () => 0.3 * uniform()),
});
const rows = (n: number, width: number): Float64Array[] => Array.from({ length: n }, () => Float64Array.from({ length: width }, uniform));
const v = (...xs: number[]): Float64Array => Float64Array.from(xs);

/** A chain on one row, slowly and obviously: affine maps as loops, tanh exactly, polynomials by T_k(t) = 2t·T_{k−1} − T_{k−2}. */
function slowRun(stages: readonly (Stage | ApproxStage)[], row: Float64Array): number[] {
  let x = Array.from(row);
  for (const s of stages) {
    if (s.kind === 'affine') {
      x = Array.from({ length: s.outSize }, (_, i) => {
        let sum = s.bias[i]!;
        for (let j = 0; j < s.inSize; j++) sum += s.weights[i * s.inSize + j]! * x[j]!;
        return sum;
      });
    } else if (s.kind === 'activation') {
      if (s.fn !== 'tanh') throw new Error(`slowRun knows tanh only, not ${s.fn}`);
      x = x.map((t) => Math.tanh(t));
    } else if (s.kind !== 'poly') {
      throw new Error(`slowRun knows no ${s.kind} stage`);
    } else {
      x = x.map((t) => {
        let [prev, cur] = [1, t];
        let sum = s.chebyshev[0]! + (s.chebyshev.length > 1 ? s.chebyshev[1]! * t : 0);
        for (let k = 2; k < s.chebyshev.length; k++) {
          [prev, cur] = [cur, 2 * t * cur - prev];
          sum += s.chebyshev[k]! * cur;
        }
        return sum;
      });
    }
  }
  return x;
}

describe('outputComparison', () => {
  it('argmax for several scores, sign for one score the epilogue classifies, relative error for a bare single output', () => {
    expect(outputComparison({ bodyOutputShape: [10], epilogue: [] })).toBe('argmax');
    const sigmoid = { opType: 'Sigmoid', domain: '', name: 's', inputs: ['x'], outputs: ['y'], attributes: new Map() };
    expect(outputComparison({ bodyOutputShape: [1], epilogue: [sigmoid] as never })).toBe('sign');
    expect(outputComparison({ bodyOutputShape: [1], epilogue: [] })).toBe('relative-error');
  });
});

describe('outputAgreement', () => {
  it('counts rows with the same argmax', () => {
    expect(outputAgreement('argmax', [v(1, 2, 0), v(3, 0, 1)], [v(0, 2, 1), v(0, 1, 0)]).agreement).toBe(0.5);
  });

  it('counts rows on the same side of 0 for one score', () => {
    expect(outputAgreement('sign', [v(0.1), v(-2), v(3), v(-1)], [v(0.2), v(0.1), v(2), v(-5)]).agreement).toBe(0.75);
  });

  it('regression: error relative to max(|exact|, 1), so outputs near 0 are held to an absolute 0.01', () => {
    const a = outputAgreement('relative-error', [v(200), v(0.001), v(-50)], [v(201), v(0.02), v(-50.4)]);
    expect(a.maxRelativeError).toBeCloseTo(0.019, 12);
    expect(a.agreement).toBeCloseTo(2 / 3, 12);
  });
});

describe('chooseDegree', () => {
  const chain: Stage[] = [affine(12, 6), { kind: 'activation', sources: ['a'], fn: 'tanh', size: 12 }, affine(4, 12)];
  const calRows = rows(200, 6);
  const calibration = calibrateStages(chain, calRows);

  it('keeps the first degree of 3, 7, 15, 31, 63, 127, 255 that reaches the target; every smaller one missed it', () => {
    for (const minAgreement of [0.9, DEFAULT_MIN_AGREEMENT, 1]) {
      const { choice, trial } = chooseDegree({ body: chain, calibration, rows: calRows, comparison: 'argmax', minAgreement, maxError: Infinity, options: {} });
      expect(choice.tried.map((t) => t.degree)).toEqual(AUTO_DEGREES.slice(0, choice.tried.length));
      expect(choice.reached).toBe(true);
      expect(choice.degree).toBe(choice.tried[choice.tried.length - 1]!.degree);
      expect(choice.tried[choice.tried.length - 1]!.agreement).toBeGreaterThanOrEqual(minAgreement);
      for (const t of choice.tried.slice(0, -1)) expect(t.agreement).toBeLessThan(minAgreement);
      expect(trial.approximations.map((a) => a.degree)).toEqual([choice.degree]);
      expect(choice.warning).toBeUndefined();
    }
    // A stricter target never picks a smaller degree.
    const loose = chooseDegree({ body: chain, calibration, rows: calRows, comparison: 'argmax', minAgreement: 0.8, maxError: Infinity, options: {} }).choice.degree;
    const strict = chooseDegree({ body: chain, calibration, rows: calRows, comparison: 'argmax', minAgreement: 1, maxError: Infinity, options: {} }).choice.degree;
    expect(strict).toBeGreaterThan(loose);
  });

  it('measures each degree on the chain the circuit computes: polynomials with bias correction', () => {
    const { choice } = chooseDegree({ body: chain, calibration, rows: calRows, comparison: 'argmax', minAgreement: 1, maxError: Infinity, options: {} });
    // The agreement by hand: the approximated stages evaluated with loops and the Chebyshev
    // three-term recurrence, the exact chain with Math.tanh, argmax compared row by row.
    const argmax = (x: ArrayLike<number>): number => Array.from(x).reduce((best, v, i, all) => (v > all[best]! ? i : best), 0);
    const exactByHand = calRows.map((r) => argmax(slowRun(chain, r)));
    for (const t of choice.tried) {
      const corrected = approximateBody(chain, calibration, calRows, { degree: t.degree });
      const same = calRows.filter((r, i) => argmax(slowRun(corrected.stages, r)) === exactByHand[i]).length;
      expect(t.agreement).toBe(same / calRows.length);
    }
    // Without bias correction the chain differs, so the measurement must follow the option.
    const degree = choice.tried[0]!.degree;
    const raw = approximateBody(chain, calibration, calRows, { degree, biasCorrection: false });
    const corrected = approximateBody(chain, calibration, calRows, { degree });
    expect(raw.stages[2]).not.toEqual(corrected.stages[2]);
  });

  it('a regression must keep each row within 1% of max(1, |y|), not only the range-wide error', () => {
    // Outputs up to ~60 whose rows near 0 need an absolute error ≤ 0.01: the range-wide budget
    // (Infinity here) would take degree 3.
    const regression: Stage[] = [affine(3, 2), { kind: 'activation', sources: ['t'], fn: 'tanh', size: 3 }, { ...affine(1, 3, 30), bias: v(0) }];
    const reg = rows(150, 2);
    const cal = calibrateStages(regression, reg);
    const { choice } = chooseDegree({ body: regression, calibration: cal, rows: reg, comparison: 'relative-error', minAgreement: 1, maxError: Infinity, options: {} });
    const within = (degree: number): number => {
      const approx = approximateBody(regression, cal, reg, { degree });
      return reg.filter((r) => {
        const exact = slowRun(regression, r)[0]!;
        return Math.abs(slowRun(approx.stages, r)[0]! - exact) <= 0.01 * Math.max(1, Math.abs(exact));
      }).length / reg.length;
    };
    expect(choice.reached).toBe(true);
    expect(choice.degree).toBeGreaterThan(3);
    for (const t of choice.tried) expect(t.agreement).toBeCloseTo(within(t.degree), 12);
    expect(choice.tried[choice.tried.length - 1]!.agreement).toBe(1);
    for (const t of choice.tried.slice(0, -1)) expect(t.agreement).toBeLessThan(1);
  });

  it('when no degree reaches the target: the best agreement, the smaller degree on a tie, and a warning', () => {
    // Two outputs equal in exact arithmetic, relu(x) and relu(2x)/2, through two units fitted on
    // one range: their argmax is decided by p(x) − p(2x)/2 (less its mean, after bias correction),
    // which changes sign across the rows at every degree.
    const homogeneous: Stage[] = [
      { kind: 'affine', sources: ['split'], inSize: 1, outSize: 2, weights: v(1, 2), bias: v(0, 0) },
      { kind: 'activation', sources: ['r'], fn: 'relu', size: 2 },
      { kind: 'affine', sources: ['join'], inSize: 2, outSize: 2, weights: v(1, 0, 0, 0.5), bias: v(0, 0) },
    ];
    const input = Array.from({ length: 101 }, (_, i) => v(-1 + i / 50));
    const cal = calibrateStages(homogeneous, input);
    const { choice } = chooseDegree({ body: homogeneous, calibration: cal, rows: input, comparison: 'argmax', minAgreement: 1, maxError: Infinity, options: {} });
    expect(choice.tried.map((t) => t.degree)).toEqual([...AUTO_DEGREES]);
    expect(choice.reached).toBe(false);
    // The best effort is kept among 3 … 63: 127 and 255 cost levels everywhere and are kept only when they pass.
    const fallback = choice.tried.filter((t) => t.degree <= 63);
    const best = Math.max(...fallback.map((t) => t.agreement));
    expect(choice.degree).toBe(fallback.find((t) => t.agreement === best)!.degree);
    expect(choice.warning).toMatch(/no degree in 3, 7, 15, 31, 63, 127, 255 reaches .* with argmax agreement ≥ 100% .* using degree \d+ .*above 63 a degree is kept only when it reaches the target/);
  });
});

describe('compile with degree auto (the default)', () => {
  const f = loadFixture('sk_mlp_digits_relu');
  const calibration = inputTensor(f.data, f.data.calibration);

  it('sk_mlp_digits_relu: the first degree within the precision share on every calibration row and keeping its labels, recorded in the manifest', () => {
    const c = compileModel(f.modelPath, { calibration, layout: 'vector' });
    const choice = c.degreeChoice!;
    expect(choice.rows).toBe(f.data.calibration.length);
    // The target: 95% of the 1% promise on the calibration output range, computed here from the exact chain.
    const body = runPrologue(c.split, calibration).map((r) => applyStages(c.split.body, r));
    const values = body.flatMap((r) => [...r]);
    const range = Math.max(...values) - Math.min(...values);
    expect(c.precision.outputRange).toEqual([Math.min(...values), Math.max(...values)]);
    expect(choice.target.maxError).toBeCloseTo(APPROXIMATION_SHARE * 0.01 * range, 12);
    expect(choice.tried.map((t) => t.degree)).toEqual(AUTO_DEGREES.slice(0, choice.tried.length));
    const last = choice.tried[choice.tried.length - 1]!;
    expect(last.maxError).toBeLessThanOrEqual(choice.target.maxError);
    expect(last.agreement).toBeGreaterThanOrEqual(DEFAULT_MIN_AGREEMENT);
    for (const t of choice.tried.slice(0, -1)) expect(t.maxError > choice.target.maxError || t.agreement < DEFAULT_MIN_AGREEMENT).toBe(true);
    // Each trial's error is the worst body output of its chain against the exact one.
    const chosen = c.stages;
    const approx = runPrologue(c.split, calibration).map((r) => slowRun(chosen, r));
    let worst = 0;
    body.forEach((e, r) => e.forEach((v, i) => (worst = Math.max(worst, Math.abs(approx[r]![i]! - v)))));
    expect(last.maxError).toBeCloseTo(worst, 9);
    expect(c.approximations.map((a) => a.degree)).toEqual([last.degree]);
    expect(c.warnings).toEqual([]);
    expect(c.precision.reached).toBe(true);
    const model = toCompiledModel(c, { calibration, layout: 'vector' }, 'test');
    expect(model.options['degree']).toBe('auto');
    expect(model.options['degreeChoice']).toMatchObject({ mode: 'auto', comparison: 'argmax', target: { minAgreement: DEFAULT_MIN_AGREEMENT }, degree: last.degree, reached: true });
    expect(model.calibration.precision).toEqual(c.precision);
  });

  it('--degree D and --max-error bypass the choice', () => {
    const fixed = compileModel(f.modelPath, { calibration, layout: 'vector', degree: 7 });
    expect(fixed.degreeChoice).toBeNull();
    expect(fixed.approximations.map((a) => a.degree)).toEqual([7]);
    const byError = compileModel(f.modelPath, { calibration, layout: 'vector', maxError: 0.05 });
    expect(byError.degreeChoice).toBeNull();
    expect(toCompiledModel(fixed, { calibration, layout: 'vector', degree: 7 }, 'test').options['degreeChoice']).toBeUndefined();
  });

  it('refuses --min-agreement outside (0, 1] and next to an explicit degree', () => {
    const refusal = (run: () => unknown): string => {
      try {
        run();
      } catch (e) {
        expect(e).toBeInstanceOf(DeepPowersError);
        return (e as DeepPowersError).code;
      }
      throw new Error('expected a refusal');
    };
    expect(refusal(() => compileModel(f.modelPath, { calibration, layout: 'vector', minAgreement: 1.5 }))).toBe('BAD_ARGUMENT');
    expect(refusal(() => compileFile(f.modelPath, { calibration: 'unused.json', layout: 'vector', degree: 7, minAgreement: 0.9 }, 'test'))).toBe('BAD_ARGUMENT');
  });
});
