/**
 * A model with MaxPool (pt_cnn_maxpool_digits: Conv → ReLU → MaxPool 2×2 → Gemm), compiled with
 * default options, run encrypted: the max pool is a client step between two segments. On SEAL
 * its prediction agrees with PyTorch (data.json); on the simulation backend the step is taken
 * apart: what the client decrypts is masked per window, keeps each window's order, and once the
 * server unmasks the client's maxima the next segment computes the model's logits.
 *
 * One row on SEAL: the default compile lands at N = 16384 (the pool runs ahead of the ReLU, which
 * opens the second segment at degree 31; the pool's mask and unmask take a level each).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { writeCompiledModel } from '../../compiler/artifact/files';
import { validateCompiledModel } from '../../compiler/artifact/validate';
import { loadServedModel } from '../../runtime/service/load-served-model';
import { clientViewFromJson } from '../../compiler/artifact/views';
import { clientModelOfView } from '../../runtime/mcp/private-model';
import { bodyCircuits } from '../../compiler/artifact/segments';
import type { CompiledModel } from '../../compiler/artifact/types';
import { simulateSamples } from '../../runtime/backends/simulate';
import { simulationBackend } from '../../runtime/backends/simulation-backend';
import { FheClient } from '../../runtime/client/fhe-client';
import { runCompiled } from '../../runtime/run/run-compiled';
import { fheBackend } from '../../runtime/run/run-encrypted';
import { FheServer } from '../../runtime/server/fhe-server';
import { readEnvelope, writeEnvelope } from '../../runtime/wire/envelope';
import { agreement } from '../helpers/agreement';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';
import { firstSegmentOnSimulation } from '../helpers/simulated-body';

const NAME = 'pt_cnn_maxpool_digits';
const ROWS = 1;

function compiled(): CompiledModel {
  const f = loadFixture(NAME);
  return compiledFixture(f);
}

describe(`${NAME}: MaxPool as a client step, encrypted`, () => {
  const model = compiled();
  const f = loadFixture(NAME);
  const input = inputTensor(f.data, f.data.test_inputs.slice(0, ROWS));

  /** The first segment run on the simulation backend, the client's step a max pool as the artifact records it. */
  const firstSegmentRun = () => firstSegmentOnSimulation(model, input, [{ kind: 'maxpool', pool: model.refresh!.segments[0]!.pool! }]);

  /** The last segment run on the unmasked maxima `bytes`: the first row's logits are PyTorch's within the precision promise. */
  async function expectPyTorchLogits(server: FheServer, client: FheClient, modelId: string, keysId: string, bytes: Uint8Array): Promise<void> {
    const logits = client.decrypt(await server.evaluate(modelId, keysId, bytes, 1), 1)[0]!;
    const expected = (f.data.expected['output'] as number[][])[0]!;
    logits.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(model.calibration.precision.bound));
  }

  test('compiles with default options into two segments with the pool between them', () => {
    expect(model.refresh?.segments).toHaveLength(1);
    expect(model.refresh!.segments[0]!.pool?.windows).toHaveLength(64);
    // The pool runs ahead of the ReLU it follows in the model (max commutes with it: passes/pool-first.ts), and says so.
    expect(model.refresh!.segments[0]!.pool?.geometry).toBe(
      "2×2 window, strides 2×2, no padding; taken ahead of the ReLU (/1/Relu) that it follows in the model, which never decreases, so the client sees that activation's inputs",
    );
  });

  test('served over MCP, its client view carries both segments and the pool windows the client takes the max of', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dp-maxpool-'));
    try {
      writeCompiledModel(dir, model);
      const served = loadServedModel(dir);
      const view = clientViewFromJson(JSON.parse(JSON.stringify(served.description.client_view)));
      expect(view.segments).toHaveLength(2);
      const client = clientModelOfView(view);
      expect(client.segments![1]!.step!.knows).toEqual({ kind: 'maxpool', pool: { windows: model.refresh!.segments[0]!.pool!.windows } });
      expect(client.segments![0]!.step).toBeUndefined();
      // The keys cover every segment's rotations; the results are the last segment's.
      const [first, second] = bodyCircuits(model);
      expect(client.rotationSteps).toEqual([...new Set([...first!.rotationSteps, ...second!.rotationSteps])].sort((a, b) => a - b));
      expect(client.outputs).toEqual(second!.outputs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`on SEAL: ${ROWS} row, same argmax as PyTorch and within the precision promise, one client step`, async () => {
    const fhe = fheBackend(model);
    const run = await runCompiled(model, input, fhe.backend);
    expect(agreement(f, 'output', 'output', 'close', run.values, ROWS)).toBe(1);
    const expected = f.data.expected['output'] as number[][];
    run.bodyOutputs.forEach((row, r) => row.forEach((v, i) => expect(Math.abs(v - expected[r]![i]!), `row ${r} output ${i}`).toBeLessThan(model.calibration.precision.bound)));
    expect(fhe.lastRun()!.timings.per_evaluation.every((e) => e.client_steps === 1)).toBe(true);
  }, 300_000);

  test('predict --mode fhe sends a batch of rows as one request: one round trip moves every row through the step, and each row still gets its own mask and PyTorch logits', async () => {
    const rows = 5;
    const many = inputTensor(f.data, f.data.test_inputs.slice(0, rows));
    const batched = fheBackend(model, { backend: simulationBackend() });
    const run = await runCompiled(model, many, batched.backend);
    const each = batched.lastRun()!.timings.per_evaluation;
    // Vector layout: 5 evaluations, one request, one client step for all of them (the old path made 5 round trips).
    expect(each.map((e) => [e.evaluations, e.samples, e.client_steps])).toEqual([[rows, rows, 1]]);
    const expected = f.data.expected['output'] as number[][];
    run.bodyOutputs.forEach((row, r) => row.forEach((v, i) => expect(Math.abs(v - expected[r]![i]!), `row ${r} output ${i}`).toBeLessThan(model.calibration.precision.bound)));
    // One evaluation per request when asked (the bench's latency): a round trip per row.
    const single = fheBackend(model, { backend: simulationBackend(), evaluationsPerRequest: 1 });
    await runCompiled(model, many, single.backend);
    expect(single.lastRun()!.timings.per_evaluation.map((e) => e.client_steps)).toEqual([1, 1, 1, 1, 1]);

    // The same row twice in one request: the step masks each evaluation with its own a and c, so what the client sees differs.
    const { server, client, modelId, keysId, sample } = await firstSegmentRun();
    try {
      const twice = await server.evaluate(modelId, keysId, client.encrypt([sample, sample]).bytes);
      const [z1, z2] = client.decryptStep((await server.maskStep(modelId, twice, 0)).bytes, 0);
      const pool = model.refresh!.segments[0]!.pool!;
      const apart = pool.windows.filter((w) => w.every((i) => Math.abs(z1![i]! - z2![i]!) > 1000)).length;
      expect(apart).toBeGreaterThan(0.95 * pool.windows.length);
    } finally {
      client.dispose();
      server.dispose();
    }
  });

  test('the client sees each window under its own scale and offset, in order; the server unmasks its maxima once', async () => {
    const { server, client, circuits, modelId, keysId, sample, result } = await firstSegmentRun();
    const pool = model.refresh!.segments[0]!.pool!;
    try {
      // The segment's own result, in the clear: the first circuit run on float64 slots.
      const y = simulateSamples(circuits[0]!, [sample])[0]!;
      const masked = await server.maskStep(modelId, result, 0);
      const z = client.decryptStep(masked.bytes, 0)[0]!;
      // Vector layout, one sample: output element e sits in slot e.
      let moved = 0;
      for (const w of pool.windows) {
        // The same positive affine map on every value of a window: the order within it is kept.
        const a = (z[w[1]!]! - z[w[0]!]!) / (y[w[1]!]! - y[w[0]!]!);
        if (Math.abs(y[w[1]!]! - y[w[0]!]!) > 1e-3) {
          expect(a).toBeGreaterThan(0.99);
          expect(a).toBeLessThan(16.2);
        }
        const argmax = (v: Float64Array): number => w.reduce((best, i) => (v[i]! > v[best]! ? i : best), w[0]!);
        if (w.every((i) => i === argmax(y) || y[argmax(y)]! - y[i]! > 1e-3)) expect(argmax(z)).toBe(argmax(y));
        if (w.every((i) => Math.abs(z[i]! - y[i]!) > 1000)) moved++;
      }
      // c is uniform in ±2^20·B·2^4 (B ≈ 47): every value of nearly every window moved far.
      expect(moved).toBeGreaterThan(0.95 * pool.windows.length);

      const fresh = client.clientStep(masked.bytes, 0);
      const next = await server.unmaskStep(masked.stepId, fresh);
      await expect(server.unmaskStep(masked.stepId, fresh)).rejects.toThrow(/no client step/);
      await expectPyTorchLogits(server, client, modelId, keysId, next.bytes);
    } finally {
      client.dispose();
      server.dispose();
    }
  });
  test("an answer that is not the step's is refused before the step is used up: another tenant's, the wrong count; then the right one works", async () => {
    const { server, client, served, modelId, keysId, result } = await firstSegmentRun();
    try {
      const alice = { tenant: 'alice', model: 'cnn', keysId };
      const masked = await server.maskStep(modelId, result, 0, alice);
      const fresh = client.clientStep(masked.bytes, 0);
      await expect(server.unmaskStep(masked.stepId, fresh, { ...alice, tenant: 'bob' })).rejects.toThrow(/^no client step .* is waiting/);
      const env = { kind: 'ciphertexts', modelHash: model.modelHash, parameterId: served.parameters.parameterId } as const;
      const parts = readEnvelope(fresh, env).parts;
      const doubled = writeEnvelope({ ...env, parts: [...parts, ...parts] });
      await expect(server.unmaskStep(masked.stepId, doubled, alice)).rejects.toThrow(`the client step sent ${2 * parts.length} ciphertexts, the next segment reads ${parts.length}`);
      expect(server.pendingSteps()).toBe(1);
      const next = await server.unmaskStep(masked.stepId, fresh, alice);
      expect(next.segment).toBe(1);
      await expectPyTorchLogits(server, client, modelId, keysId, next.bytes);
    } finally {
      client.dispose();
      server.dispose();
    }
  });
});

describe(`${NAME} packed for throughput (--objective throughput, vector layout): many rows per ciphertext through the client step at once`, () => {
  const f = loadFixture(NAME);
  const model = compiledFixture(f, { layout: 'vector', objective: 'throughput' });
  const per = model.circuit.samplesPerCiphertext;

  test('every segment packs the same rows per ciphertext; 40 rows are 2 evaluations in one request, one round trip, each row within the promise of PyTorch', async () => {
    // 8×8 inputs and 4×8×8 conv outputs fit 256 slots: 8192 / 256 = 32 rows per ciphertext at N = 16384.
    expect(model.parameters.polyModulusDegree).toBe(16384);
    expect(per).toBe(32);
    expect(bodyCircuits(model).map((c) => c.samplesPerCiphertext)).toEqual([per, per]);
    const rows = 40;
    const fhe = fheBackend(model, { backend: simulationBackend() });
    const run = await runCompiled(model, inputTensor(f.data, f.data.test_inputs.slice(0, rows)), fhe.backend);
    expect(fhe.lastRun()!.timings.per_evaluation.map((e) => [e.evaluations, e.samples, e.client_steps])).toEqual([[2, rows, 1]]);
    const expected = f.data.expected['output'] as number[][];
    run.bodyOutputs.forEach((row, r) => row.forEach((v, i) => expect(Math.abs(v - expected[r]![i]!), `row ${r} output ${i}`).toBeLessThan(model.calibration.precision.bound)));
  });

  test('an artifact whose segments pack different numbers of rows per ciphertext is refused', () => {
    expect(() => validateCompiledModel(model)).not.toThrow();
    const segment = model.refresh!.segments[0]!;
    const unpacked = { ...model, refresh: { ...model.refresh!, segments: [{ ...segment, circuit: { ...segment.circuit, samplesPerCiphertext: 1 } }] } };
    expect(() => validateCompiledModel(unpacked)).toThrow(/refresh: segment 2 packs 1 samples per ciphertext, the first 32/);
  });

  test('the same row in two places of one ciphertext is masked apart: a and c are drawn per row', async () => {
    const input = inputTensor(f.data, f.data.test_inputs.slice(0, 1));
    const { server, client, modelId, keysId, sample } = await firstSegmentOnSimulation(model, input, [{ kind: 'maxpool', pool: model.refresh!.segments[0]!.pool! }]);
    try {
      const twice = await server.evaluate(modelId, keysId, client.encrypt([sample, sample]).bytes);
      const [z] = client.decryptStep((await server.maskStep(modelId, twice, 0)).bytes, 0);
      // Interleaved: row j's element e sits in slot e·32 + j (vector layout, one output ciphertext).
      const pool = model.refresh!.segments[0]!.pool!;
      const apart = pool.windows.filter((w) => w.every((e) => Math.abs(z![e * per]! - z![e * per + 1]!) > 1000)).length;
      expect(apart).toBeGreaterThan(0.95 * pool.windows.length);
    } finally {
      client.dispose();
      server.dispose();
    }
  });
});
