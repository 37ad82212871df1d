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
import { runEpilogue, runPrologue } from '../../compiler/chain/run';
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
    // [−31.4, 32.8]): there the coarse division's interpolant is far outside its range and the
    // row comes out NaN, as any polynomial outside its range gives garbage.
    worst.sort((a, b) => a - b);
    expect(worst[Math.ceil(0.99 * worst.length) - 1]!).toBeLessThan(0.3);
  }, 300_000);
});
