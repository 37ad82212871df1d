import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { clientSplitOf } from '../../compiler/artifact/client-split';
import type { CompiledModel } from '../../compiler/artifact/types';
import { clientViewFromJson } from '../../compiler/artifact/views';
import { runPrologue } from '../../compiler/chain/run';
import type { NumericTensor } from '../../compiler/graph/tensor';
import { importModelFile } from '../../compiler/onnx/import';
import { type CompileOptions } from '../../compiler/pipeline/compile';
import { simulationBackend } from '../../runtime/backends/simulation-backend';
import { FheClient } from '../../runtime/client/fhe-client';
import { startHttpServer, type RunningHttpServer } from '../../runtime/mcp/http';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { clientModelOfView } from '../../runtime/mcp/private-model';
import { RemoteServer } from '../../runtime/mcp/remote';
import { DeepPowersService, type ServiceLimits } from '../../runtime/mcp/service';
import { TokenTable } from '../../runtime/mcp/tokens';
import { silentLogger } from '../../runtime/network/logger';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';

/**
 * A dishonest client reading a model out through its client steps, over MCP against the real
 * server (simulation backend: the same seams as SEAL, in the clear, so a few dozen queries run in
 * seconds). At a max pool it sends back each window's max plus t in one window w: the change in
 * the decrypted logits is W[:, w]·t/a_w, the column of the secret Linear(64→10) after the pool up
 * to the mask's positive factor a_w. At a refresh step it sends back y + δ and the next segment
 * runs on it: the same δ moves the logits the same way every time (no unknown factor at all).
 * `--client-step-budget` stops both at the budget, per tenant and model and UTC day, on an
 * injected clock; `--query-budget` bounds every model's predictions the same way;
 * `--model-confidential` refuses to serve a model with client steps at all.
 */
const TOKEN = 'mallory-0123456789abcdef0123';
const DAY = 86_400_000;
const backend = simulationBackend();

function compiled(name: string, extra: Partial<CompileOptions> = {}): CompiledModel {
  const f = loadFixture(name);
  return compiledFixture(f, { ...extra });
}

interface Served {
  readonly service: DeepPowersService;
  readonly http: RunningHttpServer;
  readonly remote: RemoteServer;
  readonly fhe: FheClient;
  readonly keysId: string;
  readonly clock: { now: number };
}

const work = mkdtempSync(join(tmpdir(), 'dp-probe-'));
const running: Served[] = [];

async function serveOne(model: CompiledModel, name: string, limits: Partial<ServiceLimits>): Promise<Served> {
  const clock = { now: Date.UTC(2026, 11, 7, 12) };
  const served = servedModelOf(model, name);
  const service = await DeepPowersService.create(backend, [served], join(work, `${name}-${running.length}`), limits, { logger: silentLogger() }, () => clock.now);
  const http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TokenTable.parse(`mallory:${TOKEN}\n`), log: () => {} });
  const remote = await RemoteServer.connect({ url: http.url, token: TOKEN });
  const view = clientViewFromJson((await remote.describe(name)).client_view);
  const fhe = await FheClient.create(backend, clientModelOfView(view));
  const keys = fhe.evaluationKeys();
  await remote.uploadKeys(keys.keysId, keys.bytes);
  const s = { service, http, remote, fhe, keysId: keys.keysId, clock };
  running.push(s);
  return s;
}

/** One prediction of `samples` where the client, at the step, adds `tamper` to what it decrypted before encrypting it again. */
async function query(s: Served, name: string, samples: Float64Array[], tamper: (z: Float64Array[]) => void = () => {}): Promise<Float64Array> {
  const first = await s.remote.predictSegment(name, s.keysId, s.fhe.encrypt(samples).bytes, undefined);
  const z = s.fhe.decryptStep(first.step!.masked, 0);
  tamper(z);
  const last = await s.remote.predictSegment(name, s.keysId, s.fhe.encryptStep(z, 1), first.step!.stepId);
  return s.fhe.decrypt(last.result!, samples.length)[0]!;
}

/** As `query`, at a coefficient-masked refresh: `tamper` changes the decrypted polynomials' integer coefficients. */
async function queryCoefficients(s: Served, name: string, samples: Float64Array[], tamper: (c: bigint[][]) => void = () => {}): Promise<Float64Array> {
  const first = await s.remote.predictSegment(name, s.keysId, s.fhe.encrypt(samples).bytes, undefined);
  const c = s.fhe.decryptStepCoefficients(first.step!.masked, 0);
  tamper(c);
  const last = await s.remote.predictSegment(name, s.keysId, s.fhe.encryptStepCoefficients(c, 1), first.step!.stepId);
  return s.fhe.decrypt(last.result!, samples.length)[0]!;
}

async function refusal(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (e) {
    return (e as Error).message;
  }
  return 'accepted';
}

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
};

const cnn = loadFixture('pt_cnn_maxpool_digits');
const cnnModel = compiled('pt_cnn_maxpool_digits');
const cnnSample = runPrologue(clientSplitOf(cnnModel), inputTensor(cnn.data, cnn.data.test_inputs.slice(0, 1)));
/** The secret Linear(64→10) after the pool, W[o][w], from the ONNX file (Gemm B, 10 × 64). */
const W = (() => {
  const b = importModelFile(cnn.modelPath).initializers.get('4.weight') as NumericTensor;
  return (w: number) => Array.from({ length: 10 }, (_, o) => b.data[o * 64 + w]!);
})();

/**
 * Each window's max of the Conv's output on `cnnSample`, from the ONNX weights (Conv 1→4, 3×3, padding 1, on 8×8; 2×2 windows,
 * flattened channel, row, column as the Linear reads them). The ReLU runs after the pool (passes/pool-first.ts), so a
 * probe moves the ReLU's input; where the max is well above 0 the ReLU passes the move on with slope 1.
 */
const windowMax = (() => {
  const onnx = importModelFile(cnn.modelPath).initializers;
  const k = (onnx.get('0.weight') as NumericTensor).data;
  const bias = (onnx.get('0.bias') as NumericTensor).data;
  const x = cnnSample[0]!;
  const pixel = (y: number, c: number) => (y >= 0 && y < 8 && c >= 0 && c < 8 ? x[y * 8 + c]! : 0);
  const conv = (ch: number, y: number, c: number) => {
    let v = bias[ch]!;
    for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) v += k[ch * 9 + dy * 3 + dx]! * pixel(y + dy - 1, c + dx - 1);
    return v;
  };
  return (w: number) => {
    const [ch, i, j] = [Math.floor(w / 16), Math.floor(w / 4) % 4, w % 4];
    return Math.max(conv(ch, 2 * i, 2 * j), conv(ch, 2 * i, 2 * j + 1), conv(ch, 2 * i + 1, 2 * j), conv(ch, 2 * i + 1, 2 * j + 1));
  };
})();
/** Windows whose max sits between 1 and 8: a move by t/a_w ∈ [1/16, 1] stays where the ReLU's polynomial has slope 1. */
const probed = Array.from({ length: 64 }, (_, w) => w).filter((w) => windowMax(w) > 1 && windowMax(w) < 8);

beforeAll(() => {
  expect(probed.length).toBeGreaterThanOrEqual(4);
  expect(cnnModel.refresh?.segments[0]?.pool?.windows).toHaveLength(64);
});

afterAll(async () => {
  for (const s of running) {
    s.fhe.dispose();
    await s.remote.close();
    await s.http.close();
    await s.service.close();
  }
  rmSync(work, { recursive: true, force: true });
});

describe('a client that lies at its client steps', () => {
  test('max pool: max + t in window w reads out column w of the weights after it; the client-step budget stops it, per UTC day', async () => {
    const BUDGET = 4;
    const s = await serveOne(cnnModel, 'cnn', { clientStepBudget: BUDGET });
    const windows = cnnModel.refresh!.segments[0]!.pool!.windows;
    const honest = await query(s, 'cnn', cnnSample);
    // Vector layout, one sample: segment 1's output element e sits in slot e of its one result ciphertext.
    const probe = (w: number, t: number) => query(s, 'cnn', cnnSample, (z) => windows[w]!.forEach((i) => (z[0]![i]! += t)));
    for (const w of probed.slice(0, 3)) {
      const moved = (await probe(w, 1)).map((v, o) => v - honest[o]!);
      // The direction of W[:, w], exactly (up to the positive factor 1/a_w and the output rounding).
      expect(cosine(moved, W(w)), `window ${w}`).toBeGreaterThan(0.999);
    }
    // Budget spent (1 honest + 3 probes): the next answer to a step is refused, in one line.
    const spent = await refusal(() => probe(probed[3]!, 1));
    expect(spent).toMatch(/^the server refused predict_cnn: client-step budget spent: this tenant has used 4 of its 4 client-step rows for cnn today \(UTC\), and this request needs 1; it resets at 00:00 UTC \(the server's --client-step-budget\)$/);
    // A new UTC day: the budget is back.
    s.clock.now += DAY;
    expect(cosine((await probe(probed[3]!, 1)).map((v, o) => v - honest[o]!), W(probed[3]!))).toBeGreaterThan(0.999);
  }, 120_000);

  test('refresh step: y + δ steers the next segment, the same way every time; the client-step budget stops it', async () => {
    const f = loadFixture('pt_mlp_digits_relu');
    const model = compiled('pt_mlp_digits_relu', { layout: 'vector', refresh: 'auto' });
    const sample = runPrologue(clientSplitOf(model), inputTensor(f.data, f.data.test_inputs.slice(0, 1)));
    const s = await serveOne(model, "mlp", { clientStepBudget: 3 });
    const DELTA = 0.5;
    const honest = await queryCoefficients(s, 'mlp', sample);
    // Its refresh masks the polynomial's coefficients: the client adds the polynomial of δ on element
    // 0 of the replicated vector (in every period) to what it decrypted; in the simulation backend's
    // stand-in encoding (simulation-backend.ts) that is δ·Δ on those slots' coefficients.
    expect(model.refresh!.segments[0]!.masking).toBe('coefficients');
    const scale = model.circuit.ops.find((o) => o.op === 'output')!.scale;
    const input = model.refresh!.segments[0]!.circuit.inputs[0]!;
    const period = input.kind === 'replicated' ? input.period : model.parameters.slots;
    const shift = BigInt(Math.round(DELTA * scale));
    const steer = () => queryCoefficients(s, 'mlp', sample, (c) => c[0]!.forEach((v, i) => i < model.parameters.slots && i % period === 0 && (c[0]![i] = v + shift)));
    const a = (await steer()).map((v, o) => v - honest[o]!);
    const b = (await steer()).map((v, o) => v - honest[o]!);
    const { bound } = model.calibration.precision;
    // Moved far beyond the model's precision, and by the same amount twice: no unknown scale hides what δ does.
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(10 * bound);
    a.forEach((v, o) => expect(Math.abs(v - b[o]!), `output ${o}`).toBeLessThan(bound));
    expect(await refusal(steer)).toMatch(/client-step budget spent: this tenant has used 3 of its 3 client-step rows for mlp today/);
  }, 120_000);

  test('the query budget bounds every prediction, with or without client steps', async () => {
    const s = await serveOne(cnnModel, 'cnn', { queryBudget: 2 });
    await query(s, 'cnn', cnnSample);
    await query(s, 'cnn', cnnSample);
    expect(await refusal(() => query(s, 'cnn', cnnSample))).toMatch(
      /^the server refused predict_cnn: query budget spent: this tenant has used 2 of its 2 query rows for cnn today \(UTC\), and this request needs 1; it resets at 00:00 UTC \(the server's --query-budget\)$/,
    );
    s.clock.now += DAY;
    await query(s, 'cnn', cnnSample);
  }, 120_000);

  test('--model-confidential refuses to serve a model with client steps, naming it', async () => {
    await expect(DeepPowersService.create(backend, [servedModelOf(cnnModel, 'cnn')], join(work, 'confidential'), { modelConfidential: true })).rejects.toThrow(
      /^--model-confidential: cnn has client steps, where a dishonest client can read out the weights of the layers after the step/,
    );
  });

  test('compile, report and the served tool description say what a dishonest client can learn', async () => {
    const RISK = /a dishonest client can read out the weights after a client step .*at its maxpool step, returning a window's max plus t moves the outputs by W\[:, w\]·t\/a_w, or by W\[:, w\]·\(f\(m_w \+ t\/a_w\) − f\(m_w\)\) where an activation f comes first/;
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'deeppowers.js');
    const dir = join(work, 'cnn.compiled');
    const cli = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, DEEPPOWERS_DEBUG: '' } });
    const compiledCli = cli(['compile', cnn.modelPath, '--calibration', join(cnn.modelPath, '..', 'data.json'), '-o', dir, '--json']);
    expect(compiledCli.status, compiledCli.stderr).toBe(0);
    expect((JSON.parse(compiledCli.stdout) as { refresh: { dishonestClient: string } }).refresh.dishonestClient).toMatch(RISK);
    const report = cli(['report', dir, '--data', join(cnn.modelPath, '..', 'data.json')]);
    expect(report.status, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/dishonest client +a dishonest client can read out the weights/);

    // The serve flags, as an operator gives them: refused at start in one line.
    const confidential = cli(['serve', dir, '--stdio', '--model-confidential', '--data-dir', join(work, 'serve-refused')]);
    expect(confidential.status).toBe(2);
    expect(confidential.stderr.trim().split('\n')).toHaveLength(1);
    expect(confidential.stderr).toMatch(/--model-confidential: cnn has client steps, where a dishonest client can read out the weights/);
    const budget = cli(['serve', dir, '--stdio', '--client-step-budget', 'lots']);
    expect(budget.status).toBe(2);
    expect(budget.stderr).toMatch(/--client-step-budget.*expected a non-negative integer, got "lots"/);

    const s = await serveOne(cnnModel, 'cnn', {});
    const client = new Client({ name: 'probe-test', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(s.http.url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
    try {
      const tool = (await client.listTools()).tools.find((t) => t.name === 'predict_cnn');
      expect(tool?.description).toMatch(RISK);
    } finally {
      await client.close();
    }
  }, 180_000);
});
