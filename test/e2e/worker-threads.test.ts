import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { workerThreadsBackend } from '../../runtime/backends/workers/worker-threads-backend';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { FheClient } from '../../runtime/client/fhe-client';
import { FheServer } from '../../runtime/server/fhe-server';
import { simulateSamples } from '../../runtime/backends/simulate';
import { servedToy } from './mcp-toy';
import { tolerance, toySamples } from './seal-test-circuits';

/**
 * SEAL on worker threads (`--threads`): the same request through one thread and through worker threads
 * gives the same result bytes, and the workers really ran evaluations of it.
 */
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const backends: { close(): Promise<void> }[] = [];
afterAll(async () => {
  await Promise.all(backends.map((p) => p.close()));
});

describe.each(['vector', 'batch'] as const)('worker threads (%s layout)', (layout) => {
  test('results are bit-identical to one thread, and workers ran some of the evaluations', async () => {
    const toy = servedToy('toy', layout);
    const client = await FheClient.create(sealBackend, toy.clientModel);
    const keys = client.evaluationKeys();
    // Several evaluations in one request: one row each in the vector layout, N/2 rows each in batch.
    const perEvaluation = toy.served.description.samples_per_evaluation;
    const request = client.encrypt(toySamples(perEvaluation * 4, 6, 21));

    const evaluate = async (backend: typeof sealBackend) => {
      const server = new FheServer(backend);
      try {
        await server.loadModel(toy.served.server);
        const keysId = server.loadKeys(keys.bytes);
        return await server.evaluate(toy.served.server.modelHash, keysId, request.bytes);
      } finally {
        server.dispose();
      }
    };
    const one = await evaluate(sealBackend);
    for (const threads of [2, 3]) {
      const workers = workerThreadsBackend(threads);
      backends.push(workers);
      await workers.ready();
      const threaded = await evaluate(workers);
      expect(sha(threaded), `${threads} threads`).toBe(sha(one));
      const counts = workers.evaluationCounts();
      expect(counts.reduce((a, b) => a + b, 0)).toBe(4);
      expect(counts.slice(1).some((c) => c > 0), `evaluations per thread ${counts}`).toBe(true);
    }
    // The decrypted values are the toy circuit's outputs on these samples (float64 simulation of the same circuit).
    const a = client.decrypt(one, request.samples);
    const want = simulateSamples(toy.toy.circuit, toySamples(perEvaluation * 4, 6, 21));
    expect(a.length).toBe(want.length);
    a.forEach((row, s) => row.forEach((v, i) => expect(Math.abs(v - want[s]![i]!), `sample ${s} output ${i}`).toBeLessThan(tolerance(toy.toy) * (1 + Math.abs(want[s]![i]!)))));
    client.dispose();
  }, 180_000);
});

test('threads must be a positive integer', () => {
  expect(() => workerThreadsBackend(0)).toThrow(/threads must be a positive integer/);
  expect(() => workerThreadsBackend(1.5)).toThrow(/threads must be a positive integer/);
});

describe('predict --mode fhe --threads', () => {
  const ROOT = join(import.meta.dirname, '..', '..');
  const FIXTURE = join(ROOT, 'test', 'fixtures', 'sk_logreg_iris_multinomial');
  const dir = mkdtempSync(join(tmpdir(), 'dp-threads-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'deeppowers.js'), ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });

  test('labels equal scikit-learn on 2 threads (vector layout: one evaluation per row); a bad count is a usage error', () => {
    const data = JSON.parse(readFileSync(join(FIXTURE, 'data.json'), 'utf8')) as { test_inputs: number[][]; expected: { label: number[] } };
    writeFileSync(join(dir, 'rows.json'), JSON.stringify(data.test_inputs.slice(0, 6)));
    expect(cli('compile', join(FIXTURE, 'model.onnx'), '--calibration', join(FIXTURE, 'data.json'), '--layout', 'vector', '-o', 'iris', '--json').status).toBe(0);
    const r = cli('predict', 'iris', '--data', 'rows.json', '--mode', 'fhe', '--threads', '2', '--json', '-q');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { threads: number; evaluations: number; outputs: Record<string, unknown[]> };
    expect(out.threads).toBe(2);
    expect(out.evaluations).toBe(6);
    expect(out.outputs['output_label']).toEqual(data.expected.label.slice(0, 6));
    const bad = cli('predict', 'iris', '--data', 'rows.json', '--mode', 'fhe', '--threads', '0');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--threads must be a positive integer, got "0"/);
  }, 180_000);
});
