/**
 * torch's own attention modules, compiled and simulated: nn.MultiheadAttention (pt_mha_digits_rows,
 * pre-norm, ReLU feed-forward, opset 14) and nn.TransformerEncoderLayer (pt_stdlayer_wine,
 * batch_first, norm_first, GELU, opset 17). Their exports move the batch axis through the block
 * ((L, B, E), (L, B·heads, E/heads), (B·heads, L, E/heads), a Gemm on (L·B, E)); the passes follow
 * it (compiler/passes/batch-axis.ts), so the body holds Q·Kᵀ and A·V as ciphertext × ciphertext
 * products and Softmax and LayerNorm as row-wise stages. Default options but two: both plans are
 * over node-seal's heap (compile says by how much), so they compile with --heap simulation, and
 * in the vector layout, which auto picks (naming it skips lowering the batch layout, minutes on
 * two cores). Degree auto picks 31 for ReLU and 7 for GELU.
 * The simulated circuit gives torch's label on the rows it runs, within 1% of the calibrated
 * output range of torch's outputs.
 */
import { describe, expect, it } from 'vitest';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { FIXTURE_STAGE } from '../helpers/fixture-status';
import { argmax, simulatedRows } from '../helpers/simulated-rows';

const ROWS = 6;


/**
 * Both meet their promise (1% of the calibrated output range) on paper and, measured over all
 * their test rows, in simulation (docs/supported-models.md gives the figures).
 */
const FIXTURES = ['pt_mha_digits_rows', 'pt_stdlayer_wine'] as const;

describe('nn.MultiheadAttention and nn.TransformerEncoderLayer, compiled and simulated', () => {
  for (const name of FIXTURES) {
    it(`${name}: vector layout in refreshed segments with product and row-wise stages; torch's label on every simulated row`, async () => {
      const f = loadFixture(name);
      expect(FIXTURE_STAGE[name]).toBe('transformer');
      const options: CompileOptions = { calibration: inputTensor(f.data, f.data.calibration), heap: 'simulation', layout: 'vector' };
      const c = compileModel(f.modelPath, options);
      expect(c.warnings[0]).toMatch(/^compiled with --heap simulation: the plan runs in simulation; a SEAL run needs about [\d.]+ GiB of WASM memory/);
      expect(c.build.layout).toBe('vector');
      expect(c.refresh?.segments.length).toBeGreaterThanOrEqual(2);
      expect(c.stages.map((s) => s.kind)).toEqual(expect.arrayContaining(['product', 'rowpoly', 'poly', 'affine']));
      expect(c.precision.reached).toBe(true);
      const products = c.stages.filter((s) => s.kind === 'product').length;
      expect(products).toBeGreaterThanOrEqual(2);
      const { rows, torch } = await simulatedRows(c, options, f, ROWS);
      for (let r = 0; r < ROWS; r++) {
        const row = rows[r]!;
        expect(argmax(row), `row ${r}`).toBe(f.data.expected['label_derived']![r]);
        row.forEach((v, j) => expect(Math.abs(v - torch[r]![j]!), `row ${r}, logit ${j}`).toBeLessThan(c.precision.bound));
      }
    }, 600_000);
  }
});
