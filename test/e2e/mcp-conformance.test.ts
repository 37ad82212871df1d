import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { writeCompiledFixture } from '../helpers/compiled-fixture';
import { loadFixture } from '../helpers/fixtures';
import { ROOT, startServe, type ServeProcess } from '../helpers/serve-process';

/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance, a pinned devDependency,
 * offline) against a spawned `deeppowers serve --http` on 127.0.0.1. The scenarios we do not
 * offer are listed, each with its reason, in mcp-conformance-expected-failures.yml; the suite
 * exits non-zero when a listed scenario passes (stale list) or an unlisted one fails, and this
 * test reads the per-scenario results as well, to name them.
 */

const SUITE = join(ROOT, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const EXPECTED = join(import.meta.dirname, 'mcp-conformance-expected-failures.yml');

let work: string;
let server: ServeProcess;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-conformance-'));
  writeCompiledFixture(loadFixture('sk_logreg_iris_multinomial'), join(work, 'iris.compiled'), 'vector');
  server = await startServe([join(work, 'iris.compiled'), '--http', '127.0.0.1:0', '--insecure-no-auth', '--data-dir', join(work, 'data')]);
}, 90_000);

afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

function run(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SUITE, ...args], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

/** The scenario names the expected-failures file lists (one `  - name` line each, comments aside). */
function expectedFailures(): string[] {
  return readFileSync(EXPECTED, 'utf8')
    .split('\n')
    .flatMap((line) => /^\s+-\s+([a-z0-9-]+)\s*$/.exec(line)?.[1] ?? []);
}

test('the conformance suite passes every scenario we offer, and fails only those listed with a reason', async () => {
  const out = join(work, 'results');
  const { code, output } = await run(['server', '--url', server.url, '--expected-failures', EXPECTED, '-o', out]);
  const summary = output.slice(output.indexOf('=== SUMMARY ==='));

  // Each scenario's checks, as the suite saved them: a scenario fails when any check failed.
  const results = new Map<string, boolean>();
  for (const dir of readdirSync(out)) {
    const name = /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(dir)?.[1];
    if (!name) continue;
    const checks = JSON.parse(readFileSync(join(out, dir, 'checks.json'), 'utf8')) as { status: string }[];
    results.set(name, checks.length > 0 && checks.every((c) => c.status !== 'FAILURE'));
  }
  const listed = expectedFailures();
  const failing = [...results].filter(([, ok]) => !ok).map(([name]) => name);
  const newlyFailing = failing.filter((n) => !listed.includes(n));
  const newlyPassing = listed.filter((n) => results.get(n) === true);
  expect({ newlyFailing, newlyPassing }, summary).toEqual({ newlyFailing: [], newlyPassing: [] });
  // What we offer, by name: the handshake, ping, tools, logging, resources, DNS-rebinding protection.
  for (const name of ['server-initialize', 'ping', 'tools-list', 'logging-set-level', 'resources-list', 'dns-rebinding-protection']) {
    expect(results.get(name), `${name}\n${summary}`).toBe(true);
  }
  expect(results.size, summary).toBeGreaterThanOrEqual(30);
  expect(code, summary).toBe(0);
}, 120_000);
