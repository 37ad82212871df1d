import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectDemoAgreesWithFramework, type DemoModelJson } from '../helpers/demo-reference';

/**
 * The encrypted path from the command line, as users run it (a real `node bin/deeppowers.js`):
 * compile → keygen → predict --mode fhe → report --fhe, and the encrypted demo. A few rows each.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'deeppowers.js');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'sk_logreg_iris_multinomial');
const ROWS = 3;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 90_000, env: { ...process.env, DEEPPOWERS_DEBUG: '', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(r: Run): Record<string, unknown> {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const tmp = mkdtempSync(join(tmpdir(), 'deeppowers-fhe-cli-'));
const compiled = join(tmp, 'iris.compiled');
const rowsFile = join(tmp, 'rows.json');
const keystore = join(tmp, 'keystore');
const data = JSON.parse(readFileSync(join(FIXTURE, 'data.json'), 'utf8')) as { test_inputs: number[][]; expected: { label: number[] } };

beforeAll(() => {
  writeFileSync(rowsFile, JSON.stringify(data.test_inputs.slice(0, ROWS)));
  const r = cli(['compile', join(FIXTURE, 'model.onnx'), '--calibration', join(FIXTURE, 'data.json'), '-o', compiled, '--json']);
  expect(r.code, r.stderr).toBe(0);
}, 60_000);

describe('encrypted commands', () => {
  test('predict --mode fhe --json gives the simulate mode outputs contract, the expected labels, and timings and sizes', () => {
    const run = cli(['predict', compiled, '--data', rowsFile, '--mode', 'fhe', '--json']);
    const fhe = json(run);
    // Progress goes to stderr, in plain lines off a terminal (the first and the last here), never to stdout.
    // Key generation (one blocking SEAL call, a minute at N = 32768) is announced before it starts, then the evaluations count.
    expect(run.stderr).toMatch(
      /^keygen N=\d+, \d+ rotation keys?: 0\/1 \(0%\) \d+\.\ds\nkeygen N=\d+, \d+ rotation keys?: 1\/1 \(100%\) \d+\.\ds\nencrypted evaluations: 0\/(\d+) \(0%\) \d+\.\ds\n(?:.*\n)*encrypted evaluations: \1\/\1 \(100%\) \d+\.\ds\n/m,
    );
    expect(run.stderr).not.toMatch(/\r|\x1b/);
    const sim = json(cli(['predict', compiled, '--data', rowsFile, '--mode', 'simulate', '--json']));
    expect(fhe.mode).toBe('fhe');
    expect(fhe.rows).toBe(ROWS);
    const outputs = fhe.outputs as Record<string, unknown[]>;
    expect(Object.keys(outputs).sort()).toEqual(Object.keys(sim.outputs as object).sort());
    expect(outputs.output_label).toEqual(data.expected.label.slice(0, ROWS));
    const timings = fhe.timings as Record<string, unknown>;
    for (const k of ['keygen_ms', 'key_load_ms', 'encrypt_ms', 'evaluate_ms', 'decrypt_ms']) expect(Number.isFinite(timings[k]), k).toBe(true);
    const perEvaluation = timings.per_evaluation as unknown[];
    expect(perEvaluation).toHaveLength(fhe.layout === 'vector' ? ROWS : 1);
    const sizes = fhe.sizes as Record<string, number>;
    expect(sizes.eval_key_bytes).toBeGreaterThan(0);
    expect(sizes.ciphertext_bytes_in).toBeGreaterThan(0);
    expect(sizes.ciphertext_bytes_out).toBeGreaterThan(0);
  }, 60_000);

  test('keygen stores an encrypted secret key that predict --keystore uses; a wrong passphrase is refused', () => {
    const env = { DEEPPOWERS_PASSPHRASE: 'correct horse battery' };
    const evalKeys = join(tmp, 'iris.evalkeys');
    const made = json(cli(['keygen', compiled, '--keystore', keystore, '--eval-keys', evalKeys, '--json'], env));
    expect(made.secret_key).toBe('derived');
    expect(readFileSync(evalKeys).length).toBe(made.eval_key_bytes);
    const again = json(cli(['keygen', compiled, '--keystore', keystore, '--json'], env));
    expect(again.secret_key).toBe('reused');
    // Key generation is randomized: a rerun makes a new bundle (a new keys id) from the same secret key, and says so.
    expect(again.fingerprint).toBe(made.fingerprint);
    expect(again.keys_id).not.toBe(made.keys_id);
    const text = cli(['keygen', compiled, '--keystore', keystore], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^keys id +[0-9a-f]{64} \\(this bundle's SHA-256; each keygen makes a new one, the fingerprint stays\\)$`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^fingerprint +${made.fingerprint as string}$`, 'm'));

    const fhe = json(cli(['predict', compiled, '--data', rowsFile, '--mode', 'fhe', '--keystore', keystore, '--json'], env));
    expect((fhe.outputs as Record<string, unknown>).output_label).toEqual(data.expected.label.slice(0, ROWS));

    const wrong = cli(['predict', compiled, '--data', rowsFile, '--mode', 'fhe', '--keystore', keystore], { DEEPPOWERS_PASSPHRASE: 'wrong passphrase' });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/wrong passphrase/);

    // --keystore asks for an encrypted run; with another mode it is refused, not ignored.
    const quietRun = cli(['predict', compiled, '--data', rowsFile, '--keystore', keystore, '--json', '--quiet'], env);
    const implied = json(quietRun);
    expect(quietRun.stderr).not.toMatch(/encrypted evaluations/);
    expect(implied.mode).toBe('fhe');
    expect((implied.outputs as Record<string, unknown>).output_label).toEqual(data.expected.label.slice(0, ROWS));
    const simulate = cli(['predict', compiled, '--data', rowsFile, '--mode', 'simulate', '--keystore', keystore], env);
    expect(simulate.code).toBe(2);
    expect(simulate.stderr).toMatch(/--keystore is for encrypted runs \(--mode fhe\), not --mode simulate/);
    // A mistyped keystore is an error, and no empty directory is left behind.
    const missing = join(tmp, 'nokeys');
    const none = cli(['predict', compiled, '--data', rowsFile, '--mode', 'fhe', '--keystore', missing], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/keystore .*nokeys does not exist/);
    expect(existsSync(missing)).toBe(false);
  }, 60_000);

  test('report --fhe adds the encrypted run: times, bytes, error against simulation, agreement', () => {
    const report = json(cli(['report', compiled, '--data', rowsFile, '--fhe', '--json']));
    const fhe = report.fhe as { timings: Record<string, unknown>; sizes: Record<string, number>; vsSimulate: { labelAgreement: number; body: { maxAbsDelta: number } } };
    expect(Number.isFinite(fhe.timings.keygen_ms)).toBe(true);
    expect(fhe.sizes.eval_key_bytes).toBeGreaterThan(0);
    expect(fhe.vsSimulate.labelAgreement).toBe(1);
    expect(fhe.vsSimulate.body.maxAbsDelta).toBeLessThan(0.01);
  }, 60_000);

  test('the demo runs a bundled model encrypted and agrees with the plaintext model and the labels', () => {
    const demo = json(cli(['demo', '--model', 'breast-cancer-logreg', '--rows', '2', '--json']));
    const models = demo.models as DemoModelJson[];
    expect(models.map((m) => m.name)).toEqual(['breast-cancer-logreg']);
    const m = models[0]!;
    expect(m.rows).toBe(2);
    expect(m.outputs[m.label_output]).toHaveLength(2);
    expectDemoAgreesWithFramework(m);
    // The text heading counts the rows it runs, not the sample's 8.
    const text = cli(['demo', '--model', 'breast-cancer-logreg', '--rows', '2']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^== breast-cancer-logreg: 2 of the 8 held-out test rows of sklearn load_breast_cancer .*==$/m);
    expect(text.stdout.match(/^\d+ +[01] +[01] +[01]$/gm)).toHaveLength(2);
    expect(text.stderr).toMatch(/^breast-cancer-logreg: keygen N=\d+: 0\/1/m);
  }, 60_000);

  test('demo --threads 2 runs on the 2-thread backend: same labels as the framework, threads in the JSON; --threads 0 is a usage error', () => {
    const demo = json(cli(['demo', '--model', 'breast-cancer-logreg', '--rows', '3', '--threads', '2', '--json', '-q']));
    expect(demo.threads).toBe(2);
    const m = (demo.models as DemoModelJson[])[0]!;
    expect(m.rows).toBe(3);
    expectDemoAgreesWithFramework(m);
    const refused = cli(['demo', '--threads', '0']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(`deeppowers: error: option '--threads <n>' argument '0' is invalid. --threads must be a positive integer, got "0" (see deeppowers demo --help)\n`);
  }, 60_000);
});
