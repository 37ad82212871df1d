import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { DeepPowersError } from '../../compiler/errors';
import { reportError } from '../../runtime/cli/report-error';
import { expectDemoAgreesWithFramework, type DemoModelJson } from '../helpers/demo-reference';
import { FIXTURE_STAGE } from '../helpers/fixture-status';

/**
 * The command line as users run it: a real `node bin/deeppowers.js` process (on the Node that
 * runs the tests), checked for exit codes, stdout/stderr separation and one-line errors.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'deeppowers.js');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'sk_logreg_breast_cancer');
const MODEL = join(ROOT, 'models', 'breast-cancer-logreg', 'model.onnx');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(...args: string[]): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, DEEPPOWERS_DEBUG: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit 2, exactly one line on stderr, no stack trace, nothing on stdout. */
function expectCleanFailure(r: Run, message: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^deeppowers: error: /);
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

let dir: string;
const file = (name: string, content: string | Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
const row = (n: number, v = 1) => Array.from({ length: n }, (_, i) => v + i / 10);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'deeppowers-cli-'));
});

describe('deeppowers command line', () => {
  it('prints help and version, exit 0', () => {
    const help = cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/inspect/);
    expect(help.stdout).toMatch(/predict/);
    const version = cli('--version');
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('answers unknown commands, unknown options and unavailable modes with a usage error, exit 2', () => {
    for (const args of [['frobnicate'], ['inspect', MODEL, '--bogus'], ['predict', MODEL, '--data', 'x.json', '--mode', 'fhe'], ['predict', MODEL]]) {
      const r = cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
    }
    // simulate runs compiled models (test/e2e/compile-cli.test.ts); an ONNX file is pointed to compile.
    expect(cli('predict', MODEL, '--data', 'x.json', '--mode', 'simulate').stderr).toMatch(/--mode simulate runs a compiled model directory/);
  });

  it('inspect --json describes inputs, outputs and operators', () => {
    const r = cli('inspect', MODEL, '--json');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.name).toBe('sk_logreg_breast_cancer');
    expect(report.opsets).toEqual({ 'ai.onnx': 13, 'ai.onnx.ml': 1 });
    expect(report.inputs).toEqual([{ name: 'float_input', type: 'float32 [?, 30]', dtype: 'float32', shape: [null, 30] }]);
    expect(report.outputs.map((o: { name: string }) => o.name)).toEqual(['label', 'probabilities']);
    expect(report.operators.map((o: { op: string; count: number }) => `${o.op}×${o.count}`)).toEqual(['Scaler×1', 'LinearClassifier×1', 'Normalizer×1']);
    // Scaler: offset + scale (30 each); LinearClassifier: 2 classes × 30 coefficients + 2 intercepts.
    expect(report.parameters).toBe(122);
    expect(typeof report.imports).toBe('boolean');
  });

  it('inspect reports an unsupported operator instead of failing', () => {
    const r = cli('inspect', unsupportedOpModel());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/NoSuchOp\s+ai\.onnx\s+1\s+no: operator not implemented/);
    expect(r.stdout).toMatch(/imports cleanly: no: unsupported operator: NoSuchOp node/);
  });

  it('support prints the families, activations and operators; --json as one object, --markdown as the section of docs/supported-models.md', () => {
    const text = cli('support');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^ {2}GELU +Gelu \(opset ≥ 20\); Mul\(Mul\(x, Add\(Erf/m);
    const json = cli('support', '--json');
    expect(json.code, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as { activations: { fn: string }[]; operators: { opType: string; roles: string[] }[] };
    expect(parsed.activations.map((a) => a.fn)).toContain('leaky_relu');
    expect(parsed.operators.find((o) => o.opType === 'Erf')?.roles).toEqual(['encrypted: activation']);
    // Transformers: the server evaluates Softmax and LayerNorm in a compiled model, not only the client after decryption.
    expect(parsed.operators.find((o) => o.opType === 'Softmax')?.roles).toContain('encrypted: row-wise function');
    expect(parsed.operators.find((o) => o.opType === 'LayerNormalization')?.roles).toContain('encrypted: row-wise function');
    const markdown = cli('support', '--markdown');
    expect(markdown.stdout).toMatch(/^#### Model families$/m);
  });

  it('predict --json matches every fixture\'s expected outputs, keyed by ONNX output name', () => {
    const fixtures = readdirSync(join(ROOT, 'test', 'fixtures')).filter(
      (d) => existsSync(join(ROOT, 'test', 'fixtures', d, 'data.json')) && FIXTURE_STAGE[d] !== 'refused-at-import',
    );
    expect(fixtures.length).toBeGreaterThan(0);
    for (const name of fixtures) {
      const dir = join(ROOT, 'test', 'fixtures', name);
      const fixture = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8'));
      const r = cli('predict', join(dir, 'model.onnx'), '--data', join(dir, 'data.json'), '--json');
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.mode).toBe('reference');
      expect(out.rows).toBe(fixture.test_inputs.length);
      expect(Object.keys(out.outputs), name).toEqual(fixture.output_names);
      for (const c of fixture.compare as { output: string; expected: string; kind: 'exact' | 'close' }[]) {
        const got = out.outputs[c.output].map(flatValues);
        const want = fixture.expected[c.expected].map(flatValues);
        expect(got.length, `${name} ${c.output}`).toBe(fixture.test_inputs.length);
        got.forEach((g: (number | string)[], i: number) => {
          if (c.kind === 'exact') expect(g, `${name} ${c.output} row ${i + 1}`).toEqual(want[i]);
          else g.forEach((v, j) => expect(Math.abs((v as number) - want[i][j]), `${name} ${c.output} row ${i + 1}`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(want[i][j]))));
        });
      }
    }
  });

  it('predict reads CSV with a header and prints a table, one line per row', () => {
    const fixture = JSON.parse(readFileSync(join(FIXTURE, 'data.json'), 'utf8'));
    const rows: number[][] = fixture.test_inputs.slice(0, 3);
    const csv = file('rows.csv', [rows[0]!.map((_, i) => `f${i}`).join(','), ...rows.map((r) => r.join(','))].join('\n'));
    const r = cli('predict', MODEL, '--data', csv);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^row\s+label\s+probabilities$/);
    expect(lines.slice(2).map((l) => l.split(/\s+/)[1])).toEqual(fixture.expected.label.slice(0, 3).map(String));
  });

  describe('bad input: exit 2, one line, no stack trace', () => {
    it('truncated model', () => {
      const bytes = readFileSync(MODEL);
      expectCleanFailure(cli('inspect', file('truncated.onnx', bytes.subarray(0, bytes.length >> 1))), /truncated\.onnx is not a valid ONNX model/);
    });

    it('random bytes', () => {
      let s = 12345;
      const random = Uint8Array.from({ length: 2048 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24));
      expectCleanFailure(cli('predict', file('random.onnx', random), '--data', file('one.json', JSON.stringify([row(30)]))), /random\.onnx is not/);
    });

    it('missing model file', () => {
      expectCleanFailure(cli('inspect', join(dir, 'nope.onnx')), /cannot read model .*nope\.onnx: no such file/);
    });

    it('unsupported operator', () => {
      expectCleanFailure(cli('predict', unsupportedOpModel(), '--data', file('one.json', JSON.stringify([row(30)]))), /unsupported operator: NoSuchOp node .*\(ai\.onnx opset 13\)/);
    });

    it('wrong row width', () => {
      const data = file('short.json', JSON.stringify([row(30), row(30), row(29)]));
      expectCleanFailure(cli('predict', MODEL, '--data', data), /row 3 has 29 values, the model input float_input expects 30 per row \(shape \[30\]\)/);
    });

    it('NaN and Infinity cells', () => {
      const nan = file('nan.csv', `${row(30).join(',')}\n${row(30).map((v, i) => (i === 4 ? 'NaN' : v)).join(',')}\n`);
      expectCleanFailure(cli('predict', MODEL, '--data', nan), /nan\.csv line 2 \(row 2\), column 5 is NaN/);
      const inf = file('inf.json', `[[${row(30).map((v, i) => (i === 7 ? '1e999' : v)).join(',')}]]`);
      expectCleanFailure(cli('predict', MODEL, '--data', inf), /row 1, column 8 is Infinity/);
    });

    it('non-numeric cells', () => {
      const data = file('text.json', JSON.stringify([row(30).map((v, i) => (i === 2 ? 'abc' : v))]));
      expectCleanFailure(cli('predict', MODEL, '--data', data), /row 1, column 3 is the string "abc", not a number/);
    });

    it('empty data file', () => {
      expectCleanFailure(cli('predict', MODEL, '--data', file('empty.csv', '')), /empty\.csv is empty/);
      expectCleanFailure(cli('predict', MODEL, '--data', file('empty.json', '[]')), /empty\.json contains no rows/);
    });

    it('--json also prints the error as a JSON object on stdout', () => {
      const r = cli('predict', MODEL, '--data', file('empty2.json', '[]'), '--json');
      expect(r.code).toBe(2);
      expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'BAD_DATA', message: expect.stringMatching(/contains no rows/) } });
    });
  });

  it('demo runs the bundled models and gives the framework\'s predictions on their sample rows', () => {
    const r = cli('demo', '--json');
    expect(r.code, r.stderr).toBe(0);
    const demo = JSON.parse(r.stdout);
    expect(demo.models.length).toBeGreaterThan(0);
    for (const m of demo.models as DemoModelJson[]) {
      expect(m.outputs[m.label_output]).toHaveLength(m.rows);
      expectDemoAgreesWithFramework(m);
    }
  });
});

describe('error reporting inside the process', () => {
  afterEach(() => vi.restoreAllMocks());

  function capture(run: () => number): { code: number; stdout: string; stderr: string } {
    let stdout = '';
    let stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
    const code = run();
    vi.restoreAllMocks();
    return { code, stdout, stderr };
  }

  it('reports a DeepPowersError as one line, exit 2, and as JSON with --json', () => {
    const r = capture(() => reportError(new DeepPowersError('BAD_DATA', 'row 2 is bad'), true, {}));
    expect(r).toEqual({ code: 2, stdout: '{"error":{"code":"BAD_DATA","message":"row 2 is bad"}}\n', stderr: 'deeppowers: error: row 2 is bad\n' });
  });

  it('reports any other error as an internal error, exit 1, with the stack only when DEEPPOWERS_DEBUG=1', () => {
    const quiet = capture(() => reportError(new TypeError('x is undefined'), false, {}));
    expect(quiet.code).toBe(1);
    expect(quiet.stderr).toMatch(/^deeppowers: internal error: x is undefined\n.*report it/);
    expect(quiet.stderr).not.toMatch(/\n\s+at /);
    const debug = capture(() => reportError(new TypeError('x is undefined'), false, { DEEPPOWERS_DEBUG: '1' }));
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});

/** A row entry as a flat list: scalars, nested arrays and ZipMap objects (in label order). */
function flatValues(e: unknown): (number | string)[] {
  if (Array.isArray(e)) return e.flatMap(flatValues);
  if (e !== null && typeof e === 'object') return Object.values(e as Record<string, number>);
  return [e as number | string];
}

/** The bundled model with its first node's op_type changed to one nobody implements. */
function unsupportedOpModel(): string {
  const { onnx } = onnxProto;
  const model = onnx.ModelProto.decode(readFileSync(MODEL));
  const first = model.graph!.node![0]!;
  first.opType = 'NoSuchOp';
  first.domain = '';
  return file('unsupported.onnx', onnx.ModelProto.encode(model).finish());
}
