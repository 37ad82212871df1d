import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { clientSplitOf } from '../../compiler/artifact/client-split';
import { runPrologue } from '../../compiler/chain/run';
import { planParallel } from '../../compiler/circuit/parallel-time';
import { DeepPowersError } from '../../compiler/errors';
import { contextSpecOf, type EvaluationKeyBytes, type FheBackend } from '../../runtime/backends/backend';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { workerThreadsBackend, type WorkerThreadsBackend } from '../../runtime/backends/workers/worker-threads-backend';
import { clientModelOf } from '../../runtime/client/client-model';
import { FheClient } from '../../runtime/client/fhe-client';
import { readEnvelope, writeEnvelope } from '../../runtime/wire/envelope';
import { compiledFixture } from '../helpers/compiled-fixture';
import { inputTensor, loadFixture } from '../helpers/fixtures';

/**
 * One evaluation on several threads (--threads; compiler/circuit/parallel-time.ts plans it,
 * runtime/backends/workers/mesh.ts carries the values): on a real fixture, an evaluation alone
 * is split over the threads once the workers hold the circuit and keys (the first runs on this
 * thread while they load them), every op of the circuit runs exactly once on one of the threads,
 * and the result is the one thread's, byte for byte. A part that fails stops the others and the
 * evaluation fails with one line; the next one splits again.
 */
const fixture = loadFixture('sk_logreg_iris_multinomial');
const model = compiledFixture(fixture, { layout: 'vector' });
const spec = contextSpecOf(model.parameters);
const rows = fixture.data.test_inputs.slice(0, 4);
const samples = runPrologue(clientSplitOf(model), inputTensor(fixture.data, rows));

let client: FheClient;
let keyBytes: EvaluationKeyBytes;
/** The input ciphertexts of one evaluation per row. */
let requests: (readonly Uint8Array[])[];
const opened: WorkerThreadsBackend[] = [];

beforeAll(async () => {
  client = await FheClient.create(sealBackend, clientModelOf(model.circuit, model.parameters, model.modelHash));
  const parts = readEnvelope(client.evaluationKeys().bytes, { kind: 'eval-keys', modelHash: model.modelHash, parameterId: spec.parameterId, count: 2 }).parts;
  keyBytes = { relin: parts[0]!.length ? parts[0]! : null, galois: parts[1]!.length ? parts[1]! : null };
  requests = samples.map((s) => readEnvelope(client.encrypt([s]).bytes, { kind: 'ciphertexts', modelHash: model.modelHash, parameterId: spec.parameterId }).parts);
});
afterAll(async () => {
  client.dispose();
  await Promise.all(opened.map((b) => b.close()));
});

/** The model's circuit loaded on `backend` with the client's keys; `run` evaluates one request. */
async function loaded(backend: FheBackend) {
  const ctx = await backend.createContext(spec);
  const circuit = ctx.loadCircuit(model.circuit);
  const keys = circuit.loadEvaluationKeys(keyBytes);
  return {
    run: (inputs: readonly Uint8Array[]) => circuit.execute(inputs, keys),
    dispose() {
      keys.dispose();
      circuit.dispose();
      ctx.dispose();
    },
  };
}

async function oneLine(run: Promise<unknown>): Promise<string> {
  try {
    await run;
  } catch (e) {
    return e instanceof DeepPowersError ? `${e.code}: ${e.message}` : String(e);
  }
  return 'accepted';
}

/** The model loaded on 2 threads (its workers ready) and on this thread alone. */
async function splitAndSerial() {
  const workers = workerThreadsBackend(2);
  opened.push(workers);
  const split = await loaded(workers);
  const serial = await loaded(sealBackend);
  await workers.ready();
  return { workers, split, serial };
}

describe('one evaluation split over 2 threads (sk_logreg_iris_multinomial, vector layout)', () => {
  test('the plan splits this circuit (else the rest of this file would test nothing)', () => {
    expect(planParallel(model.circuit, 2).threads).toBe(2);
  });

  test('each row alone is split once the workers hold the keys; results equal one thread\'s, labels scikit-learn\'s, every op ran once', async () => {
    const { workers, split, serial } = await splitAndSerial();
    try {
      // The first: on this thread, while the worker loads the circuit and keys.
      expect(await split.run(requests[0]!)).toEqual(await serial.run(requests[0]!));
      expect(workers.splitEvaluations().count).toBe(0);
      await workers.ready();
      for (let r = 1; r < rows.length; r++) {
        const got = await split.run(requests[r]!);
        expect(workers.splitEvaluations().count, `row ${r}`).toBe(r);
        // SEAL is deterministic: the same keys, ciphertexts and ops give the same bytes.
        expect(got).toEqual(await serial.run(requests[r]!));
        const logits = client.decrypt(writeResult(got), 1)[0]!;
        expect(logits.indexOf(Math.max(...logits)), `row ${r}`).toBe(fixture.data.expected['label']![r]);

        // The ops the threads ran, together: each op of the circuit but its inputs and outputs, once.
        const last = workers.splitEvaluations().last!;
        expect(last.length).toBe(2);
        expect(last.every((part) => part.ran.length > 0), 'both threads ran ops').toBe(true);
        const ran = last.flatMap((part) => part.ran).sort((a, b) => a - b);
        const want = model.circuit.ops.flatMap((op, i) => (op.op === 'input' || op.op === 'output' ? [] : [i]));
        expect(ran).toEqual(want);
        const received = last.reduce((s, part) => s + part.received, 0);
        expect(received, 'values crossed between the threads').toBeGreaterThan(0);
        expect(received).toBe(last.reduce((s, part) => s + part.sent, 0));
      }
    } finally {
      split.dispose();
      serial.dispose();
    }
  }, 120_000);

  test('a bad input fails the split evaluation with one line, and the next one splits and is right', async () => {
    const { workers, split, serial } = await splitAndSerial();
    try {
      await split.run(requests[0]!);
      await workers.ready();
      const bad = requests[1]!.map((p) => p.slice(0, 40));
      expect(await oneLine(split.run(bad))).toMatch(/^BAD_CIPHERTEXT: input ciphertext 0 is not a ciphertext for parameter set [0-9a-f]{16}: /);
      expect(workers.splitEvaluations().count).toBe(1);
      expect(await split.run(requests[1]!)).toEqual(await serial.run(requests[1]!));
      expect(workers.splitEvaluations().count).toBe(2);
    } finally {
      split.dispose();
      serial.dispose();
    }
  }, 120_000);

  test('a worker that dies in its part fails the split evaluation with one line; this thread does not wait for it', async () => {
    const crashing = workerThreadsBackend(2, { workerEntry: new URL('../helpers/crashing-worker-thread.mjs', import.meta.url) });
    opened.push(crashing);
    const split = await loaded(crashing);
    try {
      await crashing.ready();
      await split.run(requests[0]!);
      await crashing.ready();
      expect(await oneLine(split.run(requests[1]!))).toBe('IO: an evaluation thread stopped (exit code 3); the evaluation was not finished');
      expect(crashing.splitEvaluations().count).toBe(1);
    } finally {
      split.dispose();
    }
  }, 60_000);
});

/** A result envelope around result ciphertexts, as the server sends it. */
function writeResult(parts: Uint8Array[]): Uint8Array {
  return writeEnvelope({ kind: 'result', modelHash: model.modelHash, parameterId: spec.parameterId, parts });
}

describe('one evaluation split over 2 threads, batch layout (one input ciphertext per feature)', () => {
  const batch = compiledFixture(fixture, { layout: 'batch' });
  const batchSpec = contextSpecOf(batch.parameters);

  test('a thread whose part reads none of the last inputs still runs it: results equal one thread\'s, labels scikit-learn\'s', async () => {
    const plan = planParallel(batch.circuit, 2);
    expect(plan.threads, 'the plan splits this circuit').toBe(2);
    const batchClient = await FheClient.create(sealBackend, clientModelOf(batch.circuit, batch.parameters, batch.modelHash));
    const workers = workerThreadsBackend(2);
    opened.push(workers);
    const open = async (backend: FheBackend) => {
      const ctx = await backend.createContext(batchSpec);
      const circuit = ctx.loadCircuit(batch.circuit);
      const keys = circuit.loadEvaluationKeys({ relin: null, galois: null });
      return { run: (inputs: readonly Uint8Array[]) => circuit.execute(inputs, keys), dispose: () => (keys.dispose(), circuit.dispose(), ctx.dispose()) };
    };
    const split = await open(workers);
    const serial = await open(sealBackend);
    try {
      const request = readEnvelope(batchClient.encrypt(samples).bytes, { kind: 'ciphertexts', modelHash: batch.modelHash, parameterId: batchSpec.parameterId }).parts;
      // The workers load the circuit and then the keys while the first evaluations run here.
      for (let i = 0; i < 3; i++) {
        await split.run(request);
        await workers.ready();
      }
      const before = workers.splitEvaluations().count;
      const got = await split.run(request);
      expect(workers.splitEvaluations().count).toBe(before + 1);
      expect(got).toEqual(await serial.run(request));
      const result = writeEnvelope({ kind: 'result', modelHash: batch.modelHash, parameterId: batchSpec.parameterId, parts: got });
      const labels = batchClient.decrypt(result, samples.length).map((l) => l.indexOf(Math.max(...l)));
      expect(labels).toEqual(fixture.data.expected['label']!.slice(0, samples.length));
    } finally {
      split.dispose();
      serial.dispose();
      batchClient.dispose();
    }
  }, 120_000);
});
