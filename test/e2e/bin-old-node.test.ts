import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';

/**
 * `node bin/deeppowers.js` started by a Node too old for node-seal (the README's "from a clone"
 * path, and Claude Desktop's `"command": "node"`): the bin re-runs itself under the Node the
 * package installs, passing arguments, stdio, the exit code and signals through, or stops
 * with one line when there is none. Runs when an old Node is on this machine (Debian's is 20).
 */
const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'deeppowers.js');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'sk_logreg_iris_multinomial');
const OLD_NODE = '/usr/bin/node';

function oldNodeMajor(): number | undefined {
  const r = spawnSync(OLD_NODE, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim().replace(/^v/, '').split('.')[0]) : undefined;
}
const major = oldNodeMajor();
const haveOldNode = major !== undefined && major < 22;

const tmp = mkdtempSync(join(tmpdir(), 'deeppowers-old-node-'));
const compiled = join(tmp, 'iris.compiled');
const rowsFile = join(tmp, 'rows.json');
const data = JSON.parse(readFileSync(join(FIXTURE, 'data.json'), 'utf8')) as { test_inputs: number[][]; expected: { label: number[] } };

function run(bin: string, args: readonly string[]) {
  const r = spawnSync(OLD_NODE, [bin, ...args], { cwd: tmp, encoding: 'utf8', timeout: 90_000, env: { ...process.env, DEEPPOWERS_DEBUG: '' } });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

// Under CI nothing may pass by skipping: .ci/run's machine has Debian's Node 20.
if (!haveOldNode && process.env['CI'] === 'true') {
  test('an old Node is present under CI', () => {
    throw new Error(`${OLD_NODE} is missing or not older than Node 22 (found ${major ?? 'none'}): this suite would skip; install Debian's nodejs`);
  });
}

describe.skipIf(!haveOldNode)(`bin/deeppowers.js on ${OLD_NODE} (Node ${major})`, () => {
  beforeAll(() => {
    writeFileSync(rowsFile, JSON.stringify(data.test_inputs.slice(0, 2)));
    const r = run(BIN, ['compile', join(FIXTURE, 'model.onnx'), '--calibration', join(FIXTURE, 'data.json'), '-o', compiled, '--json']);
    expect(r.code, r.stderr).toBe(0);
  }, 90_000);

  test('runs an encrypted prediction (node-seal) and passes stdout through', () => {
    const r = run(BIN, ['predict', compiled, '--data', rowsFile, '--mode', 'fhe', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { mode: string; outputs: { output_label: number[] } };
    expect(out.mode).toBe('fhe');
    expect(out.outputs.output_label).toEqual(data.expected.label.slice(0, 2));
  });

  test('passes the exit code and the one-line error through', () => {
    const r = run(BIN, ['predict', compiled, '--data', join(tmp, 'missing.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^deeppowers: error: .*missing\.json/);
  });

  test('passes stdin through and a SIGTERM on to the real process (serve --stdio)', async () => {
    const child = spawn(OLD_NODE, [BIN, 'serve', compiled, '--stdio', '--data-dir', join(tmp, 'data')], { cwd: tmp, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const request = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'test', version: '0' } } };
    child.stdin.write(`${JSON.stringify(request)}\n`);
    const deadline = Date.now() + 60_000;
    while (!stdout.includes('"id":1') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    expect(stdout, stderr).toMatch(/"serverInfo"/);
    child.kill('SIGTERM');
    const end = await exited;
    // serve shuts down cleanly on SIGTERM and exits 0; the wrapper exits as its child did.
    expect(end, stderr).toEqual({ code: 0, signal: null });
  }, 90_000);

  test('without the bundled Node, stops at once with one line saying what to do', () => {
    const bare = join(tmp, 'bare');
    mkdirSync(join(bare, 'bin'), { recursive: true });
    writeFileSync(join(bare, 'package.json'), JSON.stringify({ name: 'bare', type: 'module' }));
    copyFileSync(BIN, join(bare, 'bin', 'deeppowers.js'));
    const r = run(join(bare, 'bin', 'deeppowers.js'), ['--version']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^deeppowers: error: Node 2?\d\.\S+ cannot run DeepPowers .*npm ci.*Node >= 22/);
  });
});
