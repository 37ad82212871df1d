import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FIXTURES_DIR, loadFixture } from '../helpers/fixtures';
import { ROOT } from '../helpers/serve-process';

/**
 * The package as a user's project meets it: `npm pack` (which builds dist/ through `prepare`),
 * the tarball unpacked into a scratch project's node_modules, `import ... from 'deeppowers'`
 * compiles a fixture and runs a private prediction on SEAL, and the declared types are real
 * (a wrong use is a type error). The scratch project gets the repository's installed
 * dependencies as its own (links), so the test needs no network.
 */
const FIXTURE = 'sk_logreg_iris_multinomial';
const IRIS = loadFixture(FIXTURE);
const ROWS = 2;
const NODE = process.execPath;

let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'dp-package-'));
  const packed = join(scratch, 'pack');
  mkdirSync(packed);
  const npm = spawnSync('npm', ['pack', '--pack-destination', packed, '--silent'], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  expect(npm.status, npm.stderr).toBe(0);
  const tarball = readdirSync(packed).find((f) => f.endsWith('.tgz'))!;
  const project = join(scratch, 'project');
  const installed = join(project, 'node_modules', 'deeppowers');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', join(packed, tarball), '-C', installed, '--strip-components=1']);
  for (const dep of readdirSync(join(ROOT, 'node_modules'))) {
    if (dep !== 'deeppowers' && !dep.startsWith('.')) symlinkSync(join(ROOT, 'node_modules', dep), join(project, 'node_modules', dep));
  }
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
}, 300_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the packed package in a scratch project', () => {
  test("import { compile, predictPrivately } from 'deeppowers': a private prediction on SEAL matches scikit-learn", async () => {
    const project = join(scratch, 'project');
    const rows = IRIS.data.test_inputs.slice(0, ROWS);
    writeFileSync(
      join(project, 'main.mjs'),
      `import { compile, predictPrivately, sealBackend } from 'deeppowers';
const dir = ${JSON.stringify(join(FIXTURES_DIR, FIXTURE))};
const model = compile(dir + '/model.onnx', { calibration: dir + '/data.json', layout: 'vector' });
const outputs = await predictPrivately(model, ${JSON.stringify(rows)}, { backend: sealBackend });
const browser = import.meta.resolve('deeppowers/browser');
const names = Object.keys(await import('deeppowers')).sort();
process.stdout.write(JSON.stringify({ outputs, bound: model.calibration.precision.bound, browser, names }));
`,
    );
    const r = spawnSync(NODE, ['main.mjs'], { cwd: project, encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    const { outputs, bound, browser, names } = JSON.parse(r.stdout) as { outputs: Record<string, unknown[]>; bound: number; browser: string; names: string[] };
    // lib/deeppowers.js re-exports every value runtime/app/node.ts exports, no more and no fewer.
    expect(names).toEqual(Object.keys(await import('../../runtime/app/node')).sort());
    const expected = IRIS.data.expected as { label: number[]; probabilities: number[][] };
    expect(outputs['output_label']).toEqual(expected.label.slice(0, ROWS));
    (outputs['output_probability'] as Record<string, number>[]).forEach((p, r) =>
      expected.probabilities[r]!.forEach((want, k) => expect(Math.abs(p[String(k)]! - want), `row ${r} class ${k}`).toBeLessThan(bound)),
    );
    // deeppowers/browser resolves to the bundle inside the installed package.
    expect(browser).toMatch(/\/node_modules\/deeppowers\/dist\/browser\/deeppowers\.js$/);
  }, 300_000);

  test("serve and connect from 'deeppowers' (docs/api.md's server and client): a private prediction through the server, its log entry verified", async () => {
    const project = join(scratch, 'project');
    const rows = IRIS.data.test_inputs.slice(ROWS, ROWS + 1);
    const token = '0123456789abcdef0123456789';
    writeFileSync(
      join(project, 'served.mjs'),
      `import { compile, connect, serve } from 'deeppowers';
const dir = ${JSON.stringify(join(FIXTURES_DIR, FIXTURE))};
compile(dir + '/model.onnx', { calibration: dir + '/data.json', layout: 'vector', output: 'iris.compiled' });
const server = await serve(['iris.compiled'], { tokens: 'alice:${token}', dataDir: 'serve-data' });
try {
  const client = await connect({ url: server.url, token: '${token}', keystore: 'keys', passphrase: 'a passphrase for the scratch keystore' });
  const p = await client.predict('iris', ${JSON.stringify(rows)});
  await client.close();
  process.stdout.write(JSON.stringify({ outputs: p.outputs, verification: p.verification }));
} finally {
  await server.close();
}
`,
    );
    const r = spawnSync(NODE, ['served.mjs'], { cwd: project, encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    const { outputs, verification } = JSON.parse(r.stdout) as { outputs: Record<string, unknown[]>; verification: string };
    const expected = IRIS.data.expected as { label: number[] };
    expect(outputs['output_label']).toEqual(expected.label.slice(ROWS, ROWS + 1));
    expect(verification).toMatch(/^verified: computed and signed by the server alone \(no reviewers\), log entry 0(; first use of this server: .*)?$/);
    // The client made its keystore in the scratch project.
    expect(readdirSync(join(project, 'keys')).length).toBeGreaterThan(0);
  }, 300_000);

  test('the declared types are real: a correct use and every docs/api.md example type-check, a wrong use does not', () => {
    const project = join(scratch, 'project');
    const tsc = (files: string | readonly string[]) =>
      spawnSync(NODE, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'esnext', '--moduleResolution', 'bundler', '--types', 'node', ...[files].flat()], {
        cwd: project,
        encoding: 'utf8',
        timeout: 240_000,
      });
    writeFileSync(
      join(project, 'good.ts'),
      `import { compile, type CompiledModel } from 'deeppowers';
import { BrowserKeystore, PBKDF2_ITERATIONS } from 'deeppowers/browser';
const model: CompiledModel = compile('model.onnx', { calibration: 'data.json' });
const hash: string = model.modelHash;
const open: (passphrase: string) => Promise<BrowserKeystore> = (p) => BrowserKeystore.open(p);
export { hash, open, PBKDF2_ITERATIONS };
`,
    );
    writeFileSync(join(project, 'bad.ts'), `import { compile } from 'deeppowers';\nconst n: number = compile('model.onnx', { calibration: 'data.json' }).modelHash;\nexport { n };\n`);
    const good = tsc('good.ts');
    expect(good.status, good.stdout).toBe(0);
    // Every example of docs/api.md, as a user's file: it must type-check against the installed declarations.
    const examples = [...readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(examples.length).toBeGreaterThanOrEqual(7);
    examples.forEach((code, i) => writeFileSync(join(project, `api-${i + 1}.ts`), `// values a page or program has from elsewhere\ndeclare const passphrase: string;\ndeclare const token: string;\n${code}`));
    const api = tsc(examples.map((_, i) => `api-${i + 1}.ts`));
    expect(api.status, api.stdout).toBe(0);
    const bad = tsc('bad.ts');
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/bad\.ts\(2,7\): error TS2322: Type 'string' is not assignable to type 'number'/);
  }, 300_000);
});
