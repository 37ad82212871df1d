import { afterAll, expect, test } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import { contextSpecOf } from '../../runtime/backends/backend';
import { workerThreadsBackend } from '../../runtime/backends/workers/worker-threads-backend';
import { readEnvelope } from '../../runtime/wire/envelope';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { clientModelOf } from '../../runtime/client/client-model';
import { FheClient } from '../../runtime/client/fhe-client';
import { inLanes } from '../../runtime/backends/lanes';
import { compileToy, toySamples } from './seal-test-circuits';

/**
 * How the worker-threads backend shares evaluations between this thread and its workers, and what it does when a
 * worker thread fails, with a stand-in worker
 * (test/helpers/crashing-worker-thread.mjs) behind the real backend and a real circuit and keys on
 * this thread: a thread that dies fails the evaluation it held with one line and a fresh thread
 * takes its place; a failure inside a worker's engine fails the evaluation and the worker is
 * replaced rather than trusted again.
 */
const workers = workerThreadsBackend(2, { workerEntry: new URL('../helpers/crashing-worker-thread.mjs', import.meta.url) });
afterAll(() => workers.close());

async function oneLine(run: Promise<unknown>): Promise<string> {
  try {
    await run;
  } catch (e) {
    return e instanceof DeepPowersError ? `${e.code}: ${e.message}` : `${(e as Error).name}: ${(e as Error).message}`;
  }
  return 'accepted';
}

test('a worker that dies or fails is replaced; its evaluation fails with one line', async () => {
  const toy = compileToy('vector');
  const spec = contextSpecOf(toy.params);
  const client = await FheClient.create(sealBackend, clientModelOf(toy.circuit, toy.params, toy.modelHash));
  const [relin, galois] = readEnvelope(client.evaluationKeys().bytes, { kind: 'eval-keys', modelHash: toy.modelHash, parameterId: spec.parameterId, count: 2 }).parts;
  client.dispose();
  const ctx = await workers.createContext(spec);
  const circuit = ctx.loadCircuit(toy.circuit);
  const keys = circuit.loadEvaluationKeys({ relin: relin!.length ? relin! : null, galois: galois!.length ? galois! : null });
  try {
    await workers.ready();
    expect(await circuit.execute([new Uint8Array([1, 2])], keys)).toEqual([new Uint8Array([1, 2])]);
    expect(workers.evaluationCounts()).toEqual([0, 1]);

    expect(await oneLine(circuit.execute([new Uint8Array([0xff])], keys))).toBe('IO: an evaluation thread stopped (exit code 3); the evaluation was not finished');
    await workers.ready(); // a fresh worker in the dead one's place
    expect(await circuit.execute([new Uint8Array([3, 4])], keys)).toEqual([new Uint8Array([3, 4])]);

    expect(await oneLine(circuit.execute([new Uint8Array([0xfe])], keys))).toBe('IO: the encryption library failed on an evaluation thread (memory access out of bounds); the thread was replaced, so later evaluations work');
    await workers.ready();
    expect(await circuit.execute([new Uint8Array([5])], keys)).toEqual([new Uint8Array([5])]);
    // Each replacement is a new worker: the counts start again from it.
    expect(workers.evaluationCounts()).toEqual([0, 1]);
  } finally {
    keys.dispose();
    circuit.dispose();
    ctx.dispose();
  }
}, 60_000);

test('a worker that finishes while this thread evaluates gets the next evaluation (this thread does not take them all)', async () => {
  const toy = compileToy('vector');
  const spec = contextSpecOf(toy.params);
  const client = await FheClient.create(sealBackend, clientModelOf(toy.circuit, toy.params, toy.modelHash));
  const [relin, galois] = readEnvelope(client.evaluationKeys().bytes, { kind: 'eval-keys', modelHash: toy.modelHash, parameterId: spec.parameterId, count: 2 }).parts;
  // Real ciphertexts, so that this thread's SEAL evaluates them; the stand-in worker echoes at once.
  const parts = readEnvelope(client.encrypt(toySamples(8, toy.circuit.inputSize, 5)).bytes, { kind: 'ciphertexts', modelHash: toy.modelHash, parameterId: spec.parameterId }).parts;
  client.dispose();
  const fresh = workerThreadsBackend(2, { workerEntry: new URL('../helpers/crashing-worker-thread.mjs', import.meta.url) });
  const ctx = await fresh.createContext(spec);
  const circuit = ctx.loadCircuit(toy.circuit);
  const keys = circuit.loadEvaluationKeys({ relin: relin!.length ? relin! : null, galois: galois!.length ? galois! : null });
  try {
    await fresh.ready();
    // Two lanes, as a request's evaluations run on 2 threads, and then all 8 at once, as independent requests arrive.
    await inLanes(parts.length, 2, (i) => circuit.execute([parts[i]!], keys));
    const [hereLanes, workerLanes] = fresh.evaluationCounts();
    expect(hereLanes! + workerLanes!).toBe(8);
    // Before the queue was first come first served the worker got 1 of 8; an even split is fine
    // (on a loaded machine the worker's reply can take as long as this thread's evaluation).
    expect(workerLanes).toBeGreaterThanOrEqual(3);
    await Promise.all(parts.map((p) => circuit.execute([p], keys)));
    const [here, worker] = fresh.evaluationCounts();
    expect(here! + worker!).toBe(16);
    expect(worker! - workerLanes!).toBeGreaterThanOrEqual(3);
  } finally {
    keys.dispose();
    circuit.dispose();
    ctx.dispose();
    await fresh.close();
  }
}, 60_000);
