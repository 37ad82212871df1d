/**
 * `report` on a compiled fixture: every section is present, the op counts are the counts of the
 * compiled circuit itself, the per-layer depths add up to the circuit's depth, and the accuracy
 * numbers compare the source model's reference run with the simulated circuit.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { readCompiledModel } from '../../compiler/artifact/files';
import { DeepPowersError } from '../../compiler/errors';
import { importModelFile } from '../../compiler/onnx/import';
import { splitGraph } from '../../compiler/passes/split-graph';
import { compileFile } from '../../runtime/app/compile-file';
import { SOURCE_MODEL_FILE } from '../../compiler/artifact/types';
import { buildReport, type Report } from '../../runtime/report/build-report';
import { renderReportHtml } from '../../runtime/report/html';
import { frameworkAccuracy, loadFixture } from '../helpers/fixtures';
import { tempDirForFile } from '../helpers/temp-dirs';

const f = loadFixture('sk_mlp_breast_cancer_tanh');
const dir = tempDirForFile('deeppowers-report-');
let compiled: string;
let data: string;
let labels: string;
let report: Report;

beforeAll(async () => {
  const calibration = join(dir, 'calibration.json');
  writeFileSync(calibration, JSON.stringify(f.data.calibration));
  data = join(dir, 'test.json');
  writeFileSync(data, JSON.stringify(f.data.test_inputs));
  labels = join(dir, 'labels.csv');
  writeFileSync(labels, `label\n${f.data.test_labels.join('\n')}\n`);
  compiled = join(dir, 'compiled');
  compileFile(f.modelPath, { calibration, output: compiled, layout: 'vector' }, 'test');
  report = await buildReport({ compiledDir: compiled, dataFile: data, labelsFile: labels });
});

async function failure(p: Promise<unknown>): Promise<DeepPowersError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DeepPowersError);
    return e as DeepPowersError;
  }
  throw new Error('expected a failure');
}

describe('deeppowers report', () => {
  it('gives the chain with its sources and client steps', () => {
    expect(report.chain.map((s) => s.label)).toEqual(['affine 30→16', 'tanh ×16', 'affine 16→1']);
    for (const s of report.chain) expect(s.sources.length).toBeGreaterThan(0);
    expect(report.epilogue).toContain('Sigmoid');
    expect(report.rows).toBe(f.data.test_inputs.length);
  });

  it('gives each approximation: function, ranges, degree, method, error, share outside on calibration and data', () => {
    expect(report.approximations).toHaveLength(1);
    const a = report.approximations[0]!;
    expect(a.fn).toBe('tanh');
    // Degree auto: the degree it chose, fitted minimax.
    expect(a.degree).toBe((readCompiledModel(compiled).options['degreeChoice'] as { degree: number }).degree);
    expect(a.method).toBe('remez');
    expect(a.range[0]).toBeLessThan(a.observedRange[0]);
    expect(a.range[1]).toBeGreaterThan(a.observedRange[1]);
    expect(a.maxError).toBeGreaterThan(0);
    expect(a.outside.calibration).toEqual({ share: 0, contained: true });
    expect(a.chebyshev).toHaveLength(a.degree + 1);
  });

  it("counts the data's activation inputs outside the fitted range as onnxruntime computes them", async () => {
    // The Tanh's input exposed as an extra graph output of the source model, run by onnxruntime
    // on the test rows: an independent count of the values the report says fall outside.
    const proto = onnxProto.onnx.ModelProto.decode(readFileSync(f.modelPath));
    const tanh = proto.graph!.node!.find((n) => n.opType === 'Tanh')!;
    const hidden = tanh.input![0]!;
    proto.graph!.output!.push(onnxProto.onnx.ValueInfoProto.create({ name: hidden, type: { tensorType: { elemType: onnxProto.onnx.TensorProto.DataType.FLOAT } } }));
    const session = await ort.InferenceSession.create(onnxProto.onnx.ModelProto.encode(proto).finish());
    // Rows pushed away from the calibration mean, so that some activation inputs leave the range.
    const mean = (f.data.calibration as number[][])[0]!.map((_v, j) => (f.data.calibration as number[][]).reduce((sum, r) => sum + r[j]!, 0) / f.data.calibration.length);
    const rows = (f.data.test_inputs as number[][]).map((r, i) => r.map((v, j) => mean[j]! + (v - mean[j]!) * (i % 2 === 0 ? 1 : 3)));
    const wide = join(dir, 'wide.json');
    writeFileSync(wide, JSON.stringify(rows));
    const wideReport = await buildReport({ compiledDir: compiled, dataFile: wide });
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, rows[0]!.length]) }, [hidden]);
    const values = out[hidden]!.data as Float32Array;
    const [lo, hi] = wideReport.approximations[0]!.range;
    const outside = values.filter((v) => v < lo || v > hi).length;
    const perRow = Array.from({ length: rows.length }, (_r, i) => values.subarray((i * values.length) / rows.length, ((i + 1) * values.length) / rows.length).some((v) => v < lo || v > hi));
    const data = wideReport.approximations[0]!.outside.data;
    expect(outside).toBeGreaterThan(0);
    expect(data.values).toBe(outside);
    expect(data.share).toBeCloseTo(outside / values.length, 12);
    expect(data.rowShare).toBeCloseTo(perRow.filter(Boolean).length / rows.length, 12);
  });

  it('reads op counts and depth off the compiled circuit', () => {
    const model = readCompiledModel(compiled);
    // Counted here by the IR's op names, one pass per kind: not by count.ts, which the report uses.
    const tally = (...names: string[]) => model.circuit.ops.filter((op) => names.includes(op.op)).length;
    expect(report.circuit.counts).toEqual({
      rotations: tally('rotate'),
      ctCtMul: tally('mul'),
      ctPtMul: tally('mulPlain', 'mulScalar'),
      ctCtAdd: tally('add', 'sub', 'neg'),
      ctPtAdd: tally('addPlain', 'addScalar'),
      rescales: tally('rescale'),
      relins: tally('relin'),
      modswitches: tally('modswitch'),
      inputs: 1,
      outputs: 1,
      constants: model.circuit.constants.length,
      rotationSteps: model.circuit.rotationSteps,
      depth: model.circuit.depth,
      topLevel: model.circuit.topLevel,
    });
    // Every ciphertext product is relinearized (tanh's polynomial multiplies ciphertexts).
    expect(report.circuit.counts.relins).toBe(report.circuit.counts.ctCtMul);
    expect(report.circuit.counts.ctCtMul).toBeGreaterThan(0);
    expect(report.circuit.countsMatchManifest).toBe(true);
    expect(report.circuit.counts.rotations).toBeGreaterThan(0);
    expect(report.circuit.counts.rotationSteps).toEqual(model.circuit.rotationSteps);
    expect(report.circuit.depth.consistent).toBe(true);
    expect(report.circuit.depth.total).toBe(model.circuit.depth);
    const degree = report.approximations[0]!.degree;
    expect(report.circuit.depth.layers.map((l) => l.depth)).toEqual([1, Math.ceil(Math.log2(degree + 1)), 1]);
  });

  it('gives parameters, security, sizes, memory and latency', () => {
    const p = report.parameters;
    expect(p.securityBits).toBe(128);
    // The HomomorphicEncryption.org standard's 128-bit classical bound on log2(Q·P), by N.
    const HE_STANDARD_128: Record<number, number> = { 1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881 };
    expect(p.maxBitCount).toBe(HE_STANDARD_128[p.polyModulusDegree]);
    expect(p.totalBits).toBe(p.coeffModulusBits.reduce((a, b) => a + b, 0));
    expect(p.totalBits).toBeLessThanOrEqual(p.maxBitCount);
    expect(p.levels).toBe(report.circuit.depth.total);
    expect(p.parameterId).toMatch(/^[0-9a-f]{16}$/);
    const s = report.circuit.sizes;
    expect(s.keys.galoisKeys).toBeGreaterThan(0);
    // SEAL 4.1's layout, by hand: a ciphertext is 113 bytes of headers and size × primes × N
    // words of 8 bytes; a fresh (seeded) one keeps one polynomial and an 81-byte seed record.
    const N = p.polyModulusDegree;
    const outputLevel = Math.min(...readCompiledModel(compiled).circuit.ops.flatMap((op) => (op.op === 'output' ? [op.level] : [])));
    expect(s.outputCiphertext).toBe(113 + 2 * (outputLevel + 1) * N * 8);
    expect(s.inputCiphertext).toBe(113 + 81 + (report.circuit.depth.topLevel + 1) * N * 8);
    expect(report.circuit.memory.fits).toBe(true);
    expect(report.circuit.latency.samplesPerRun).toBe(1);
    expect(report.circuit.latency.perRun.totalMs).toBeGreaterThan(0);
  });

  it('compares reference and simulation, and both with the true labels', () => {
    const acc = report.accuracy;
    expect(acc.labelAgreement).toBeGreaterThanOrEqual(0.98);
    expect(acc.labelAgreementFrom).toBe('output label');
    expect(acc.body.maxAbsDelta).toBeGreaterThan(0);
    // With every activation input inside the fitted range, a logit moves by at most
    // Σ_j |w_j| · (max error of the tanh fit) through the last layer.
    const last = splitGraph(importModelFile(f.modelPath)).split.body[2]!;
    expect(last.kind).toBe('affine');
    if (last.kind !== 'affine') return;
    expect(report.approximations[0]!.outside.data.values).toBe(0);
    const bound = last.weights.reduce((sum, w) => sum + Math.abs(w), 0) * report.approximations[0]!.maxError;
    expect(acc.body.maxAbsDelta).toBeLessThanOrEqual(bound * (1 + 1e-9));
    expect(acc.labels?.task).toBe('classification');
    if (acc.labels?.task !== 'classification') return;
    // The plaintext model's accuracy is scikit-learn's: predict() on the same rows (data.json).
    expect(acc.labels.reference).toBe(frameworkAccuracy(f.data));
    expect(Math.abs(acc.labels.simulated - acc.labels.reference)).toBeLessThanOrEqual(0.02);
  });

  it('renders one self-contained HTML file with a plot per activation', () => {
    const html = renderReportHtml(report);
    expect(html.match(/<svg /g)).toHaveLength(1);
    expect(html).toContain('<polyline');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });

  it('refuses a compiled directory without its source model, and a source that is not the one compiled', async () => {
    const bare = join(dir, 'bare');
    compileFile(f.modelPath, { calibration: join(dir, 'calibration.json'), output: bare, layout: 'batch' }, 'test');
    rmSync(join(bare, SOURCE_MODEL_FILE));
    expect((await failure(buildReport({ compiledDir: bare, dataFile: data }))).message).toMatch(/no source\.onnx.*--model/);
    const other = join(dir, 'other.onnx');
    copyFileSync(loadFixture('sk_logreg_breast_cancer').modelPath, other);
    const wrong = await failure(buildReport({ compiledDir: bare, dataFile: data, sourceModel: other }));
    expect(wrong.code).toBe('BAD_ARTIFACT');
    expect(wrong.message).toMatch(/is not the model/);
    const ok = await buildReport({ compiledDir: bare, dataFile: data, sourceModel: f.modelPath });
    expect(ok.circuit.counts.rotations).toBe(0);
  });

  it('refuses labels that do not match the rows', async () => {
    const short = join(dir, 'short.json');
    writeFileSync(short, JSON.stringify([0, 1]));
    expect((await failure(buildReport({ compiledDir: compiled, dataFile: data, labelsFile: short }))).code).toBe('BAD_DATA');
  });
});
