/**
 * The two transformer fixtures whose attention scores are wide (pt_tabformer_breast_cancer:
 * [−20.7, 22.1], row sums of the max-free Softmax down to 8·10⁻⁹; pt_text_before_synthetic:
 * [−18, 19], down to 6·10⁻⁸): their bodies approximated as compile approximates them at degree 31
 * (Softmax by powers, the wide LayerNorm with a prescale round), run in float64 by the stages'
 * definitions on every test row, against torch's recorded outputs in data.json. This is the
 * approximation alone (no CKKS noise): test/e2e/transformer-simulate.test.ts runs the compiled
 * circuit in simulation.
 */
import { describe, expect, it } from 'vitest';
import { approximateChain } from '../../compiler/approx/approximate-chain';
import { runEpilogue, runPrologue, runSplit } from '../../compiler/chain/run';
import { DEFAULT_MARGIN } from '../../compiler/approx/fit';
import { numeric } from '../../compiler/graph/tensor';
import { applyRangePolicy } from '../../runtime/data/input-range';
import type { NumericTensor } from '../../compiler/graph/tensor';
import { passBody } from '../../compiler/pipeline/exact-chain';
import { importSource } from '../../compiler/pipeline/steps/import-source';
import { calibrateSplit } from '../../compiler/pipeline/steps/calibrate-split';
import { inputTensor, loadFixture, type ExpectedEntry } from '../helpers/fixtures';
import { approxChainByHand } from '../helpers/stages';

const flat = (e: ExpectedEntry): number[] => (Array.isArray(e) ? e.flatMap(flat) : [e as number]);
const argmax = (row: readonly number[]): number => row.indexOf(Math.max(...row));

describe('wide-score transformers, approximated, against torch on every test row', () => {
  it.each(['pt_tabformer_breast_cancer', 'pt_text_before_synthetic'])('%s: Softmax by powers, torch\'s label on ≥ 99% of the test rows, logits near torch\'s', (name) => {
    const f = loadFixture(name);
    const { graph } = importSource(f.modelPath);
    const body = passBody(graph);
    if (body.kind !== 'chain') throw new Error(`${name} is not a chain body`);
    const calibrated = calibrateSplit(body.split, inputTensor(f.data, f.data.calibration), {});
    const { stages } = approximateChain(calibrated.split.body, calibrated.calibration, { degree: 31, unitBounds: calibrated.unitBounds });
    const softmax = stages.filter((s) => s.kind === 'rowpoly' && s.fn.kind === 'softmax');
    // The exps, a coarse division, at least one squaring round, the exact division.
    expect(softmax.length).toBeGreaterThanOrEqual(4);
    const rows = runPrologue(calibrated.split, inputTensor(f.data, f.data.test_inputs)).map((x) => approxChainByHand(stages, x));
    const out = runEpilogue(calibrated.split, rows).get('output') as NumericTensor;
    const width = out.shape[1]!;
    const torch = f.data.expected['output']!.map(flat);
    let agree = 0;
    const worst: number[] = [];
    torch.forEach((t, r) => {
      const row = Array.from(out.data.slice(r * width, (r + 1) * width));
      if (argmax(row) === argmax(t)) agree++;
      // NaN (a row beyond the ranges) counts as the worst.
      worst.push(row.reduce((w, v, j) => (Math.abs(v - t[j]!) <= w ? w : Math.max(w, Math.abs(v - t[j]!)) || Infinity), 0));
    });
    expect(agree / torch.length).toBeGreaterThanOrEqual(0.99);
    // Every row but at most 1 in 100 within 0.3 of torch's logits (they span about 30 for the text
    // model, 12 for the tabular one). The exception is a row whose attention scores leave the
    // widened calibrated range (pt_tabformer_breast_cancer's test row 35 reaches 36.2, past
    // [−31.4, 32.8]): run as given, the coarse division's interpolant is far outside its range and
    // the row comes out NaN, as any polynomial outside its range gives garbage. The client does
    // not run it as given: see the test below.
    worst.sort((a, b) => a - b);
    expect(worst[Math.ceil(0.99 * worst.length) - 1]!).toBeLessThan(0.3);
  }, 300_000);

  // The row whose scores leave the Softmax's range is one whose inputs leave the calibrated input
  // range: the client's check (runtime/data/input-range.ts, what predict and client run before
  // encrypting) lists it, and by default clamps it into the allowed range, where the approximated
  // body is finite again and agrees with the exact model on the clamped row. The ranges here are
  // computed from the calibration rows by the test itself.
  it('pt_tabformer_breast_cancer test row 35 (NaN as given): the client lists it outside the calibrated input range, and clamped it runs to the exact model\'s answer', () => {
    const f = loadFixture('pt_tabformer_breast_cancer');
    const { graph } = importSource(f.modelPath);
    const body = passBody(graph);
    if (body.kind !== 'chain') throw new Error('not a chain body');
    const calibrated = calibrateSplit(body.split, inputTensor(f.data, f.data.calibration), {});
    const { stages } = approximateChain(calibrated.split.body, calibrated.calibration, { degree: 31, unitBounds: calibrated.unitBounds });
    const cal = f.data.calibration as readonly (readonly number[])[];
    const n = cal[0]!.length;
    const range = { min: Array.from({ length: n }, (_, j) => Math.min(...cal.map((r) => r[j]!))), max: Array.from({ length: n }, (_, j) => Math.max(...cal.map((r) => r[j]!))) };
    const row = Float64Array.from(f.data.test_inputs[35] as readonly number[]);
    const run = (values: Float64Array): { exact: number[]; approximated: number[] } => {
      const t = numeric('float32', [1, n], values);
      const exact = runSplit(calibrated.split, t).get('output') as NumericTensor;
      const out = runEpilogue(calibrated.split, runPrologue(calibrated.split, t).map((x) => approxChainByHand(stages, x))).get('output') as NumericTensor;
      return { exact: Array.from(exact.data), approximated: Array.from(out.data) };
    };
    // As given: torch's logits from the exact split, NaN from the approximation.
    const given = run(row);
    given.exact.forEach((v, j) => expect(v).toBeCloseTo(flat(f.data.expected['output']![35]!)[j]!, 4));
    expect(given.approximated.some(Number.isNaN)).toBe(true);
    const decision = applyRangePolicy({ calibrated: { range, margin: DEFAULT_MARGIN }, featureNames: null, shape: [n] }, { file: 'data.json', member: 'test_inputs', rows: 1, rowShape: [n], values: row }, 'clamp');
    expect(decision.outOfRange.map((r) => [r.row, r.action])).toEqual([[1, 'clamped']]);
    const clamped = run(decision.batch.values);
    expect(clamped.approximated.every(Number.isFinite)).toBe(true);
    expect(argmax(clamped.approximated)).toBe(argmax(clamped.exact));
    clamped.approximated.forEach((v, j) => expect(Math.abs(v - clamped.exact[j]!)).toBeLessThan(0.3));
  }, 300_000);
});
