import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { FheClient } from '../../runtime/client/fhe-client';
import { FheServer } from '../../runtime/server/fhe-server';
import { servedToy } from './mcp-toy';
import { toySamples } from './seal-test-circuits';
import { sealBackend } from '../../runtime/backends/seal/backend';

/**
 * Review nodes check a compute node by re-running its job and comparing result hashes. That only
 * works if CKKS evaluation on the same input ciphertexts and evaluation keys gives the same
 * bytes every time, in every process: no randomness in evaluation, none in serialization.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'dp-determinism-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.each(['vector', 'batch'] as const)('CKKS evaluation is byte-identical (%s layout)', (layout) => {
  test('across runs, server instances and processes', async () => {
    const toy = servedToy('toy', layout);
    const client = await FheClient.create(sealBackend, toy.clientModel);
    const keys = client.evaluationKeys();
    const request = client.encrypt(toySamples(layout === 'vector' ? 2 : 3, 6, 11));
    client.dispose();

    const hashes: string[] = [];
    for (let instance = 0; instance < 2; instance++) {
      const server = new FheServer(sealBackend);
      await server.loadModel(toy.served.server);
      const keysId = server.loadKeys(keys.bytes);
      for (let run = 0; run < 2; run++) hashes.push(sha(await server.evaluate(toy.served.server.modelHash, keysId, request.bytes)));
      server.dispose();
    }
    const keysFile = join(work, `${layout}.keys`);
    const requestFile = join(work, `${layout}.request`);
    writeFileSync(keysFile, keys.bytes);
    writeFileSync(requestFile, request.bytes);
    const child = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/evaluate-toy.ts'), layout, keysFile, requestFile], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    hashes.push(child.trim());
    expect(hashes[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(hashes).size).toBe(1);
    // A different request gives a different hash: the comparison is not vacuous.
    const other = await FheClient.create(sealBackend, toy.clientModel);
    const server = new FheServer(sealBackend);
    await server.loadModel(toy.served.server);
    const otherKeys = server.loadKeys(other.evaluationKeys().bytes);
    const otherHash = sha(await server.evaluate(toy.served.server.modelHash, otherKeys, other.encrypt(toySamples(1, 6, 12)).bytes));
    expect(otherHash).not.toBe(hashes[0]);
    server.dispose();
    other.dispose();
  });
});
