/**
 * The transformers that compile (fixture-status 'transformer'), encrypted end to end in
 * simulation: compiled in the batch layout (one ciphertext per value) and cut into segments by
 * client-aided refreshes, the simulated circuit gives torch's label on the test rows it runs and
 * stays near torch's outputs. All 200 calibration rows: ranges from fewer let test rows outside
 * the Softmax's, which its Newton steps do not forgive. The batch layout holds one ciphertext per
 * value, far more than node-seal's heap, so it compiles with --heap simulation. To keep the run
 * short on two cores: degree 15 for the activations, 8 test rows (pt_attn_*; pt_tabformer_*'s
 * simulation takes minutes and runs with the command in docs/supported-models.md). The split
 * these circuits approximate is held to torch on every test row in conformance/transformer-fixtures.
 */
import { describe, expect, it } from 'vitest';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { runEncrypted } from '../../runtime/run/run-encrypted';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { simulationBackend } from '../../runtime/backends/simulation-backend';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { DeepPowersService } from '../../runtime/mcp/service';
import { backendEvaluator } from '../../runtime/network/worker';
import { DeepPowersError } from '../../compiler/errors';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { FIXTURE_STAGE } from '../helpers/fixture-status';
import { argmax, simulatedRows } from '../helpers/simulated-rows';

const ROWS = 8;

/** The DeepPowersError a promise rejects with; fails the test on any other outcome. */
async function refusalOf(p: Promise<unknown>): Promise<DeepPowersError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DeepPowersError);
    return e as DeepPowersError;
  }
  throw new Error('expected a DeepPowersError refusal, nothing was thrown');
}


describe('transformers, compiled and simulated', () => {
  it('pt_attn_digits_rows: batch layout in refreshed segments with product and row-wise stages; torch\'s label on every simulated row', async () => {
    const f = loadFixture('pt_attn_digits_rows');
    expect(FIXTURE_STAGE['pt_attn_digits_rows']).toBe('transformer');
    // One ciphertext per value: tens of GiB at N=32768, over node-seal's heap, so the plan is kept for simulation.
    const options: CompileOptions = { calibration: inputTensor(f.data, f.data.calibration), degree: 15, heap: 'simulation', layout: 'batch' };
    const c = compileModel(f.modelPath, options);
    expect(c.warnings[0]).toMatch(/^compiled with --heap simulation: the plan runs in simulation; a SEAL run needs about [\d.]+ GiB of WASM memory/);
    expect(c.build.layout).toBe('batch');
    expect(c.refresh?.segments.length).toBeGreaterThanOrEqual(2);
    expect(c.stages.map((s) => s.kind)).toEqual(expect.arrayContaining(['product', 'rowpoly', 'poly', 'affine']));
    // Every product is a ct×ct multiply and a relinearisation in the circuit.
    const products = c.stages.reduce((n, s) => n + (s.kind === 'product' ? s.size : 0), 0);
    const counts = c.refresh!.segments.reduce((n, s) => n + s.counts.ctCtMul, 0);
    expect(counts).toBeGreaterThan(products);
    const { model, rows, torch } = await simulatedRows(c, options, f, ROWS);
    for (let r = 0; r < ROWS; r++) {
      const row = rows[r]!;
      expect(argmax(row), `row ${r}`).toBe(f.data.expected['label_derived']![r]);
      // torch's logits span about 30; the approximations and CKKS noise stay within one (the
      // promise, 1% of that span, is not met at degree 15: the compile warns so).
      row.forEach((v, j) => expect(Math.abs(v - torch[r]![j]!), `row ${r}, logit ${j}`).toBeLessThan(1));
    }

    // The plan is over node-seal's heap: every SEAL path refuses it in one line before making a
    // key or encrypting a row (it would otherwise encrypt for minutes and fail inside WebAssembly).
    const overHeap = /^this model was compiled with --heap simulation: a run on SEAL needs about [\d.]+ GiB of WASM memory .*; run it with --mode simulate/;
    const sample = new Float64Array(model.circuit.inputs.length);
    const direct = await refusalOf(runEncrypted(model, [sample], { backend: sealBackend }));
    expect(direct.code).toBe('PARAMS');
    expect(direct.message).toMatch(overHeap);
    const served = servedModelOf(model, 'attn');
    expect(served.heapShortfall).toMatch(overHeap);
    const dir = mkdtempSync(join(tmpdir(), 'dp-heap-'));
    try {
      const refused = await refusalOf(DeepPowersService.create(sealBackend, [served], dir));
      expect(refused.message).toMatch(/^model attn: this model was compiled with --heap simulation/);
      // The simulation backend holds no WebAssembly heap: it serves the same model.
      const simulated = await DeepPowersService.create(simulationBackend(), [served], dir);
      await simulated.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect((await refusalOf(backendEvaluator(sealBackend, [served]))).code).toBe('PARAMS');
  }, 300_000);

  // Scores about ±18 wide with flat rows next to peaked ones (row sums down to 6·10⁻⁸ of the
  // largest): the Softmax is planned by powers (approx/softmax.ts), the second LayerNorm
  // (variances 0.02 … 9) with a prescale round (approx/layer-norm.ts). The vector layout at
  // degree 31 (what degree auto picks) over node-seal's heap, so --heap simulation; 8 test rows
  // against torch's recorded outputs in data.json. (pt_tabformer_breast_cancer, 31 tokens, takes
  // about three minutes to compile here with --heap simulation, more than this suite can spend:
  // its approximated body is held to torch on every test row in
  // test/unit/wide-softmax-fixtures.test.ts.)
  it.each(['pt_text_before_synthetic'])('%s: the wide-range Softmax by powers, simulated: torch\'s label on every row run, each logit within the precision promise', async (name) => {
    const f = loadFixture(name);
    expect(FIXTURE_STAGE[name]).toBe('transformer');
    const options: CompileOptions = { calibration: inputTensor(f.data, f.data.calibration), degree: 31, heap: 'simulation', layout: 'vector' };
    const c = compileModel(f.modelPath, options);
    const softmax = c.stages.filter((s) => s.kind === 'rowpoly' && s.fn.kind === 'softmax');
    // Its exps and at least three rounds: a coarse division, a squaring round, the exact one.
    expect(softmax.length).toBeGreaterThanOrEqual(4);
    const { model, rows, torch } = await simulatedRows(c, options, f, ROWS);
    const promise = model.calibration.precision;
    for (let r = 0; r < ROWS; r++) {
      const row = rows[r]!;
      expect(argmax(row), `row ${r}`).toBe(argmax(torch[r]!));
      row.forEach((v, j) => expect(Math.abs(v - torch[r]![j]!), `row ${r}, logit ${j}`).toBeLessThanOrEqual(promise.bound));
    }
  }, 900_000);
});
