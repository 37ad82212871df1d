/**
 * The five torch.onnx transformer exports (hand-written attention, nn.MultiheadAttention,
 * nn.TransformerEncoderLayer, an FT-Transformer-style tabular model, a text model over int64
 * token ids) run by the float64 reference on every test row: against onnxruntime-node and
 * against torch's own recorded outputs (within 1e-5 of max(1, |y|)), with torch's labels on every
 * row and the accuracy its README reports. All but nn.MultiheadAttention's split into a body of
 * affine maps, products and row-wise stages (the text model's embedding as a client one-hot times
 * the table) that computes torch's outputs in float64; those that compile (fixture-status) are
 * simulated in test/e2e/transformer-simulate.test.ts; the others are refused in one line.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import type { NumericTensor } from '../../compiler/graph/tensor';
import { importModelFile } from '../../compiler/onnx/import';
import { compileModel } from '../../compiler/pipeline/compile';
import { runSplit } from '../../compiler/chain/run';
import { splitGraph } from '../../compiler/passes/split-graph';
import { inspectModel } from '../../runtime/cli/inspect';
import { inputTensor, loadFixture, ortInput, type ExpectedEntry } from '../helpers/fixtures';
import { FIXTURE_STAGE } from '../helpers/fixture-status';

const TRANSFORMERS = ['pt_attn_digits_rows', 'pt_mha_digits_rows', 'pt_stdlayer_wine', 'pt_tabformer_breast_cancer', 'pt_text_before_synthetic'];
const TOLERANCE = 1e-5;

function flat(e: ExpectedEntry): number[] {
  return Array.isArray(e) ? e.flatMap(flat) : [e as number];
}

function rows(data: ArrayLike<number>, width: number): number[][] {
  return Array.from({ length: data.length / width }, (_v, r) => Array.from(data).slice(r * width, (r + 1) * width));
}

function worst(ours: number[][], theirs: number[][]): number {
  expect(ours.length).toBe(theirs.length);
  let w = 0;
  ours.forEach((row, r) => {
    expect(row.length).toBe(theirs[r]!.length);
    row.forEach((v, j) => (w = Math.max(w, Math.abs(v - theirs[r]![j]!) / Math.max(1, Math.abs(theirs[r]![j]!)))));
  });
  return w;
}

const argmax = (row: number[]): number => row.indexOf(Math.max(...row));

describe('transformer fixtures in the reference', () => {
  for (const name of TRANSFORMERS) {
    describe(name, () => {
      const f = loadFixture(name);

      it('agrees with onnxruntime-node and torch on every test row, and gives torch\'s labels', async () => {
        const graph = importModelFile(f.modelPath);
        expect(graph.inputs[0]!.type.kind === 'tensor' && graph.inputs[0]!.type.dtype).toBe(f.data.input_dtype);
        const out = runGraph(graph, new Map([[f.data.input_name, inputTensor(f.data, f.data.test_inputs)]])).get('output') as NumericTensor;
        const width = out.shape[out.shape.length - 1]!;
        const ours = rows(out.data, width);

        const session = await ort.InferenceSession.create(f.modelPath);
        try {
          const input = ortInput(f.data, f.data.test_inputs);
          const theirs = (await session.run({ [f.data.input_name]: new ort.Tensor(input.type, input.data, input.dims) })).output!;
          expect(worst(ours, rows(theirs.data as Float32Array, width)), 'vs onnxruntime').toBeLessThanOrEqual(TOLERANCE);
        } finally {
          await session.release();
        }

        const torch = f.data.expected['output']!.map(flat);
        expect(worst(ours, torch), 'vs torch').toBeLessThanOrEqual(TOLERANCE);
        expect(ours.map(argmax)).toEqual(f.data.expected['label_derived']);
        const accuracy = ours.filter((row, i) => argmax(row) === f.data.test_labels[i]).length / ours.length;
        expect(accuracy).toBeCloseTo((f.data as unknown as { metrics: { reference_test_accuracy: number } }).metrics.reference_test_accuracy, 5);
      });

      it('inspect says how the compiler holds it; the split runs as the graph does, or compile refuses it in one line', () => {
        const report = inspectModel(f.modelPath);
        expect(report.imports).toBe(true);
        expect(report.refusedFamily).toBeNull();
        expect(report.transformer).toMatch(/^a transformer \(attention, first at MatMul node ".*" \(ai\.onnx opset 1[47]\)\): \d+ MatMuls of two tensors computed from the input \(Q·Kᵀ, the attention weights by V\) become ciphertext × ciphertext product stages; \d+ Softmax and \d+ LayerNorm become row-wise stages/);
        const graph = importModelFile(f.modelPath);
        // nn.MultiheadAttention moves the batch axis into the middle of the block; the passes follow it (batch-axis.ts).
        const { split } = splitGraph(graph);
        const kinds = new Set(split.body.map((s) => s.kind));
        expect([...kinds].sort()).toEqual(['activation', 'affine', 'product', 'rowwise'].filter((k) => k !== 'activation' || kinds.has('activation')));
        const x = inputTensor(f.data, f.data.test_inputs);
        const ours = runSplit(split, x).get('output') as NumericTensor;
        const width = ours.shape[ours.shape.length - 1]!;
        expect(worst(rows(ours.data, width), f.data.expected['output']!.map(flat)), 'split vs torch').toBeLessThanOrEqual(TOLERANCE);
        expect(report.transformer).not.toMatch(/not encryptable/);
        if (FIXTURE_STAGE[name] === 'transformer') return;
        expect(FIXTURE_STAGE[name]).toBe('refused-at-compile');
        let error: unknown;
        try {
          compileModel(f.modelPath, { calibration: inputTensor(f.data, f.data.calibration.slice(0, 8)), layout: 'auto' });
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(DeepPowersError);
        const { code, message } = error as DeepPowersError;
        expect(code).toBe('NOT_ENCRYPTABLE');
        expect(message).toMatch(/^softmax over rows of 10 \(\/blocks\/blocks\.0\/att\/Softmax\) on its calibrated ranges \(scores \[.*\]\) is not supported for encryption yet: exp on \[.*\]: no degree ≤ 255 reaches/);
      });
    });
  }
});
