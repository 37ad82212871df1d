/**
 * compile → predict --mode simulate → report, as users run them: a real `node bin/deeppowers.js`
 * process, JSON on stdout, one-line errors with exit 2.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../../runtime/app/node';
import { frameworkAccuracy, loadFixture } from '../helpers/fixtures';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'deeppowers.js');
const f = loadFixture('sk_logreg_iris_multinomial');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(...args: string[]): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, DEEPPOWERS_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(r: Run): Record<string, unknown> {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

let dir: string;
let calibration: string;
let data: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'deeppowers-compile-cli-'));
  calibration = join(dir, 'calibration.csv');
  writeFileSync(calibration, `a,b,c,d\n${f.data.calibration.map((r) => (r as number[]).join(',')).join('\n')}\n`);
  data = join(dir, 'test.json');
  writeFileSync(data, JSON.stringify(f.data.test_inputs));
});

describe('deeppowers compile / predict --mode simulate / report', () => {
  it('compile --json writes the compiled directory and summarises it', () => {
    const s = json(cli('compile', f.modelPath, '--calibration', calibration, '-o', 'iris', '--layout', 'batch', '--json'));
    expect(s.outputDir).toBe('iris');
    expect(s.calibration).toEqual({ file: calibration, member: null, rows: f.data.calibration.length });
    expect(s.layout).toBe('batch');
    expect(s.rotations).toBe(0);
    expect(s.depth).toBe(1);
    expect((s.parameters as { securityBits: number }).securityBits).toBe(128);
    expect(s.polyModulusDegree).toBe((s.parameters as { polyModulusDegree: number }).polyModulusDegree);
    for (const file of ['manifest.json', 'constants.bin', 'source.onnx']) expect(existsSync(join(dir, 'iris', file))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(dir, 'iris', 'manifest.json'), 'utf8')) as { modelHash: string };
    expect(manifest.modelHash).toBe(s.modelHash);
  });

  it("the package's compile() writes the directory the command writes: the same manifest and constants, and the source ONNX beside them", () => {
    const out = join(dir, 'iris-library');
    const model = compile(f.modelPath, { calibration, output: out, layout: 'batch' });
    for (const file of ['manifest.json', 'constants.bin']) expect(readFileSync(join(out, file)).equals(readFileSync(join(dir, 'iris', file))), file).toBe(true);
    const source = readFileSync(join(out, 'source.onnx'));
    expect(source.equals(readFileSync(f.modelPath))).toBe(true);
    expect(createHash('sha256').update(source).digest('hex')).toBe(model.source.sha256);
  });

  it('compile --objective throughput packs many rows per vector ciphertext; predict reads them back as one row per ciphertext does', () => {
    const packed = json(cli('compile', f.modelPath, '--calibration', calibration, '-o', 'iris-packed', '--layout', 'vector', '--objective', 'throughput', '--json'));
    const single = json(cli('compile', f.modelPath, '--calibration', calibration, '-o', 'iris-single', '--layout', 'vector', '--json'));
    expect(single.samplesPerEvaluation).toBe(1);
    const k = packed.samplesPerEvaluation as number;
    const manifest = JSON.parse(readFileSync(join(dir, 'iris-packed', 'manifest.json'), 'utf8')) as { layout: { slots: number; minSlots: number; samplesPerCiphertext: number } };
    expect(manifest.layout.samplesPerCiphertext).toBe(k);
    // k = N/2 over the widest layer's period (minSlots is that period times k).
    expect(k).toBe(manifest.layout.slots / (manifest.layout.minSlots / k));
    expect(k).toBeGreaterThan(1);
    expect(packed.rotations).toBe(single.rotations);
    expect(packed.depth).toBe(single.depth);
    const a = json(cli('predict', 'iris-packed', '--data', data, '--mode', 'simulate', '--json'));
    const b = json(cli('predict', 'iris-single', '--data', data, '--mode', 'simulate', '--json'));
    expect(a.outputs).toEqual(b.outputs);
    expect(cli('compile', f.modelPath, '--calibration', calibration, '-o', 'x', '--objective', 'speed').code).toBe(2);
  });

  it('compile --calibration data.json fits on its "calibration" rows and says so', () => {
    const text = cli('compile', f.modelPath, '--calibration', join(f.dir, 'data.json'), '-o', 'iris-data', '--layout', 'batch');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`calibration        ${f.data.calibration.length} rows of ${join(f.dir, 'data.json')} ("calibration")`);
    const fromCsv = JSON.parse(readFileSync(join(dir, 'iris', 'manifest.json'), 'utf8')) as { calibration: unknown };
    const fromJson = JSON.parse(readFileSync(join(dir, 'iris-data', 'manifest.json'), 'utf8')) as { calibration: unknown };
    // The same rows (the CSV holds the calibration member) give the same calibrated ranges.
    expect(fromJson.calibration).toEqual(fromCsv.calibration);
  });

  it('predict on the compiled directory simulates, in the same output contract as the reference', () => {
    const simulated = json(cli('predict', 'iris', '--data', data, '--mode', 'simulate', '--json'));
    const reference = json(cli('predict', f.modelPath, '--data', data, '--json'));
    expect(simulated.mode).toBe('simulate');
    expect(reference.mode).toBe('reference');
    expect(simulated.rows).toBe(f.data.test_inputs.length);
    const sim = simulated.outputs as Record<string, unknown[]>;
    const ref = reference.outputs as Record<string, unknown[]>;
    expect(Object.keys(sim)).toEqual(Object.keys(ref));
    expect(sim.output_label).toEqual(ref.output_label);
    // ZipMap rows: the same labels, probabilities within the circuit's precision.
    (sim.output_probability as Record<string, number>[]).forEach((row, i) => {
      const want = (ref.output_probability as Record<string, number>[])[i]!;
      expect(Object.keys(row)).toEqual(Object.keys(want));
      for (const k of Object.keys(row)) expect(Math.abs(row[k]! - want[k]!)).toBeLessThan(1e-4);
    });
    // A compiled directory defaults to simulate; an ONNX file cannot be simulated.
    expect(json(cli('predict', 'iris', '--data', data, '--json')).mode).toBe('simulate');
    const refused = cli('predict', f.modelPath, '--data', data, '--mode', 'simulate');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^deeppowers: error: --mode simulate runs a compiled model directory; compile .* first/);
  });

  it('report --json gives parameters, counts and accuracy; --html writes a file', () => {
    const labels = join(dir, 'labels.json');
    writeFileSync(labels, JSON.stringify(f.data.test_labels));
    const r = json(cli('report', 'iris', '--data', data, '--labels', labels, '--json', '--html', 'iris.html'));
    const accuracy = r.accuracy as { labelAgreement: number; labels: { task: string; simulated: number; reference: number } };
    expect(accuracy.labelAgreement).toBe(1);
    expect(accuracy.labels.task).toBe('classification');
    // Both equal scikit-learn's own accuracy on these rows (its predict() in data.json).
    expect(accuracy.labels.reference).toBe(frameworkAccuracy(f.data));
    expect(accuracy.labels.simulated).toBe(accuracy.labels.reference);
    expect((r.circuit as { counts: { rotations: number } }).counts.rotations).toBe(0);
    expect(readFileSync(join(dir, 'iris.html'), 'utf8')).toMatch(/^<!doctype html>/);
  });

  it('a decision tree: compiles to the batch layout and says its grid, encoding and snap; --layout vector is a one-line error', () => {
    const tree = loadFixture('sk_tree_breast_cancer');
    const cal = join(dir, 'tree.json');
    writeFileSync(cal, JSON.stringify(tree.data.calibration));
    const out = join(dir, 'tree.compiled');
    const r = cli('compile', tree.modelPath, '--calibration', cal, '-o', out, '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { layout: string; rotations: number; trees: { trees: number; depth: number; nBitsChosen: boolean; calibrationRowsChanged: number; calibrationRows: number; thresholds: unknown[] } };
    expect(s.layout).toBe('batch');
    expect(s.rotations).toBe(0);
    expect(s.trees).toMatchObject({ trees: 1, depth: 4, nBitsChosen: true, calibrationRowsChanged: 0, calibrationRows: tree.data.calibration.length });
    expect(s.trees.thresholds.length).toBeGreaterThan(0);
    const text = cli('compile', tree.modelPath, '--calibration', cal, '-o', out, '--n-bits', '2');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/thresholds on a 2-bit grid per feature \(--n-bits\)/);
    const vector = cli('compile', tree.modelPath, '--calibration', cal, '-o', out, '--layout', 'vector');
    expect(vector.code).toBe(2);
    expect(vector.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(vector.stderr).toMatch(/^deeppowers: error: tree ensembles compile to the batch layout only/);
  });

  it('compile prints the precision promise; a model that misses it is written, warned about, and exits 3', () => {
    const s = json(cli('compile', f.modelPath, '--calibration', calibration, '-o', 'iris-precise', '--precision', '2%', '--json'));
    expect(s.precision).toMatchObject({ relative: 0.02, reached: true });
    const missed = loadFixture('sk_mlpreg_friedman1');
    const cal = join(dir, 'friedman.json');
    writeFileSync(cal, JSON.stringify(missed.data.calibration));
    // At degree 63 its ReLU approximation alone is 1.35% of the output range (auto takes 255 for its rows and keeps 1%).
    const r = cli('compile', missed.modelPath, '--calibration', cal, '--degree', '63', '-o', 'friedman');
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/precision +≤ 1% of the output range .* NOT MET/);
    // Client steps are allowed by default and cannot help here: the approximation alone misses.
    expect(r.stdout).toMatch(/warning: the precision target .* is not met: .*; give a larger --precision, --degree D, or fewer activation layers/);
    expect(existsSync(join(dir, 'friedman', 'manifest.json'))).toBe(true);
    // With --refresh off the warning names client steps first, as the body has a cut point.
    const off = cli('compile', missed.modelPath, '--calibration', cal, '--degree', '63', '--refresh', 'off', '-o', 'friedman-off');
    expect(off.code, off.stderr).toBe(3);
    expect(off.stdout).toMatch(/give --refresh auto \(client steps between layers\), a larger --precision/);
    expect(cli('compile', f.modelPath, '--calibration', calibration, '--precision', '1.5').code).toBe(2);
  });

  it('compile --refresh auto: the summary adds the segments up as the report does (depth, ops, latency) plus the client steps\' round trips, and names the N the segments run at', () => {
    const mlp = loadFixture('pt_mlp_digits_relu');
    const out = join(dir, 'mlp-refresh.compiled');
    const args = [join(mlp.dir, 'model.onnx'), '--calibration', join(mlp.dir, 'data.json'), '--refresh', 'auto', '-o', out];
    const summary = json(cli('compile', ...args, '--json')) as {
      depth: number;
      latencyMs: { total: number; server: number; network: number };
      network: { rttMs: number; bytesPerSecond: number; clientSteps: number; stepBytes: number };
      counts: { rotations: number; ctPtMul: number };
      parameters: { polyModulusDegree: number };
      refresh: { segments: { depth: number; latencyMs: number }[] };
    };
    const segments = summary.refresh.segments;
    expect(segments.length).toBeGreaterThan(1);
    expect(summary.depth).toBe(segments.reduce((d, x) => d + x.depth, 0));
    // The whole plan: every segment, and per client step one round trip (1 ms by default) and its bytes at 1 Gbit/s.
    expect(summary.network).toMatchObject({ rttMs: 1, bytesPerSecond: 125e6, clientSteps: segments.length - 1 });
    expect(summary.latencyMs.network).toBeCloseTo((segments.length - 1) * 1 + (1000 * summary.network.stepBytes) / 125e6, 6);
    expect(summary.latencyMs.total).toBeCloseTo(segments.reduce((t, x) => t + x.latencyMs, 0) + summary.latencyMs.network, 6);
    const rows = join(dir, 'mlp-rows.json');
    writeFileSync(rows, JSON.stringify(mlp.data.test_inputs.slice(0, 2)));
    const report = json(cli('report', out, '--data', rows, '--json')) as {
      circuit: { depth: { total: number }; counts: { rotations: number; ctPtMul: number }; latency: { perRun: { totalMs: number } } };
      parameters: { polyModulusDegree: number };
    };
    expect(summary.depth).toBe(report.circuit.depth.total);
    expect(summary.counts.rotations).toBe(report.circuit.counts.rotations);
    expect(summary.counts.ctPtMul).toBe(report.circuit.counts.ctPtMul);
    expect(summary.latencyMs.total - summary.latencyMs.network).toBeCloseTo(report.circuit.latency.perRun.totalMs, 0);
    expect(summary.parameters.polyModulusDegree).toBe(report.parameters.polyModulusDegree);

    const text = cli('compile', ...args).stdout;
    const n = summary.parameters.polyModulusDegree;
    expect(text).toMatch(new RegExp(`^  CKKS +N=${n} \\(\\d+ slots\\), depth ${summary.depth} in ${segments.length} segments \\(${segments.map((x) => x.depth).join(' \\+ ')}\\),`, 'm'));
    expect(text).toMatch(new RegExp(`^  estimated latency +${Math.round(summary.latencyMs.total)} ms per prediction end to end, all ${segments.length} segments .*1 client step .*: 1 ms round trip each \\(--rtt-ms\\)`, 'm'));
    // Layouts are compared by their whole plans: batch as one circuit is over the heap budget.
    const layout = /^  layout .*$/m.exec(text)![0];
    expect(layout).toMatch(/auto: only vector fits \(batch: the body as one circuit needs about [\d.]+ GiB .*over the 3\.50 GiB budget/);
    // A slower network makes the same plan slower by the round trips alone.
    const slow = json(cli('compile', ...args, '--rtt-ms', '50', '-o', join(dir, 'mlp-slow.compiled'), '--json')) as typeof summary;
    expect(slow.latencyMs.total - summary.latencyMs.total).toBeCloseTo(49 * (segments.length - 1), 6);
    expect(cli('compile', ...args, '--rtt-ms', '-1').code).toBe(2);
  }, 120_000);

  it('--method help names the method degree auto uses, and a default compile fits its activations that way', () => {
    // Issue 23: the help said 'default chebyshev' while degree auto fitted by remez.
    const help = cli('compile', '--help');
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/--method <method> approximation method \(default: remez, a minimax fit, with --degree auto;/);
    const elu = loadFixture('pt_mlp_elu_iris');
    const s = json(cli('compile', elu.modelPath, '--calibration', join(elu.dir, 'data.json'), '-o', 'elu-default', '--json')) as { approximations: { method: string }[] };
    expect(s.approximations.length).toBeGreaterThan(0);
    expect(s.approximations.map((a) => a.method)).toEqual(s.approximations.map(() => 'remez'));
  }, 120_000);

  it('bad options and data are clean usage errors', () => {
    const both = cli('compile', f.modelPath, '--calibration', calibration, '--degree', '7', '--max-error', '0.01');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--degree or --max-error, not both/);
    expect(cli('compile', f.modelPath, '--calibration', calibration, '--layout', 'diagonal').code).toBe(2);
    const missing = cli('report', 'nowhere', '--data', data);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/does not exist/);
  });
});
