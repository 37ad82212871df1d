/**
 * `compile --on-client softmax,layernorm` on a real transformer export (pt_attn_digits_rows:
 * attention written out, post-norm, two LayerNorms, GELU): the Softmax and both LayerNorms become
 * the exact client steps (compiler/client-steps/softmax.ts, layer-norm.ts) inside the body's DAG
 * (residual sums read around them). Simulated, it gives torch's labels; `report` measures it (and a
 * body whose Softmax the server still approximates) against torch's outputs; compile, report and
 * the served tool say what the client sees at each step and what a dishonest one can learn;
 * `--model-confidential` refuses it and `--client-step-budget` stops a client probing its softmax
 * step; one row runs on SEAL and agrees with torch's label.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { clientStepsOf, describeClientSteps } from '../../compiler/client-steps/table';
import { writeCompiledDirectory } from '../../runtime/app/compile-file';
import { buildReport } from '../../runtime/report/build-report';
import { simulationBackend } from '../../runtime/backends/simulation-backend';
import { fheBackend } from '../../runtime/run/run-encrypted';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { DeepPowersService } from '../../runtime/mcp/service';
import { startHttpServer } from '../../runtime/mcp/http';
import { RemoteServer } from '../../runtime/mcp/remote';
import { TokenTable } from '../../runtime/mcp/tokens';
import { FheClient } from '../../runtime/client/fhe-client';
import { clientModelOfView } from '../../runtime/mcp/private-model';
import { clientViewFromJson } from '../../compiler/artifact/views';
import { silentLogger } from '../../runtime/network/logger';
import { runPrologue } from '../../compiler/chain/run';
import { clientSplitOf } from '../../compiler/artifact/client-split';
import type { CompiledModel } from '../../compiler/artifact/types';
import type { NumericTensor } from '../../compiler/graph/tensor';
import { parseClientRowFunctions } from '../../compiler/passes/rows-to-client';
import { DeepPowersError } from '../../compiler/errors';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { argmax, flat, simulatedRows } from '../helpers/simulated-rows';

const ROWS = 10;
const f = loadFixture('pt_attn_digits_rows');
const options: CompileOptions = { calibration: inputTensor(f.data, f.data.calibration), degree: 15, layout: 'vector', onClient: ['softmax', 'layernorm'] };
const work = mkdtempSync(join(tmpdir(), 'dp-exact-steps-'));
let model: CompiledModel;
/** The report's data: the first 20 test rows (the report simulates every row it is given). */
const dataFile = join(work, 'rows.json');
const REPORT_ROWS = 20;

beforeAll(() => {
  model = toCompiledModel(compileModel(f.modelPath, options), options, 'test');
  writeCompiledDirectory(join(work, 'attn.compiled'), model, f.modelPath);
  writeFileSync(dataFile, JSON.stringify({ test_inputs: f.data.test_inputs.slice(0, REPORT_ROWS) }));
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const torchLabel = (r: number): number => argmax(flat(f.data.expected['output']![r]!));

describe('--on-client softmax,layernorm on pt_attn_digits_rows', () => {
  it('the Softmax and both LayerNorms are client steps, recorded with the option; simulated, torch\'s label on every row run', async () => {
    expect(clientStepsOf(model.refresh!).filter((s) => s.kind !== 'refresh' && s.kind !== 'coefficient-refresh').map((s) => s.kind)).toEqual(['softmax', 'layernorm', 'layernorm']);
    expect(model.options['onClient']).toBe('softmax,layernorm');
    // A softmax step's rows are 8 scores each (one per query and head, over 8 tokens); a LayerNorm step's tokens 16 features each.
    const steps = clientStepsOf(model.refresh!);
    const softmax = steps.find((s) => s.kind === 'softmax');
    expect(softmax?.kind === 'softmax' && softmax.softmax.groups.map((g) => g.length)).toEqual(new Array(16).fill(8));
    const { rows, torch } = await simulatedRows(compileModel(f.modelPath, options), options, f, ROWS);
    rows.forEach((row, r) => {
      expect(argmax(row), `row ${r}`).toBe(argmax(torch[r]!));
      // Only GELU is approximated (degree 15, max error 0.03 on its range): the logits stay near torch's (span about 30).
      row.forEach((v, j) => expect(Math.abs(v - torch[r]![j]!), `row ${r}, logit ${j}`).toBeLessThan(1));
    });
  }, 120_000);

  it('compile and the served tool say what the client sees and what a dishonest client can learn', () => {
    const sees = describeClientSteps(model.refresh!);
    expect(sees).toMatch(/softmax \(\/blocks\/blocks\.0\/att\/Softmax; 16 rows\) as an exact client step: the server adds to each row one offset c uniform in ±2\^\d+·[\d.]+, fresh per row and per sample/);
    expect(sees).toMatch(/The client learns each row's softmax — the attention pattern of its own input/);
    expect(sees).toMatch(/LayerNorm \(\/blocks\/blocks\.0\/n1\/LayerNormalization; 8 tokens of 16 features\) as a client step: the server masks each token's features as a·y \+ c/);
    expect(sees).toMatch(/The client learns each token's normalized hidden state/);
    const tool = JSON.stringify(servedModelOf(model, 'attn').card);
    expect(tool).toMatch(/attention pattern of its own input/);
    expect(tool).toMatch(/at its softmax step, returning attention weights of its own runs the next segment on them exactly/);
    expect(tool).toMatch(/at each of its 2 layernorm steps, returning a normalized value plus t moves the next segment's input by γ_j·t exactly/);
  });

  it('report: accuracy against torch on the test rows, the chain with its client steps, what the client sees', async () => {
    const report = await buildReport({ compiledDir: join(work, 'attn.compiled'), dataFile });
    expect(report.rows).toBe(REPORT_ROWS);
    expect(report.chain.filter((s) => s.kind === 'softmax' || s.kind === 'layernorm').map((s) => s.label)).toEqual(['softmax 128→128 (client step)', 'layer norm 128→128 (client step)', 'layer norm 128→128 (client step)']);
    expect(report.accuracy.labelAgreement).toBe(1);
    expect(report.circuit.clientSteps?.clientSees).toMatch(/the attention pattern of its own input/);
    // A body with branches: per-layer levels are not the stages', the total is the segments' depths.
    expect(report.circuit.depth.consistent).toBeNull();
    expect(report.circuit.depth.total).toBe(report.circuit.clientSteps!.segmentDepths.reduce((a, b) => a + b, 0));
  }, 300_000);

  it('report on a body whose Softmax the server still approximates (--on-client layernorm): its row-wise stage listed, accuracy against torch', async () => {
    // Over node-seal's heap without the softmax step (the server's Softmax is deep): --heap simulation, as the report simulates.
    const serverSoftmax: CompileOptions = { ...options, onClient: ['layernorm'], heap: 'simulation' };
    const dir = join(work, 'attn-ln.compiled');
    writeCompiledDirectory(dir, toCompiledModel(compileModel(f.modelPath, serverSoftmax), serverSoftmax, 'test'), f.modelPath);
    const report = await buildReport({ compiledDir: dir, dataFile });
    const rowwise = report.circuit.depth.layers.filter((l) => l.kind === 'rowwise');
    expect(rowwise.map((l) => [l.label, l.depth])).toEqual([['softmax ×128 in rows of 8 (server: polynomials and Newton steps)', null]]);
    expect(report.chain.filter((s) => s.kind === 'layernorm')).toHaveLength(2);
    expect(report.accuracy.labelAgreement).toBe(1);
    expect(report.circuit.depth.total).toBe(report.circuit.clientSteps!.segmentDepths.reduce((a, b) => a + b, 0));
  }, 300_000);

  it('--model-confidential refuses it; --client-step-budget stops a client probing its softmax step', async () => {
    const backend = simulationBackend();
    await expect(DeepPowersService.create(backend, [servedModelOf(model, 'attn')], join(work, 'confidential'), { modelConfidential: true })).rejects.toThrow(
      /^--model-confidential: attn has client steps, where a dishonest client can read out the weights of the layers after the step; recompile without them \(--refresh off, no --on-client/,
    );
    const TOKEN = 'mallory-0123456789abcdef0123';
    const service = await DeepPowersService.create(backend, [servedModelOf(model, 'attn')], join(work, 'budget'), { clientStepBudget: 3 }, { logger: silentLogger() });
    const http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TokenTable.parse(`mallory:${TOKEN}\n`), log: () => {} });
    const remote = await RemoteServer.connect({ url: http.url, token: TOKEN });
    const fhe = await FheClient.create(backend, clientModelOfView(clientViewFromJson((await remote.describe('attn')).client_view)));
    try {
      const keys = fhe.evaluationKeys();
      await remote.uploadKeys(keys.keysId, keys.bytes);
      const sample = runPrologue(clientSplitOf(model), inputTensor(f.data, f.data.test_inputs.slice(0, 1)));
      /** One prediction; at the softmax step (the first) the client puts all of each row's weight on key `k`. */
      const probe = async (k: number): Promise<Float64Array> => {
        let answer = await remote.predictSegment('attn', keys.keysId, fhe.encrypt(sample).bytes, undefined);
        for (let step = 0; answer.step; step++) {
          const z = fhe.decryptStep(answer.step.masked, step);
          if (step === 0) {
            const s = clientStepsOf(model.refresh!)[0]!;
            if (s.kind !== 'softmax') throw new Error('the first step is not the softmax');
            // What the client returns is softmax(z) per row: a huge value at key k makes the row one-hot there.
            for (const g of s.softmax.groups) g.forEach((i, j) => (z[0]![i] = j === k ? 1e3 : 0));
          }
          answer = await remote.predictSegment('attn', keys.keysId, fhe.encryptStep(z, step + 1), answer.step.stepId);
        }
        return fhe.decrypt(answer.result!, 1)[0]!;
      };
      // The server runs the rest of the model on the forced attention pattern: another key, other outputs.
      const a = await probe(0);
      expect(a.every(Number.isFinite)).toBe(true);
      // 3 client-step rows: one prediction has 3 steps; the next probe's first step is refused in one line.
      await expect(probe(1)).rejects.toThrow(/client-step budget spent: this tenant has used 3 of its 3 client-step rows for attn today/);
    } finally {
      fhe.dispose();
      await remote.close();
      await http.close();
      await service.close();
    }
  }, 120_000);

  it('one row on SEAL: torch\'s label, and the simulation within CKKS noise', async () => {
    const input = inputTensor(f.data, f.data.test_inputs.slice(0, 1));
    const fhe = fheBackend(model);
    const seal = (await runCompiled(model, input, fhe.backend)).values.get('output') as NumericTensor;
    expect(fhe.lastRun()!.timings.per_evaluation.every((e) => e.client_steps === model.refresh!.segments.length)).toBe(true);
    expect(argmax(Array.from(seal.data))).toBe(torchLabel(0));
    const sim = (await runCompiled(model, input, simulateBackend(model))).values.get('output') as NumericTensor;
    seal.data.forEach((v, j) => expect(Math.abs(v - sim.data[j]!), `logit ${j}`).toBeLessThan(model.calibration.precision.noiseBound));
  }, 300_000);
});

describe('--on-client, parsed', () => {
  it('takes softmax and layernorm, each once, and refuses anything else in one line', () => {
    expect(parseClientRowFunctions('layernorm, softmax,layernorm')).toEqual(['layernorm', 'softmax']);
    expect(() => parseClientRowFunctions('gelu')).toThrow(DeepPowersError);
    expect(() => parseClientRowFunctions('gelu')).toThrow(/^--on-client takes softmax, layernorm \(comma-separated\), got "gelu"$/);
  });

  it('a model whose encrypted part has none of the functions named compiles as without it, with a warning', () => {
    const g = loadFixture('pt_logreg_breast_cancer_sigmoid');
    const c = compileModel(g.modelPath, { calibration: inputTensor(g.data, g.data.calibration), onClient: ['layernorm'] });
    expect(c.warnings).toContain('--on-client layernorm: the encrypted part has no LayerNormalization (one after it runs on the client after decryption anyway); nothing changed');
    expect(c.refresh).toBeNull();
  });
});
