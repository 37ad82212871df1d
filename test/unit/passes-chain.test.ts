/**
 * Chain-level pieces: merging consecutive affine stages, calibration ranges and range coverage
 * (checked against the reference interpreter's own intermediate values), and the text/JSON view
 * that `inspect --lowered` prints.
 */
import { describe, expect, it } from 'vitest';
import { calibrate, calibrateStages, rangeCoverage, splitRangeCoverage } from '../../compiler/approx/calibrate';
import { ONNX_DOMAIN, type Graph } from '../../compiler/graph/graph';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import type { NumericTensor } from '../../compiler/graph/tensor';
import { importModelFile } from '../../compiler/onnx/import';
import type { AffineStage, Stage } from '../../compiler/chain/stages';
import { describeLowered, loweredJson } from '../../compiler/passes/describe';
import { composeAffine, mergeAffineStages } from '../../compiler/passes/merge-affine';
import { splitGraph } from '../../compiler/passes/split-graph';
import { applyStages, runPrologue } from '../../compiler/chain/run';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { affineStage } from '../helpers/stages';

function affine(inSize: number, outSize: number, seed: number, sources: string[]): AffineStage {
  return affineStage(outSize, inSize, (_r, _c, i) => Math.sin(seed * 7.1 + i * 1.3), (i) => Math.cos(seed * 3.7 + i), sources);
}

describe('merging affine stages', () => {
  it('W2·W1 and W2·b1 + b2, sources kept in order, activations left alone', () => {
    const stages: Stage[] = [
      affine(3, 4, 1, ['a']),
      affine(4, 2, 2, ['b']),
      { kind: 'activation', sources: ['r'], fn: 'relu', size: 2 },
      affine(2, 5, 3, ['c']),
      affine(5, 2, 4, ['d', 'a']),
    ];
    const merged = mergeAffineStages(stages);
    expect(merged.map((s) => (s.kind === 'affine' ? `${s.inSize}→${s.outSize} ${s.sources.join('+')}` : s.kind === 'activation' ? s.fn : s.kind))).toEqual(['3→2 a+b', 'relu', '2→2 c+d+a']);
    for (const x of [
      [1, -2, 0.5],
      [0, 0, 0],
      [3, 1, -4],
    ]) {
      const v = Float64Array.from(x);
      const a = applyStages(stages, v);
      const b = applyStages(merged, v);
      a.forEach((y, i) => expect(Math.abs(b[i]! - y)).toBeLessThan(1e-12));
    }
  });

  it('refuses stages whose sizes do not chain', () => {
    expect(() => composeAffine(affine(3, 2, 1, []), affine(3, 4, 2, []))).toThrow(RangeError);
  });
});

/** The fixture graph with float casts read as Identity, so its intermediate values are the body's exactly. */
function castFree(graph: Graph): Graph {
  return { ...graph, nodes: graph.nodes.map((n) => (n.opType === 'Cast' && n.domain === ONNX_DOMAIN && n.attributes.get('to')?.type === 'int' && (n.attributes.get('to') as { value: number }).value === 1 ? { ...n, opType: 'Identity', attributes: new Map() } : n)) };
}

describe('calibration', () => {
  const f = loadFixture('sk_mlp_digits_relu');
  const graph = importModelFile(f.modelPath);
  const split = splitGraph(graph).split;
  const calib = inputTensor(f.data, f.data.calibration);
  const reference = (name: string, x: NumericTensor): NumericTensor => runGraph(castFree(graph), new Map([[split.inputName, x]]), [name]).get(name) as NumericTensor;

  it('records the Relu input range, overall and per unit, as the reference computes it', () => {
    const c = calibrate(split, calib);
    expect(c.rows).toBe(f.data.calibration.length);
    expect(c.activations).toHaveLength(1);
    const a = c.activations[0]!;
    expect(a).toMatchObject({ stage: 1, fn: 'relu', size: 32, sources: ['Relu'], count: 32 * c.rows });
    const pre = reference('add_result', calib);
    let lo = Infinity;
    let hi = -Infinity;
    pre.data.forEach((v, i) => {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      const unit = i % 32;
      expect(a.unitMin[unit]!).toBeLessThanOrEqual(v + 1e-9);
      expect(a.unitMax[unit]!).toBeGreaterThanOrEqual(v - 1e-9);
    });
    expect(Math.abs(a.range[0] - lo)).toBeLessThan(1e-9);
    expect(Math.abs(a.range[1] - hi)).toBeLessThan(1e-9);
    expect(a.min).toBe(a.range[0]);
    expect(a.std).toBeGreaterThan(0);
    const mean = pre.data.reduce((s, v) => s + v, 0) / pre.data.length;
    expect(Math.abs(a.mean - mean)).toBeLessThan(1e-9);
    // The body output is the logits the client decrypts.
    const logits = reference('add_result1', calib);
    expect(Math.abs(c.output.max - Math.max(...logits.data))).toBeLessThan(1e-9);
  });

  it('counts test values and rows outside a range', () => {
    const c = calibrate(split, calib);
    const [lo, hi] = c.activations[0]!.range;
    const test = inputTensor(f.data, f.data.test_inputs);
    const narrowed: [number, number] = [lo / 2, hi / 2];
    const [cover] = splitRangeCoverage(split, test, new Map([[1, narrowed]]));
    const pre = reference('add_result', test);
    let values = 0;
    let worst = 0;
    const rows = new Set<number>();
    pre.data.forEach((v, i) => {
      const excess = v < narrowed[0] ? narrowed[0] - v : v > narrowed[1] ? v - narrowed[1] : 0;
      if (excess > 0) {
        values++;
        rows.add(Math.floor(i / 32));
        worst = Math.max(worst, excess);
      }
    });
    expect(values).toBeGreaterThan(0);
    expect(cover).toMatchObject({ stage: 1, valuesOutside: values, rowsOutside: rows.size });
    expect(cover!.valueShare).toBeCloseTo(values / pre.data.length, 12);
    expect(cover!.rowShare).toBeCloseTo(rows.size / f.data.test_inputs.length, 12);
    expect(Math.abs(cover!.worstExcess - worst)).toBeLessThan(1e-9);
    // The calibration rows lie inside their own range by construction.
    const [self] = rangeCoverage(split.body, runPrologue(split, calib), new Map([[1, c.activations[0]!.range]]));
    expect(self!.valuesOutside).toBe(0);
  });

  it('rejects an empty calibration set and a range on a non-activation stage', () => {
    expect(() => calibrateStages(split.body, [])).toThrow(/at least one row/);
    expect(() => rangeCoverage(split.body, [], new Map([[0, [0, 1]]]))).toThrow(/not an activation/);
  });
});

describe('describing the lowered chain', () => {
  it('text lines and JSON for the CNN', () => {
    const split = splitGraph(importModelFile(loadFixture('pt_cnn_digits').modelPath)).split;
    const lines = describeLowered(split);
    expect(lines).toContain('  1. affine 64→256 (/0/Conv, 1936 of 16384 weights non-zero)');
    expect(lines).toContain('  2. relu ×256 (/1/Relu)');
    expect(lines).toContain('  3. affine 256→10 (/2/Pad, /2/AveragePool, /4/Gemm)');
    expect(lines).toContain('client epilogue: (none)');
    const json = loweredJson(split);
    expect(json.body.map((s) => s.kind)).toEqual(['affine', 'activation', 'affine']);
    expect(json.body[0]).toMatchObject({ kind: 'affine', inSize: 64, outSize: 256, nonZeros: 1936 });
    expect(json.input).toEqual({ name: 'input', dtype: 'float32', shape: [1, 8, 8] });
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });

  it('names the client epilogue of a scikit-learn classifier', () => {
    const split = splitGraph(importModelFile(loadFixture('sk_logreg_breast_cancer').modelPath)).split;
    const lines = describeLowered(split);
    expect(lines).toContain('  1. affine 30→1 (Scaler, LinearClassifier)');
    expect(lines).toContain('client epilogue: LinearClassifier, Normalizer');
    expect(loweredJson(split).epilogue).toEqual([
      { name: 'LinearClassifier/post', opType: 'LinearClassifier', domain: 'ai.onnx.ml' },
      { name: 'Normalizer', opType: 'Normalizer', domain: 'ai.onnx.ml' },
    ]);
  });
});
