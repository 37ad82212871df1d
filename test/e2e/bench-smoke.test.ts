import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

/**
 * `deeppowers bench --quick --json`: the JSON contract other tools read. Only shapes and finite
 * numbers are checked; timings are measured by the benchmark, never asserted here.
 */
const ROOT = join(import.meta.dirname, '..', '..');

/** `deeppowers bench` of iris alone (vector), small, with the browser client timed next to Node (as browser-client.test.ts runs it). */
const IRIS_BROWSER_BENCH = ['bench', '--in-process', '--soak', '0', '--ops-reps', '1', '--reps', '1', '--threads', '1', '--models', 'sk_logreg_iris_multinomial', '--layouts', 'vector', '--browser'];

const CONTRACT = [
  'n',
  'depth',
  'rotations',
  'server_ms',
  'samples_per_s',
  'one_sample_ms',
  'keygen_ms',
  'encrypt_ms',
  'decrypt_ms',
  'eval_key_bytes',
  'ciphertext_bytes_in',
  'ciphertext_bytes_out',
  'predicted_ms',
  'measured_over_predicted',
  'onnxruntime_ms',
  'slowdown',
  'promised_relative_error',
  'measured_relative_error',
] as const;

describe('bench --quick --json', () => {
  test('prints one JSON object with results per layout, op costs per N and a soak', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'deeppowers.js'), 'bench', '--quick', '--soak', '10', '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Record<string, unknown> & { results: Record<string, unknown>[]; ops: Record<string, { ms: Record<string, unknown> }[]>; soak: Record<string, unknown> };
    expect(report.results.map((x) => x.layout).sort()).toEqual(['batch', 'vector']);
    for (const result of report.results) {
      expect(typeof result.model).toBe('string');
      expect(result.error, String(result.error)).toBeUndefined();
      for (const field of CONTRACT) {
        expect(Number.isFinite(result[field]), `${result.model} ${result.layout} ${field} = ${result[field]}`).toBe(true);
      }
      // The batch layout fills every slot: N/2 samples per evaluation.
      expect(result.samples_per_evaluation).toBe(result.layout === 'batch' ? (result.n as number) / 2 : 1);
      const v = (field: string) => result[field] as number;
      // The figures hang together: a rate is evaluations' samples over the server time, one sample
      // end to end is encrypt + server + decrypt, ratios are their quotients.
      expect(v('samples_per_s')).toBeCloseTo((v('samples_per_evaluation') * 1000) / v('server_ms'), 6);
      expect(v('one_sample_ms')).toBeCloseTo(v('encrypt_ms') + v('server_ms') + v('decrypt_ms'), 6);
      expect(v('slowdown')).toBeCloseTo(v('server_ms') / v('onnxruntime_ms'), 6);
      // The encrypted outputs, decrypted, stay within the promise of the framework's own outputs.
      expect(v('measured_relative_error')).toBeLessThanOrEqual(v('promised_relative_error'));
      // A ciphertext is two polynomials of N coefficients under the data primes: it cannot take
      // less than a byte per coefficient nor more than 8 bytes per coefficient per prime (+ header).
      expect(v('ciphertext_bytes_out')).toBeGreaterThan(2 * v('n'));
      expect(v('ciphertext_bytes_in')).toBeGreaterThan(2 * v('n'));
      expect(result.rotations === 0).toBe(result.layout === 'batch');
    }
    const ns = Object.keys(report.ops);
    expect(ns.length).toBeGreaterThan(0);
    for (const n of ns) {
      for (const chain of report.ops[n]!) {
        for (const op of ['encode', 'encrypt', 'add', 'multiplyPlain', 'multiply', 'relinearize', 'rotate', 'decryptDecode']) {
          expect(Number.isFinite(chain.ms[op]), `ops ${n} ${op}`).toBe(true);
        }
      }
    }
    expect(report.soak.evaluations).toBe(10);
    // Progress off a terminal: plain lines on stderr (stdout parsed above as one JSON value).
    expect(r.stderr).toMatch(/^soak evaluations: 0\/10 \(0%\) \d+\.\ds$/m);
    expect(r.stderr).toMatch(/^soak evaluations: 10\/10 \(100%\) \d+\.\ds$/m);
    for (const field of ['wasm_heap_before', 'wasm_heap_after', 'rss_before', 'rss_after', 'ms_per_evaluation']) {
      expect(Number.isFinite(report.soak[field]), `soak ${field}`).toBe(true);
    }
  }, 150_000);

  test('--refresh auto times a body with client steps end to end (pt_mlp_digits_relu: two segments, one round trip)', () => {
    const args = ['bench', '--in-process', '--json', '--soak', '0', '--ops-reps', '2', '--reps', '1', '--threads', '1', '--models', 'pt_mlp_digits_relu', '--layouts', 'vector', '--refresh', 'auto'];
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'deeppowers.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { options: { refresh: string }; results: Record<string, unknown>[] };
    expect(report.options.refresh).toBe('auto');
    const [row] = report.results;
    expect(row!.error, String(row!.error)).toBeUndefined();
    for (const field of [...CONTRACT, 'client_step_ms', 'client_step_bytes']) expect(Number.isFinite(row![field]), `${field} = ${row![field]}`).toBe(true);
    expect(row!.client_steps).toBe(1);
    expect(row!.n).toBe(16384);
    // End to end includes the round trip; the encrypted error against the exact float64 body keeps the promise.
    expect(row!.one_sample_ms as number).toBeGreaterThan((row!.server_ms as number) + (row!.client_step_ms as number));
    expect(row!.measured_relative_error as number).toBeLessThanOrEqual(row!.promised_relative_error as number);
  }, 300_000);

  /** A small bench of iris alone (vector) with --browser (the run with Chromium is in browser-client.test.ts, after the bundle is built). */
  const irisBench = (more: readonly string[], env: NodeJS.ProcessEnv) =>
    spawnSync(process.execPath, [join(ROOT, 'bin', 'deeppowers.js'), ...IRIS_BROWSER_BENCH, ...more], { cwd: ROOT, encoding: 'utf8', timeout: 240_000, env });

  test('--browser without a Chromium says why in one line, in the text and in --json, and the bench still runs', () => {
    const env = { ...process.env, DEEPPOWERS_CHROMIUM: '/nonexistent/chromium' };
    const why = 'no Chromium at /nonexistent/chromium (apt-get install chromium, or set DEEPPOWERS_CHROMIUM to its executable)';
    const text = irisBench([], env);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toContain(`\nbrowser client: not timed: ${why}\n`);
    expect(text.stdout).toMatch(/^sk_logreg_iris_multinomial\s+vector\s+\d+/m);
    const json = irisBench(['--json'], env);
    expect(json.status, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as { browser: unknown }).browser).toEqual({ skipped: why });
  }, 300_000);
});
