import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Layout } from '../../compiler/circuit/ir';
import { DeepPowersError } from '../../compiler/errors';
import { readEnvelope, writeEnvelope } from '../../runtime/wire/envelope';
import type { FheBackend } from '../../runtime/backends/backend';
import { workerThreadsBackend } from '../../runtime/backends/workers/worker-threads-backend';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { simulateSamples } from '../../runtime/backends/simulate';
import { simulationBackend } from '../../runtime/backends/simulation-backend';
import { clientModelOf, type ClientModel } from '../../runtime/client/client-model';
import { FheClient } from '../../runtime/client/fhe-client';
import { FheServer, serverModelOf } from '../../runtime/server/fhe-server';
import { compileToy, tolerance, toySamples } from './seal-test-circuits';


async function rejection(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (e) {
    if (e instanceof DeepPowersError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return 'accepted';
}

function flipBit(bytes: Uint8Array, at: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[at]! ^= 0x04;
  return out;
}

/** Both implementations of the backend interface, each with how it words a part that is not a ciphertext. */
/**
 * SEAL on 2 threads: this one and a worker. Once the worker is up an evaluation goes to it when
 * it is idle, so the suite's evaluations and refusals run in the worker's own node-seal and must
 * read the same as on one thread.
 */
const workers = workerThreadsBackend(2);
afterAll(() => workers.close());

/** The implementations of the backend interface, each with how it words a part that is not a ciphertext. */
const BACKENDS: readonly { readonly backend: FheBackend; readonly name: string; readonly notCiphertext: RegExp }[] = [
  { backend: sealBackend, name: 'seal', notCiphertext: /^BAD_CIPHERTEXT: input ciphertext 0 is not a ciphertext for parameter set [0-9a-f]{16}: std::/ },
  { backend: workers, name: 'seal on 2 threads', notCiphertext: /^BAD_CIPHERTEXT: input ciphertext 0 is not a ciphertext for parameter set [0-9a-f]{16}: std::/ },
  { backend: simulationBackend(), name: 'simulation', notCiphertext: /^BAD_CIPHERTEXT: input ciphertext 0 is not a simulated ciphertext of \d+ slots/ },
];
const CASES = (['vector', 'batch'] as const).flatMap((layout: Layout) => BACKENDS.map((b) => ({ layout, ...b })));

test('the 2-thread backend has its worker up before the suite runs', async () => {
  await workers.ready();
});

describe.each(CASES)('client → server → client, $layout layout, $name backend', ({ layout, backend, notCiphertext }) => {
  const toy = compileToy(layout);
  const model: ClientModel = clientModelOf(toy.circuit, toy.params, toy.modelHash);
  let server: FheServer;
  let client: FheClient;
  let keysId: string;

  beforeAll(async () => {
    server = new FheServer(backend);
    await server.loadModel(serverModelOf(toy.circuit, toy.params, toy.modelHash));
    client = await FheClient.create(backend, model);
    const bundle = client.evaluationKeys();
    keysId = server.loadKeys(bundle.bytes);
    expect(keysId).toBe(bundle.keysId);
    // Galois keys for exactly the circuit's steps; relin keys because it multiplies ciphertexts.
    expect(bundle.galoisBytes > 0).toBe(toy.circuit.rotationSteps.length > 0);
    expect(bundle.relinBytes).toBeGreaterThan(0);
  });
  afterAll(() => {
    client.dispose();
    server.dispose();
  });

  test('decrypted outputs equal the simulation within the scale-derived tolerance, rounded to the output precision', async () => {
    const samples = toySamples(3, toy.circuit.inputSize, 11);
    const request = client.encrypt(samples);
    expect(request.evaluations).toBe(layout === 'vector' ? 3 : 1);
    const result = await server.evaluate(toy.modelHash, keysId, request.bytes);
    const got = client.decrypt(result, request.samples);
    const want = simulateSamples(toy.circuit, samples);
    expect(got).toHaveLength(3);
    const step = 2 ** -toy.params.expectedPrecisionBits;
    got.forEach((row, s) => {
      expect(row).toHaveLength(toy.circuit.outputSize);
      row.forEach((v, i) => {
        expect(Math.abs(v - want[s]![i]!), `sample ${s} output ${i}`).toBeLessThan(tolerance(toy) * (1 + Math.abs(want[s]![i]!)));
        expect(Number.isInteger(v / step)).toBe(true);
      });
    });
  });

  test('the server evaluates with no secret key alive anywhere in the process', async () => {
    const saved = client.exportSecretKey();
    const first = await FheClient.create(backend, model, saved);
    const bundle = first.evaluationKeys();
    const samples = toySamples(2, toy.circuit.inputSize, 12);
    const request = first.encrypt(samples);
    first.dispose(); // the secret key object is deleted before the server runs
    expect(() => first.decrypt(request.bytes, request.samples)).toThrow(/disposed/);
    const id = server.loadKeys(bundle.bytes);
    const result = await server.evaluate(toy.modelHash, id, request.bytes);
    server.unloadKeys(id);
    const again = await FheClient.create(backend, model, saved);
    const got = again.decrypt(result, request.samples);
    again.dispose();
    const want = simulateSamples(toy.circuit, samples);
    got.forEach((row, s) => row.forEach((v, i) => expect(Math.abs(v - want[s]![i]!)).toBeLessThan(tolerance(toy) * (1 + Math.abs(want[s]![i]!)))));
  });

  test('truncated, bit-flipped, foreign-model and foreign-parameter requests are refused', async () => {
    const request = client.encrypt(toySamples(1, toy.circuit.inputSize, 13)).bytes;
    const evaluate = (bytes: Uint8Array) => () => server.evaluate(toy.modelHash, keysId, bytes);
    expect(await rejection(evaluate(request.subarray(0, request.length - 100)))).toMatch(/^BAD_CIPHERTEXT: encrypted input: truncated/);
    expect(await rejection(evaluate(flipBit(request, request.length >> 1)))).toMatch(/^BAD_CIPHERTEXT: encrypted input: checksum mismatch/);

    const other = compileToy(layout, { seed: 99 });
    const otherClient = await FheClient.create(backend, clientModelOf(other.circuit, other.params, other.modelHash));
    const foreign = otherClient.encrypt(toySamples(1, toy.circuit.inputSize, 13)).bytes;
    otherClient.dispose();
    expect(await rejection(evaluate(foreign))).toMatch(/^BAD_CIPHERTEXT: encrypted input: made for model [0-9a-f]{12}…, not for this model/);

    // Same model hash, but the ciphertexts were made under other CKKS parameters (N = 16384).
    const wide = compileToy(layout, { polyModulusDegree: 16384 });
    const wideClient = await FheClient.create(backend, { ...clientModelOf(wide.circuit, wide.params, toy.modelHash) });
    const wrongParams = wideClient.encrypt(toySamples(1, toy.circuit.inputSize, 13)).bytes;
    wideClient.dispose();
    expect(await rejection(evaluate(wrongParams))).toMatch(/^BAD_CIPHERTEXT: encrypted input: made for parameter set "[0-9a-f]{16}", not "[0-9a-f]{16}"/);
  });

  test('a well-formed envelope around a bad ciphertext is refused by the ciphertext checks', async () => {
    const request = client.encrypt(toySamples(1, toy.circuit.inputSize, 14)).bytes;
    const env = readEnvelope(request, { kind: 'ciphertexts', modelHash: toy.modelHash, parameterId: model.parameters.parameterId });
    const rewrap = (parts: Uint8Array[]) => writeEnvelope({ ...env, parts });
    const garbage = env.parts.map(() => Uint8Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff));
    expect(await rejection(() => server.evaluate(toy.modelHash, keysId, rewrap(garbage)))).toMatch(notCiphertext);
    const cut = env.parts.map((p) => p.subarray(0, p.length - 1));
    expect(await rejection(() => server.evaluate(toy.modelHash, keysId, rewrap(cut)))).toMatch(/^BAD_CIPHERTEXT: input ciphertext 0 is not a (simulated )?ciphertext/);
    const missing = env.parts.slice(1);
    if (model.inputs.length > 1) {
      expect(await rejection(() => server.evaluate(toy.modelHash, keysId, rewrap(missing)))).toMatch(/not a multiple of the model's \d+ inputs/);
    }
  });

  test('tampered, truncated and foreign evaluation keys are refused', async () => {
    const bundle = client.evaluationKeys().bytes;
    expect(await rejection(() => server.loadKeys(flipBit(bundle, bundle.length - 40)))).toMatch(/^BAD_CIPHERTEXT: evaluation keys: checksum mismatch/);
    expect(await rejection(() => server.loadKeys(bundle.subarray(0, bundle.length >> 1)))).toMatch(/^BAD_CIPHERTEXT: evaluation keys: truncated/);
    const other = compileToy(layout, { seed: 99 });
    const otherClient = await FheClient.create(backend, clientModelOf(other.circuit, other.params, other.modelHash));
    const foreign = otherClient.evaluationKeys().bytes;
    otherClient.dispose();
    expect(await rejection(() => server.loadKeys(foreign))).toMatch(/^BAD_CIPHERTEXT: evaluation keys are for model [0-9a-f]{12}…, which this server has not loaded/);
    // Keys of the right envelope but missing the relinearization key the circuit needs.
    const env = readEnvelope(bundle, { kind: 'eval-keys', modelHash: toy.modelHash, parameterId: model.parameters.parameterId, count: 2 });
    const noRelin = writeEnvelope({ ...env, parts: [new Uint8Array(0), env.parts[1]!] });
    expect(await rejection(() => server.loadKeys(noRelin))).toMatch(/lack the relinearization key/);
  });

  test('a tampered or foreign result is refused by the client', async () => {
    const request = client.encrypt(toySamples(1, toy.circuit.inputSize, 15));
    const result = await server.evaluate(toy.modelHash, keysId, request.bytes);
    expect(await rejection(() => client.decrypt(flipBit(result, 100), 1))).toMatch(/^BAD_CIPHERTEXT: encrypted result: checksum mismatch/);
    expect(await rejection(() => client.decrypt(request.bytes, 1))).toMatch(/this is encrypted input, not encrypted result/);
    expect(await rejection(() => client.decrypt(result, 2 * (layout === 'vector' ? 1 : model.slots)))).toMatch(/holds \d+ parts, expected \d+/);
  });
});

test('the worker ran evaluations of the 2-thread suite (not only this thread)', () => {
  const [, worker] = workers.evaluationCounts();
  expect(worker).toBeGreaterThan(0);
});
