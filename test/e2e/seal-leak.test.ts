import { afterAll, beforeAll, expect, test } from 'vitest';
import { createHash } from 'node:crypto';
import { readEnvelope, writeEnvelope } from '../../runtime/wire/envelope';
import { sealHeapBytes } from '../../runtime/backends/seal/seal-module';
import { clientModelOf } from '../../runtime/client/client-model';
import { FheClient } from '../../runtime/client/fhe-client';
import { FheServer } from '../../runtime/server/fhe-server';
import { simulateSamples } from '../../runtime/backends/simulate';
import { buildCircuit, testSpec } from './seal-test-circuits';
import { sealBackend } from '../../runtime/backends/seal/backend';

/**
 * Every SEAL object made while serving a request (loaded inputs, intermediates, outputs,
 * plaintexts, parms_id handles, exceptions) must be freed. WASM memory only grows, and SEAL's pool
 * reuses freed blocks, so after a warm-up a leak-free loop leaves the heap size unchanged; one
 * leaked ciphertext per request at N = 4096 would add ≥ 100 KB each time.
 */
const spec = testSpec(4096, [30, 25, 25, 29]);
const DELTA = 2 ** 25;
const circuit = buildCircuit(spec, {
  inputs: [{ kind: 'replicated', size: 4, period: 4 }],
  outputs: [{ kind: 'slots', slots: [0, 1, 2, 3], elements: [0, 1, 2, 3] }],
  inputScale: DELTA,
  constants: [Float64Array.from([0.5, -1, 2, 0.25])],
  ops: [
    { op: 'input', input: 0 },
    { op: 'rotate', a: 0, k: 1 },
    { op: 'mul', a: 0, b: 1 },
    { op: 'relin', a: 2 },
    { op: 'rescale', a: 3, target: 1 },
    { op: 'mulPlain', a: 4, c: 0, encodeScale: DELTA },
    { op: 'rescale', a: 5, target: 0 },
    { op: 'output', a: 6, output: 0 },
  ],
});
const wholeCircuit = { ...circuit, inputSize: 4, outputSize: 4 };
const params = { ...spec, expectedPrecisionBits: 10, primes: spec.primes.map(String) };
const modelHash = createHash('sha256').update('leak-test-model').digest('hex');
const model = clientModelOf(wholeCircuit, params, modelHash);

let server: FheServer;
let client: FheClient;
let keysId: string;

beforeAll(async () => {
  server = new FheServer(sealBackend);
  await server.loadModel({ modelHash, parameters: model.parameters, circuit: wholeCircuit });
  client = await FheClient.create(sealBackend, model);
  keysId = server.loadKeys(client.evaluationKeys().bytes);
});
afterAll(() => {
  client.dispose();
  server.dispose();
});

test('200 encrypt → evaluate → decrypt rounds, with refused requests among them, do not grow the WASM heap', async () => {
  const sample = Float64Array.from([0.5, -0.25, 0.75, 1]);
  const [want] = simulateSamples(wholeCircuit, [sample]);
  const round = async (i: number) => {
    const request = client.encrypt([sample]);
    const result = await server.evaluate(modelHash, keysId, request.bytes);
    const [row] = client.decrypt(result, 1);
    row!.forEach((v, k) => expect(Math.abs(v - want![k]!)).toBeLessThan(1e-2));
    if (i % 10 === 0) {
      // A refused request goes through SEAL's loader and its C++ exception, which must be released too.
      const env = readEnvelope(request.bytes, { kind: 'ciphertexts', modelHash, parameterId: model.parameters.parameterId });
      const cut = writeEnvelope({ ...env, parts: env.parts.map((p) => p.subarray(0, p.length - 7)) });
      await expect(server.evaluate(modelHash, keysId, cut)).rejects.toThrow(/is not a ciphertext for parameter set/);
    }
  };
  for (let i = 0; i < 20; i++) await round(i);
  const before = await sealHeapBytes();
  for (let i = 0; i < 200; i++) await round(i);
  const after = await sealHeapBytes();
  expect(after).toBe(before);
});
