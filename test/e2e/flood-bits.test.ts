import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { clientSplitOf } from '../../compiler/artifact/client-split';
import { clientViewFromJson } from '../../compiler/artifact/views';
import { runPrologue } from '../../compiler/chain/run';
import { simulateSamples } from '../../runtime/backends/simulate';
import { simulationBackend } from '../../runtime/backends/simulation-backend';
import { FheClient } from '../../runtime/client/fhe-client';
import { Keystore } from '../../runtime/client/keystore';
import { startHttpServer } from '../../runtime/mcp/http';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { clientModelOfView, PrivateModel } from '../../runtime/mcp/private-model';
import { RemoteServer } from '../../runtime/mcp/remote';
import { DeepPowersService } from '../../runtime/mcp/service';
import { TokenTable } from '../../runtime/mcp/tokens';
import { silentLogger } from '../../runtime/network/logger';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';

/**
 * `serve --flood-bits s`: every released result carries fresh noise uniform in ±2^s·ε (ε the
 * compile's CKKS noise bound), added before the result is logged, so the client's receipt still
 * verifies. On the simulation backend (no CKKS noise of its own) the decrypted body outputs are
 * the circuit's plus the flood alone: different on every call, never beyond 2^s·ε.
 */
const f = loadFixture('sk_logreg_breast_cancer');
const model = compiledFixture(f, { layout: 'vector' });
const TOKEN = 'alice-0123456789abcdef01234567';
const BITS = 4;
const work = mkdtempSync(join(tmpdir(), 'dp-flood-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('--flood-bits', () => {
  test('released outputs move by fresh noise within 2^s·ε, and the log receipt still verifies', async () => {
    const backend = simulationBackend();
    const service = await DeepPowersService.create(backend, [servedModelOf(model, 'bc')], join(work, 'server'), { floodBits: BITS }, { logger: silentLogger() });
    const http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TokenTable.parse(`alice:${TOKEN}\n`), log: () => {} });
    const remote = await RemoteServer.connect({ url: http.url, token: TOKEN });
    const fhe = await FheClient.create(backend, clientModelOfView(clientViewFromJson((await remote.describe('bc')).client_view)));
    try {
      const keys = fhe.evaluationKeys();
      await remote.uploadKeys(keys.keysId, keys.bytes);
      const samples = runPrologue(clientSplitOf(model), inputTensor(f.data, f.data.test_inputs.slice(0, 1)));
      const exact = simulateSamples(model.circuit, samples)[0]!;
      const width = 2 ** BITS * model.calibration.precision.noiseBound;
      const once = async () => fhe.decrypt(await remote.predict('bc', keys.keysId, fhe.encrypt(samples).bytes), 1)[0]!;
      const a = await once();
      const b = await once();
      const rounding = 2 ** -fhe.model.outputPrecisionBits;
      a.forEach((v, i) => expect(Math.abs(v - exact[i]!), `output ${i}`).toBeLessThanOrEqual(width + rounding));
      expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(width / 100);
      // The whole client, which checks the receipt of what it received.
      const m = await PrivateModel.open(backend, remote, Keystore.open(join(work, 'keystore'), 'flood test passphrase, not real'), 'bc');
      try {
        const out = await m.predict(f.data.test_inputs.slice(0, 2));
        expect(out.verification).toMatch(/^verified: computed and signed by the server alone/);
      } finally {
        m.dispose();
      }
    } finally {
      fhe.dispose();
      await remote.close();
      await http.close();
      await service.close();
    }
  }, 120_000);

  test('a model without a recorded noise bound, or --flood-bits beyond 30, is refused at start', async () => {
    const { noiseBound: _dropped, ...bare } = servedModelOf(model, 'bc');
    await expect(DeepPowersService.create(simulationBackend(), [bare], join(work, 'bare'), { floodBits: 2 })).rejects.toThrow(/records no CKKS noise bound to flood/);
    await expect(DeepPowersService.create(simulationBackend(), [servedModelOf(model, 'bc')], join(work, 'big'), { floodBits: 31 })).rejects.toThrow(/--flood-bits must be an integer from 0 to 30/);
  });
});
