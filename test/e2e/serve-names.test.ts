import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { BIN, startServe, type ServeProcess } from '../helpers/serve-process';
import { FIXTURES_DIR } from '../helpers/fixtures';

/**
 * What an LLM host sees of a model is chosen at compile time: `compile --name` names the tool
 * (not the output directory, which docs/exporting.md's own recipe calls `model.compiled`),
 * `--description` says what it does and `--feature-names` names its inputs. A real
 * `deeppowers compile` and `deeppowers serve`, read by the MCP SDK's client.
 */

const FIXTURE = join(FIXTURES_DIR, 'sk_logreg_iris_multinomial');
const DESCRIPTION = 'Iris species (setosa 0, versicolor 1, virginica 2) from sepal and petal sizes in cm';
const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

let work: string;
let server: ServeProcess;

function cli(args: readonly string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, encoding: 'utf8', timeout: 120_000, env: { ...process.env, DEEPPOWERS_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function compile(out: string, ...more: string[]) {
  return cli(['compile', join(FIXTURE, 'model.onnx'), '--calibration', join(FIXTURE, 'data.json'), '-o', join(work, out), ...more]);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-serve-names-'));
  const r = compile('model.compiled', '--name', 'iris_species', '--description', DESCRIPTION, '--feature-names', FEATURES.join(','));
  expect(r.code, r.stderr).toBe(0);
  server = await startServe([join(work, 'model.compiled'), '--http', '127.0.0.1:0', '--insecure-no-auth', '--data-dir', join(work, 'data')], work);
}, 180_000);

afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('the tool is named by --name, described by --description; list_models and the card carry both and the feature names', async () => {
  const manifest = JSON.parse(readFileSync(join(work, 'model.compiled', 'manifest.json'), 'utf8'));
  expect(manifest.input.featureNames).toEqual(FEATURES);
  const client = new Client({ name: 'test', version: '0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  try {
    const { tools } = await client.listTools();
    const predict = tools.find((t) => t.name.startsWith('predict_'));
    expect(predict?.name).toBe('predict_iris_species');
    expect(predict?.description?.startsWith(`${DESCRIPTION}. Evaluate iris_species`)).toBe(true);
    const list = (await client.callTool({ name: 'list_models', arguments: {} })).structuredContent as { models: Record<string, unknown>[] };
    expect(list.models).toEqual([
      expect.objectContaining({ model: 'iris_species', tool: 'predict_iris_species', description: DESCRIPTION, inputs: [expect.objectContaining({ features: FEATURES })] }),
    ]);
    const card = JSON.parse(((await client.readResource({ uri: 'deeppowers://models/iris_species/card' })).contents[0] as { text: string }).text);
    expect(card).toMatchObject({ model: 'iris_species', description: DESCRIPTION, inputs: [expect.objectContaining({ features: FEATURES })] });
  } finally {
    await client.close();
  }
});

test('a name no tool can carry, and feature names that do not fit the input, are one-line usage errors', () => {
  const badName = compile('bad.compiled', '--name', 'iris species!');
  expect(badName.code).toBe(2);
  expect(badName.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(badName.stderr).toMatch(/"iris species!" cannot name an MCP tool: use letters, digits, "\.", "_" or "-" \(e\.g\. "iris_species"\)/);
  const tooFew = compile('few.compiled', '--feature-names', 'a,b');
  expect(tooFew.code).toBe(2);
  expect(tooFew.stderr).toMatch(/^deeppowers: error: --feature-names gives 2 names; input "float_input" has 4 features per row \(shape \[4\]\)\n$/);
  const twice = compile('twice.compiled', '--feature-names', 'a,b,a,c');
  expect(twice.code).toBe(2);
  expect(twice.stderr).toMatch(/--feature-names names "a" twice/);
});
