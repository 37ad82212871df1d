/**
 * Load test for `deeppowers serve --http` (a script, not a timed test): a spawned server on
 * 127.0.0.1 serving the iris logistic-regression fixture, two tenants, one well-behaved (at most
 * its per-tenant share in flight) and one abusive (everything else), at 2×, 5× and 20× the
 * server's concurrency limit, 1 000 requests per level. Prints latency percentiles per tenant,
 * refusals and the server's RSS; exits 1 if any of the well-behaved tenant's requests failed.
 *
 *   npx tsx scripts/load-test.ts [requests-per-level]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCompiledModel } from '../compiler/artifact/files';
import { clientViewFromJson } from '../compiler/artifact/views';
import { compileModel, type CompileOptions } from '../compiler/pipeline/compile';
import { toCompiledModel } from '../compiler/pipeline/compiled-model';
import { numeric } from '../compiler/graph/tensor';
import { sealBackend } from '../runtime/backends/seal/backend';
import { FheClient } from '../runtime/client/fhe-client';
import { clientModelOfView } from '../runtime/mcp/private-model';
import { startHttpServer } from '../runtime/mcp/http';
import { loadServedModel } from '../runtime/service/load-served-model';
import { RemoteServer } from '../runtime/mcp/remote';
import { DeepPowersService } from '../runtime/mcp/service';
import { TokenTable } from '../runtime/mcp/tokens';

/** What `deeppowers serve --http 127.0.0.1:0 --max-concurrency 4 --max-concurrency-per-tenant 2` runs. */
async function runServer(dir: string): Promise<never> {
  const service = await DeepPowersService.create(sealBackend, [loadServedModel(join(dir, 'iris.compiled'))], join(dir, 'data'), {
    maxConcurrency: 4,
    maxConcurrencyPerTenant: 2,
  });
  const http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TokenTable.readFile(join(dir, 'tokens')), log: () => {} });
  process.stderr.write(`listening on ${http.url} pid ${process.pid}\n`);
  process.once('SIGTERM', () => void http.close().then(() => service.close()).then(() => process.exit(0)));
  return new Promise<never>(() => {});
}

if (process.argv[2] === '--server') await runServer(process.argv[3]!);

const REQUESTS = Number(process.argv[2] ?? 1000);
const LIMIT = 4;
const PER_TENANT = 2;
const GOOD = 'good-tenant-token-0123456789abcdef';
const ABUSIVE = 'abusive-tenant-token-0123456789ab';
const ROOT = join(import.meta.dirname, '..');

const work = mkdtempSync(join(tmpdir(), 'dp-load-'));
const fixture = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/sk_logreg_iris_multinomial/data.json'), 'utf8')) as { calibration: number[][] };
const calibration = numeric('float32', [fixture.calibration.length, 4], Float64Array.from(fixture.calibration.flat(), Math.fround));
const options: CompileOptions = { calibration, layout: 'vector' };
const model = toCompiledModel(compileModel(join(ROOT, 'test/fixtures/sk_logreg_iris_multinomial/model.onnx'), options), options, 'load-test');
writeCompiledModel(join(work, 'iris.compiled'), model);
writeFileSync(join(work, 'tokens'), `good:${GOOD}\nabusive:${ABUSIVE}\n`);

// The server runs in its own process (this script with --server), so its RSS is measured alone.
const serve = spawn(process.execPath, [join(ROOT, 'node_modules/.bin/tsx'), import.meta.filename, '--server', work], { stdio: ['ignore', 'ignore', 'pipe'] });
// tsx runs the script in a child of the process spawned here: the server reports its own pid.
let serverPid = 0;
const url = await new Promise<string>((resolve, reject) => {
  let err = '';
  serve.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    const m = /listening on (http:\/\/\S+\/mcp) pid (\d+)/.exec(err);
    if (m) {
      serverPid = Number(m[2]);
      resolve(m[1]!);
    }
  });
  serve.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
});
const rssMb = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${serverPid}/status`, 'utf8'))![1]) / 1024;

interface Tenant {
  remote: RemoteServer;
  keysId: string;
  request: Uint8Array;
}
async function tenant(token: string): Promise<Tenant> {
  const remote = await RemoteServer.connect({ url, token });
  const view = clientViewFromJson((await remote.describe('iris')).client_view);
  const fhe = await FheClient.create(sealBackend, clientModelOfView(view));
  const keys = fhe.evaluationKeys();
  await remote.uploadKeys(keys.keysId, keys.bytes);
  const request = fhe.encrypt([Float64Array.of(0.1, -0.2, 0.3, 0.4)]).bytes;
  fhe.dispose();
  return { remote, keysId: keys.keysId, request };
}

const percentile = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

const good = await tenant(GOOD);
const abusive = await tenant(ABUSIVE);
console.log(`server RSS after start and key upload: ${rssMb().toFixed(0)} MB`);
let goodFailures = 0;
for (const factor of [2, 5, 20]) {
  const concurrency = factor * LIMIT;
  const stats = { good: { ms: [] as number[], refused: 0, failed: 0 }, abusive: { ms: [] as number[], refused: 0, failed: 0 } };
  let issued = 0;
  let peakRss = 0;
  const worker = async (who: 'good' | 'abusive'): Promise<void> => {
    const t = who === 'good' ? good : abusive;
    while (issued < REQUESTS) {
      issued++;
      const t0 = performance.now();
      try {
        await t.remote.predict('iris', t.keysId, t.request);
        stats[who].ms.push(performance.now() - t0);
      } catch (e) {
        if (/server busy/.test((e as Error).message)) stats[who].refused++;
        else {
          stats[who].failed++;
          if (who === 'good') console.log(`good tenant failure: ${(e as Error).message}`);
        }
      }
    }
  };
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb())), 200);
  const t0 = performance.now();
  // The well-behaved tenant keeps within its share; the abusive one takes all the other workers.
  await Promise.all([...Array.from({ length: PER_TENANT }, () => worker('good')), ...Array.from({ length: concurrency - PER_TENANT }, () => worker('abusive'))]);
  clearInterval(sampler);
  const secs = (performance.now() - t0) / 1000;
  for (const who of ['good', 'abusive'] as const) {
    const s = stats[who];
    console.log(
      `${factor}x (${concurrency} in flight) ${who.padEnd(7)}: ${s.ms.length} ok, ${s.refused} refused busy, ${s.failed} failed; ` +
        `latency p50 ${percentile(s.ms, 50).toFixed(0)} ms, p95 ${percentile(s.ms, 95).toFixed(0)} ms, p99 ${percentile(s.ms, 99).toFixed(0)} ms`,
    );
  }
  console.log(`${factor}x: ${REQUESTS} requests in ${secs.toFixed(1)} s; server RSS peak ${peakRss.toFixed(0)} MB, after ${rssMb().toFixed(0)} MB`);
  goodFailures += stats.good.failed + stats.good.refused;
}
// A burst of bad requests: bodies declared or sent large without a token, garbage MCP messages of
// 45 MB with one, key uploads under the wrong hash. RSS must come back near where it was.
const before = rssMb();
const big = new Uint8Array(45 * 1024 * 1024).fill(0x7b);
const statuses = new Map<string, number>();
const bad = async (i: number): Promise<void> => {
  const keysUrl = new URL(`keys/${'0'.repeat(64)}`, url).href;
  const r =
    i % 3 === 0
      ? fetch(keysUrl, { method: 'PUT', body: big })
      : i % 3 === 1
        ? fetch(url, { method: 'POST', body: big, headers: { Authorization: `Bearer ${ABUSIVE}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' } })
        : fetch(keysUrl, { method: 'PUT', body: big.subarray(0, 5 * 1024 * 1024), headers: { Authorization: `Bearer ${ABUSIVE}` } });
  const key = await r.then(
    async (res) => {
      await res.arrayBuffer();
      return String(res.status);
    },
    () => 'closed',
  );
  statuses.set(key, (statuses.get(key) ?? 0) + 1);
};
let peakBad = before;
const badSampler = setInterval(() => (peakBad = Math.max(peakBad, rssMb())), 100);
for (let i = 0; i < 270; i += 6) await Promise.all(Array.from({ length: 6 }, (_, k) => bad(i + k)));
clearInterval(badSampler);
await new Promise((r) => setTimeout(r, 3000));
console.log(`270 bad requests (${[...statuses].map(([k, n]) => `${n}× ${k}`).join(', ')}): server RSS ${before.toFixed(0)} MB before, peak ${peakBad.toFixed(0)} MB, ${rssMb().toFixed(0)} MB 3 s after`);

await good.remote.close();
await abusive.remote.close();
serve.kill('SIGTERM');
await new Promise((r) => serve.once('exit', r));
rmSync(work, { recursive: true, force: true });
console.log(goodFailures === 0 ? 'every request of the well-behaved tenant succeeded' : `${goodFailures} requests of the well-behaved tenant failed or were refused`);
process.exit(goodFailures === 0 ? 0 : 1);
