/**
 * Each compile step alone, against what the step promises: the source hash is the file's SHA-256,
 * the rescaled chain computes the function the unscaled one did and its ranges are the extremes
 * of the activation inputs (a slow obvious walk over the rows), the degree options are exclusive,
 * and auto keeps the cheaper layout.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Stage } from '../../compiler/chain/stages';
import { DeepPowersError } from '../../compiler/errors';
import { quantizedSplit } from '../../compiler/pipeline/exact-chain';
import { approximateSplit } from '../../compiler/pipeline/steps/approximate-split';
import { calibrateSplit } from '../../compiler/pipeline/steps/calibrate-split';
import { chooseLayout } from '../../compiler/pipeline/steps/choose-layout';
import { DEFAULT_NETWORK } from '../../compiler/plan/plan-cost';
import { importSource } from '../../compiler/pipeline/steps/import-source';
import { inputTensor, loadFixture } from '../helpers/fixtures';

const fixture = loadFixture('sk_mlp_digits_relu');
const { graph, source } = importSource(fixture.modelPath);
const { split } = quantizedSplit(graph);
const input = inputTensor(fixture.data, fixture.data.calibration.slice(0, 24));

/** The chain on one row by hand: affine maps as row-by-column sums, ReLU as max(0, x); every activation's input recorded. */
function walk(stages: readonly Stage[], row: Float64Array, seen: number[][]): Float64Array {
  let x = row;
  stages.forEach((s) => {
    if (s.kind === 'affine') {
      const y = new Float64Array(s.outSize);
      for (let i = 0; i < s.outSize; i++) {
        let sum = s.bias[i]!;
        for (let j = 0; j < s.inSize; j++) sum += s.weights[i * s.inSize + j]! * x[j]!;
        y[i] = sum;
      }
      x = y;
    } else {
      seen.push(Array.from(x));
      x = x.map((v) => Math.max(0, v));
    }
  });
  return x;
}

describe('import-source', () => {
  it('records the file SHA-256 and names the model', () => {
    expect(source.sha256).toBe(createHash('sha256').update(readFileSync(fixture.modelPath)).digest('hex'));
    expect(source.file).toBe('model.onnx');
    expect(source.name.length).toBeGreaterThan(0);
  });

  it('refuses a missing file in one line', () => {
    expect(() => importSource('/nonexistent/model.onnx')).toThrow(/^cannot read model \/nonexistent\/model\.onnx: no such file$/);
  });
});

describe('calibrate-split', () => {
  const scaled = calibrateSplit(split, input, {});
  const flat = calibrateSplit(split, input, { perUnitRanges: false });

  it('rescaling ReLU units keeps the chain’s function', () => {
    expect(scaled.unitBounds.size).toBeGreaterThan(0);
    for (const row of scaled.rows) {
      const want = walk(split.body, row, []);
      const got = walk(scaled.split.body, row, []);
      got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-9 * Math.max(1, Math.abs(want[i]!))));
    }
  });

  it('ranges are the extremes of each activation’s inputs over the rows', () => {
    expect(flat.unitBounds.size).toBe(0);
    expect(flat.split.body).toEqual(split.body);
    const inputs: number[][][] = flat.rows.map((row) => {
      const seen: number[][] = [];
      walk(split.body, row, seen);
      return seen;
    });
    flat.calibration.activations.forEach((a, k) => {
      const all = inputs.flatMap((r) => r[k]!);
      expect(a.range[0]).toBeCloseTo(Math.min(...all), 12);
      expect(a.range[1]).toBeCloseTo(Math.max(...all), 12);
    });
  });
});

describe('approximate-split', () => {
  const calibrated = calibrateSplit(split, input, {});

  it('refuses --degree with --max-error', () => {
    expect(() => approximateSplit(calibrated, { degree: 7, maxError: 0.1 })).toThrow(DeepPowersError);
  });

  it('a given degree is used for every activation, with no auto choice', () => {
    const r = approximateSplit(calibrated, { degree: 7 });
    expect(r.degreeChoice).toBeNull();
    expect(r.trial.approximations.map((a) => a.degree)).toEqual(calibrated.calibration.activations.map(() => 7));
    expect(r.trial.stages.filter((s) => s.kind === 'poly')).toHaveLength(calibrated.calibration.activations.length);
  });
});

describe('choose-layout', () => {
  const { trial, outputBits } = approximateSplit(calibrateSplit(split, input, {}), { degree: 3 });
  const steps: string[] = [];
  const plan = { refresh: 'off', objective: 'latency', network: DEFAULT_NETWORK, maxAbs: trial.stats.maxAbs } as const;

  it('lowers only the layout asked for', () => {
    const batch = chooseLayout(trial.stages, 'batch', { outputBits }, plan, (s) => steps.push(s));
    expect(batch.candidates.map((c) => c.layout)).toEqual(['batch']);
    expect(batch.plan.build.circuit.layout).toBe('batch');
    expect(batch.layoutReason).toBe('--layout batch');
    expect(steps).toEqual(['lower batch']);
  });

  it('auto lowers both and keeps the one with the lower estimated latency', () => {
    const auto = chooseLayout(trial.stages, 'auto', { outputBits }, plan, () => {});
    expect(auto.candidates.map((c) => c.layout)).toEqual(['vector', 'batch']);
    const fastest = Math.min(...auto.candidates.map((c) => c.latency.totalMs));
    expect(auto.plan.latency.totalMs).toBe(fastest);
  });
});
