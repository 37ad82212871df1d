import { afterAll, describe, expect, test } from 'vitest';
import { planParallel } from '../../compiler/circuit/parallel-time';
import { DeepPowersError } from '../../compiler/errors';
import { predictPrivately } from '../../runtime/app/node';
import { contextSpecOf } from '../../runtime/backends/backend';
import { workerThreadsBackend } from '../../runtime/backends/workers/worker-threads-backend';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { clientModelOf } from '../../runtime/client/client-model';
import { FheClient } from '../../runtime/client/fhe-client';
import { readEnvelope } from '../../runtime/wire/envelope';
import { compiledFixture } from '../helpers/compiled-fixture';
import { loadFixture } from '../helpers/fixtures';

/**
 * One evaluation on several threads (--threads; compiler/circuit/parallel-time.ts plans it,
 * runtime/backends/pool/mesh.ts carries the values): on a real fixture, a request holding one
 * evaluation is split over the pool's threads, every op of the circuit runs exactly once on one
 * of them, and the results are those of one thread. A part that fails stops the others and the
 * evaluation fails with one line; the next one splits again.
 */
const fixture = loadFixture('sk_logreg_iris_multinomial');
const model = compiledFixture(fixture, { layout: 'vector' });
const pool = workerThreadsBackend(2);
afterAll(() => pool.close());

describe('one evaluation split over 2 threads (sk_logreg_iris_multinomial, vector layout)', () => {
  test('the plan splits this circuit (else the rest of this file would test nothing)', () => {
    expect(planParallel(model.circuit, 2).threads).toBe(2);
  });

  test('each row alone is split; labels are scikit-learn\'s, outputs equal one thread\'s, and every op ran once', async () => {
    await pool.ready();
    const rows = fixture.data.test_inputs.slice(0, 3);
    const before = pool.splitEvaluations().count;
    for (const [r, row] of rows.entries()) {
      const pooled = await predictPrivately(model, [row], { backend: pool });
      expect(pool.splitEvaluations().count, `row ${r}`).toBe(before + r + 1);
      const serial = await predictPrivately(model, [row], { backend: sealBackend });
      expect(pooled['output_label']).toEqual(fixture.data.expected['label']!.slice(r, r + 1));
      expect(serial['output_label']).toEqual(pooled['output_label']);
      // Fresh keys each run, so fresh noise: each run is within the promise of the exact logits,
      // so the two within twice it, and softmax does not widen a gap in the logits (its
      // Jacobian's ∞-norm is at most 1/2).
      const probabilities = (o: typeof pooled) => Object.values((o['output_probability'] as Record<string, number>[])[0]!);
      const [a, b] = [probabilities(pooled), probabilities(serial)];
      expect(a.length).toBe(3);
      a.forEach((p, k) => expect(Math.abs(p - b[k]!), `row ${r} class ${k}`).toBeLessThanOrEqual(2 * model.calibration.precision.bound));

      // The ops the threads ran, together: each op of the circuit but its inputs and outputs, once.
      const last = pool.splitEvaluations().last!;
      expect(last.length).toBe(2);
      expect(last.every((part) => part.ran.length > 0), 'both threads ran ops').toBe(true);
      const ran = last.flatMap((part) => part.ran).sort((a, b) => a - b);
      const want = model.circuit.ops.flatMap((op, i) => (op.op === 'input' || op.op === 'output' ? [] : [i]));
      expect(ran).toEqual(want);
      const received = last.reduce((s, part) => s + part.received, 0);
      expect(received, 'values crossed between the threads').toBeGreaterThan(0);
      expect(received).toBe(last.reduce((s, part) => s + part.sent, 0));
    }
  }, 120_000);

  test('a bad input fails the split evaluation with one line, and the next one splits and is right', async () => {
    const spec = contextSpecOf(model.parameters);
    const client = await FheClient.create(sealBackend, clientModelOf(model.circuit, model.parameters, model.modelHash));
    const keyParts = readEnvelope(client.evaluationKeys().bytes, { kind: 'eval-keys', modelHash: model.modelHash, parameterId: spec.parameterId, count: 2 }).parts;
    const keyBytes = { relin: keyParts[0]!.length ? keyParts[0]! : null, galois: keyParts[1]!.length ? keyParts[1]! : null };
    const sample = Float64Array.from({ length: model.circuit.inputSize }, (_, i) => Math.sin(i + 1) / 2);
    const inputs = readEnvelope(client.encrypt([sample]).bytes, { kind: 'ciphertexts', modelHash: model.modelHash, parameterId: spec.parameterId }).parts;
    const run = async (backend: typeof sealBackend, parts: readonly Uint8Array[]) => {
      const ctx = await backend.createContext(spec);
      const circuit = ctx.loadCircuit(model.circuit);
      const keys = circuit.loadEvaluationKeys(keyBytes);
      try {
        return await circuit.execute(parts, keys);
      } finally {
        keys.dispose();
        circuit.dispose();
        ctx.dispose();
      }
    };
    try {
      await pool.ready();
      const before = pool.splitEvaluations().count;
      const bad = inputs.map((p) => p.slice(0, 40));
      const failure = await run(pool, bad).then(
        () => 'accepted',
        (e: unknown) => (e instanceof DeepPowersError ? `${e.code}: ${e.message}` : String(e)),
      );
      expect(failure).toMatch(/^BAD_CIPHERTEXT: input ciphertext 0 is not a ciphertext for parameter set/);
      expect(pool.splitEvaluations().count).toBe(before + 1);
      const pooled = await run(pool, inputs);
      expect(pool.splitEvaluations().count).toBe(before + 2);
      expect(pooled).toEqual(await run(sealBackend, inputs));
    } finally {
      client.dispose();
    }
  }, 120_000);
});

test('a worker that dies in its part fails the split evaluation with one line; this thread does not wait for it', async () => {
  const crashing = workerThreadsBackend(2, { workerEntry: new URL('../helpers/crashing-worker-thread.mjs', import.meta.url) });
  const spec = contextSpecOf(model.parameters);
  const client = await FheClient.create(sealBackend, clientModelOf(model.circuit, model.parameters, model.modelHash));
  const keyParts = readEnvelope(client.evaluationKeys().bytes, { kind: 'eval-keys', modelHash: model.modelHash, parameterId: spec.parameterId, count: 2 }).parts;
  const inputs = readEnvelope(client.encrypt([new Float64Array(model.circuit.inputSize).fill(0.25)]).bytes, { kind: 'ciphertexts', modelHash: model.modelHash, parameterId: spec.parameterId }).parts;
  client.dispose();
  const ctx = await crashing.createContext(spec);
  const circuit = ctx.loadCircuit(model.circuit);
  const keys = circuit.loadEvaluationKeys({ relin: keyParts[0]!.length ? keyParts[0]! : null, galois: keyParts[1]!.length ? keyParts[1]! : null });
  try {
    await crashing.ready();
    const failure = await circuit.execute(inputs, keys).then(
      () => 'accepted',
      (e: unknown) => (e instanceof DeepPowersError ? `${e.code}: ${e.message}` : String(e)),
    );
    expect(failure).toBe('IO: an evaluation thread stopped (exit code 3); the evaluation was not finished');
    expect(crashing.splitEvaluations().count).toBe(1);
  } finally {
    keys.dispose();
    circuit.dispose();
    ctx.dispose();
    await crashing.close();
  }
}, 60_000);
