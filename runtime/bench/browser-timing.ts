/**
 * The browser client next to the Node client on the same models and server (`deeppowers bench
 * --browser`): how long the secret key (derived from the recovery root), the evaluation keys
 * (made and uploaded), encryption and decryption take in Chromium (the deeppowers/browser bundle,
 * SEAL as WebAssembly) and in Node (the same modules), and how big the bundle is. Both clients
 * run PrivateModel against one in-process server, one after the other, with the same rows. Keys
 * are kept in memory on both sides (the keystores' passphrase KDFs, scrypt and PBKDF2, are not
 * what is compared), and each side opens the model once untimed first, so SEAL's WebAssembly is
 * loaded before the clock starts.
 *
 * Chromium is driven with playwright-core, a devDependency: it is imported only here, when asked,
 * and its absence (or Chromium's, or an unbuilt bundle) is a one-line reason, not a failure.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Layout } from '../../compiler/circuit/ir';
import { DeepPowersError } from '../../compiler/errors';
import { compile, serve } from '../app/node';
import { sealBackend } from '../backends/seal/backend';
import type { ClientKeyStore } from '../client/client-keystore';
import { PrivateModel } from '../mcp/private-model';
import { RemoteServer } from '../mcp/remote';
import { PinStore } from '../network/pins';
import type { BenchFixture } from './fixture-data';
// Types only (erased): the module itself is imported when --browser asks for it, below.
import type { Browser } from 'playwright-core';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const TOKEN = 'bench-0123456789abcdef0123456789ab';
/** Where Chromium is looked for unless DEEPPOWERS_CHROMIUM names another executable (Debian's package). */
export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

export interface ClientTiming {
  readonly secret_key_ms: number;
  readonly evaluation_keys_ms: number;
  readonly encrypt_ms: number;
  readonly decrypt_ms: number;
  /** Upload of the ciphertexts, the server's evaluation and the answer, client steps included. */
  readonly server_ms: number;
}

export type BrowserRun =
  | { readonly model: string; readonly layout: Layout; readonly rows: number; readonly node: ClientTiming; readonly chromium: ClientTiming }
  | { readonly model: string; readonly error: string };

export interface BundleSizes {
  readonly js: number;
  readonly js_gzip: number;
  readonly wasm: number;
  readonly wasm_gzip: number;
}

export type BrowserBench = { readonly chromium: string; readonly bundle: BundleSizes; readonly runs: readonly BrowserRun[] } | { readonly skipped: string };

export interface BrowserBenchOptions {
  /** The models, each with the layout to compile it in. */
  readonly models: readonly { readonly fixture: BenchFixture; readonly layout: Layout }[];
  readonly rows: number;
  readonly refresh: 'auto' | 'off';
  readonly log: (line: string) => void;
}

type Playwright = typeof import('playwright-core');

/** The part of deeppowers/browser the bench calls (its own types need the DOM's, which this file is checked without). */
interface BrowserLib {
  BrowserClient: {
    connect(o: { url: string; token: string; keystore: unknown }): Promise<{
      model(name: string): Promise<{ ensureKeys(): Promise<string>; predict(rows: readonly unknown[]): Promise<{ timings: Omit<ClientTiming, 'secret_key_ms' | 'evaluation_keys_ms'> }> }>;
      close(): Promise<void>;
    }>;
  };
}

export async function benchBrowserClient(options: BrowserBenchOptions): Promise<BrowserBench> {
  const ready = await browserReady();
  if ('skipped' in ready) return ready;
  const { playwright, executablePath } = ready;
  const browser = await playwright.chromium.launch({ executablePath, args: ['--no-sandbox'] });
  const work = mkdtempSync(join(tmpdir(), 'dp-browser-bench-'));
  try {
    const runs: BrowserRun[] = [];
    for (const { fixture, layout } of options.models) {
      options.log(`browser client: ${fixture.name} (${layout}), Node then Chromium`);
      try {
        runs.push(await benchModel(browser, fixture, layout, options, join(work, fixture.name)));
      } catch (e) {
        if (!(e instanceof DeepPowersError)) throw e;
        options.log(`  failed: ${e.message}`);
        runs.push({ model: fixture.name, error: `${e.code}: ${e.message}` });
      }
    }
    return { chromium: `${browser.version()} (${executablePath})`, bundle: bundleSizes(), runs };
  } finally {
    await browser.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** playwright-core, a Chromium and the built bundle, or the one reason the browser cannot be timed. */
async function browserReady(): Promise<{ playwright: Playwright; executablePath: string } | { skipped: string }> {
  let playwright: Playwright;
  try {
    playwright = await import('playwright-core');
  } catch {
    return { skipped: 'playwright-core is not installed (it is a devDependency: npm install in a checkout of deeppowers)' };
  }
  const executablePath = process.env['DEEPPOWERS_CHROMIUM'] ?? DEFAULT_CHROMIUM;
  if (!existsSync(executablePath)) return { skipped: `no Chromium at ${executablePath} (apt-get install chromium, or set DEEPPOWERS_CHROMIUM to its executable)` };
  for (const file of ['browser/deeppowers.js', 'browser/seal_throws.wasm', 'ui/index.html']) {
    if (!existsSync(join(DIST, file))) return { skipped: `the browser bundle is not built (no dist/${file}): run npm run build` };
  }
  return { playwright, executablePath };
}

async function benchModel(browser: Browser, fixture: BenchFixture, layout: Layout, options: BrowserBenchOptions, work: string): Promise<BrowserRun> {
  const data = JSON.parse(readFileSync(join(dirname(fixture.modelPath), 'data.json'), 'utf8')) as { test_inputs: unknown[] };
  const rows = data.test_inputs.slice(0, options.rows);
  const name = fixture.name;
  compile(fixture.modelPath, { calibration: join(dirname(fixture.modelPath), 'data.json'), layout, output: join(work, name), refresh: options.refresh });
  const server = await serve([join(work, name)], { tokens: `bench:${TOKEN}`, dataDir: join(work, 'data'), ui: true });
  try {
    const node = await nodeTiming(server.url, name, rows, work);
    const chromium = await chromiumTiming(browser, server.url, name, rows);
    return { model: name, layout, rows: rows.length, node, chromium };
  } finally {
    await server.close();
  }
}

async function nodeTiming(url: string, name: string, rows: readonly unknown[], work: string): Promise<ClientTiming> {
  const remote = await RemoteServer.connect({ url, token: TOKEN });
  try {
    // Pins in the scratch dir (a memory keystore has no dir of its own to keep them in).
    const pins = PinStore.open(join(work, 'node-pins'));
    (await PrivateModel.open(sealBackend, remote, memoryKeystore(), name, () => {}, {}, async () => {}, pins)).dispose();
    let t = performance.now();
    const m = await PrivateModel.open(sealBackend, remote, memoryKeystore(), name, () => {}, {}, async () => {}, pins);
    const secret = performance.now() - t;
    t = performance.now();
    await m.ensureKeys();
    const evaluation = performance.now() - t;
    const p = await m.predict(rows);
    m.dispose();
    return { secret_key_ms: round(secret), evaluation_keys_ms: round(evaluation), encrypt_ms: p.timings.encrypt_ms, decrypt_ms: p.timings.decrypt_ms, server_ms: p.timings.server_ms };
  } finally {
    await remote.close();
  }
}

async function chromiumTiming(browser: Browser, url: string, name: string, rows: readonly unknown[]): Promise<ClientTiming> {
  // The bench drives the library from page.evaluate, which the --ui page's policy (no eval) forbids.
  const context = await browser.newContext({ bypassCSP: true });
  try {
    const page = await context.newPage();
    await page.route('**/bench/*', (route) => {
      const file = new URL(route.request().url()).pathname.split('/').pop()!;
      return route.fulfill({ body: readFileSync(join(DIST, 'browser', file)), contentType: file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
    });
    // tsx compiles this file keeping function names through a helper (__name) that the page lacks.
    await page.addInitScript({ content: 'globalThis.__name = (target) => target;' });
    await page.goto(new URL('/', url).href);
    const t = await page.evaluate(
      async ({ url, token, model, rows }) => {
        const lib = (await import(new URL('/bench/deeppowers.js', url).href)) as BrowserLib;
        // Keys in memory, as on the Node side (this is the ClientKeyStore interface, written out here because it runs in the page).
        const [first, second] = [0, 1].map(() => {
          const keys = new Map<string, { parameterId: string; bytes: Uint8Array }>();
          let root: Uint8Array | undefined;
          const uploads = new Map<string, string>();
          return {
            dir: 'memory',
            hasSecretKey: (h: string, scope: unknown) => keys.has(`${h} ${JSON.stringify(scope)}`),
            readSecretKey: (h: string, scope: unknown) => keys.get(`${h} ${JSON.stringify(scope)}`),
            writeSecretKey: (h: string, parameterId: string, bytes: Uint8Array, scope: unknown) => void keys.set(`${h} ${JSON.stringify(scope)}`, { parameterId, bytes }),
            readRecoveryRoot: () => root,
            writeRecoveryRoot: (e: Uint8Array) => void (root = e),
            removeRecoveryRoot: () => void (root = undefined),
            uploadedKeysId: (s: string, h: string) => uploads.get(`${s} ${h}`),
            recordUpload: (s: string, h: string, id: string) => void uploads.set(`${s} ${h}`, id),
            recordModelName: () => undefined,
          };
        });
        const warm = await lib.BrowserClient.connect({ url, token, keystore: first });
        await warm.model(model);
        await warm.close();
        const client = await lib.BrowserClient.connect({ url, token, keystore: second });
        let t = performance.now();
        const m = await client.model(model);
        const secret = performance.now() - t;
        t = performance.now();
        await m.ensureKeys();
        const evaluation = performance.now() - t;
        const p = await m.predict(rows);
        await client.close();
        return { secret_key_ms: secret, evaluation_keys_ms: evaluation, encrypt_ms: p.timings.encrypt_ms, decrypt_ms: p.timings.decrypt_ms, server_ms: p.timings.server_ms };
      },
      { url, token: TOKEN, model: name, rows },
    );
    return { ...t, secret_key_ms: round(t.secret_key_ms), evaluation_keys_ms: round(t.evaluation_keys_ms) };
  } finally {
    await context.close();
  }
}

function bundleSizes(): BundleSizes {
  const js = readFileSync(join(DIST, 'browser', 'deeppowers.js'));
  const wasm = readFileSync(join(DIST, 'browser', 'seal_throws.wasm'));
  return { js: js.length, js_gzip: gzipSync(js).length, wasm: wasm.length, wasm_gzip: gzipSync(wasm).length };
}

function memoryKeystore(): ClientKeyStore {
  const keys = new Map<string, { parameterId: string; bytes: Uint8Array }>();
  let root: Uint8Array | undefined;
  const uploads = new Map<string, string>();
  return {
    dir: 'memory',
    // One key per model and scope (local, or a server), as the keystores keep them.
    hasSecretKey: (h, scope) => keys.has(`${h} ${JSON.stringify(scope)}`),
    readSecretKey: (h, scope) => keys.get(`${h} ${JSON.stringify(scope)}`),
    writeSecretKey: (h, parameterId, bytes, scope) => void keys.set(`${h} ${JSON.stringify(scope)}`, { parameterId, bytes }),
    readRecoveryRoot: () => root,
    writeRecoveryRoot: (e) => void (root = e),
    removeRecoveryRoot: () => void (root = undefined),
    uploadedKeysId: (s, h) => uploads.get(`${s} ${h}`),
    recordUpload: (s, h, id) => void uploads.set(`${s} ${h}`, id),
    recordModelName: () => undefined,
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
