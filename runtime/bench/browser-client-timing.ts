/**
 * The browser client next to the Node client on the same model and server: how long the secret
 * key (derived from the recovery root), the evaluation keys (made and uploaded), encryption and
 * decryption take in Chromium (the deeppowers/browser bundle, SEAL as WebAssembly) and in Node
 * (the same modules), and how big the bundle is. Both clients run PrivateModel against one
 * spawned server, one after the other, with the same rows. Keys are kept in memory on both sides
 * (the keystores' passphrase KDFs, scrypt and PBKDF2, are not what is compared), and each side
 * opens the model once untimed first, so SEAL's WebAssembly is loaded before the clock starts.
 *
 *   npx tsx runtime/bench/browser-client-timing.ts [fixture-dir] [--rows N] [--refresh]
 *
 * Needs `npm run build` (dist/browser) and Chromium at /usr/bin/chromium.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { compile, serve } from '../app/node';
import { sealBackend } from '../backends/seal/backend';
import type { ClientKeyStore } from '../client/client-keystore';
import { PrivateModel } from '../mcp/private-model';
import { RemoteServer } from '../mcp/remote';
import { PinStore } from '../network/pins';

const ROOT = join(import.meta.dirname, '..', '..');
const DIST = join(ROOT, 'dist', 'browser');
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'bench-0123456789abcdef0123456789ab';

/** The part of deeppowers/browser the bench calls (its own types need the DOM's, which this file is checked without). */
interface BrowserLib {
  BrowserClient: {
    connect(o: { url: string; token: string; keystore: unknown }): Promise<{
      model(name: string): Promise<{ ensureKeys(): Promise<string>; predict(rows: readonly unknown[]): Promise<{ timings: Omit<Timing, 'secret_key_ms' | 'evaluation_keys_ms'> }> }>;
      close(): Promise<void>;
    }>;
  };
}

interface Timing {
  readonly secret_key_ms: number;
  readonly evaluation_keys_ms: number;
  readonly encrypt_ms: number;
  readonly decrypt_ms: number;
  readonly server_ms: number;
}

const args = process.argv.slice(2);
const rowsAt = args.indexOf('--rows');
const fixture = args.find((a, i) => !a.startsWith('--') && i !== rowsAt + 1) ?? join(ROOT, 'test', 'fixtures', 'sk_logreg_iris_multinomial');
const rowCount = rowsAt >= 0 ? Number(args[rowsAt + 1]) : 4;
const refresh = args.includes('--refresh');
const name = 'bench';

const work = mkdtempSync(join(tmpdir(), 'dp-browser-bench-'));
try {
  const data = JSON.parse(readFileSync(join(fixture, 'data.json'), 'utf8')) as { test_inputs: unknown[] };
  const rows = data.test_inputs.slice(0, rowCount);
  compile(join(fixture, 'model.onnx'), { calibration: join(fixture, 'data.json'), layout: 'vector', output: join(work, name), ...(refresh ? { refresh: 'auto' as const } : {}) });
  const server = await serve([join(work, name)], { tokens: `bench:${TOKEN}`, dataDir: join(work, 'data'), ui: true });
  try {
    const node = await nodeTiming(server.url, rows);
    const browser = await browserTiming(server.url, rows);
    const bundle = readFileSync(join(DIST, 'deeppowers.js'));
    const wasm = readFileSync(join(DIST, 'seal_throws.wasm'));
    const sizes = { js: bundle.length, js_gzip: gzipSync(bundle).length, wasm: wasm.length, wasm_gzip: gzipSync(wasm).length };
    if (args.includes('--json')) {
      process.stdout.write(`${JSON.stringify({ model: basename(fixture), rows: rows.length, node, chromium: browser, bundle: sizes })}\n`);
    } else {
      const line = (label: string, key: keyof Timing) => `${label.padEnd(34)}${fmt(node[key]).padStart(10)}${fmt(browser[key]).padStart(12)}\n`;
      process.stdout.write(
        `${basename(fixture)}${refresh ? ' (--refresh auto)' : ''}, ${rows.length} rows, one server on this machine\n` +
          `${''.padEnd(34)}${'Node'.padStart(10)}${'Chromium'.padStart(12)}\n` +
          line('secret key (derived), ms', 'secret_key_ms') +
          line('evaluation keys (made + upload), ms', 'evaluation_keys_ms') +
          line('encrypt, ms', 'encrypt_ms') +
          line('decrypt (+ epilogue), ms', 'decrypt_ms') +
          line('server round trips, ms', 'server_ms') +
          `bundle: deeppowers.js ${kib(sizes.js)} (${kib(sizes.js_gzip)} gzip), seal_throws.wasm ${kib(sizes.wasm)} (${kib(sizes.wasm_gzip)} gzip), ${kib(sizes.js + sizes.wasm)} in all\n`,
      );
    }
  } finally {
    await server.close();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

async function nodeTiming(url: string, rows: readonly unknown[]): Promise<Timing> {
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
    return { secret_key_ms: secret, evaluation_keys_ms: evaluation, encrypt_ms: p.timings.encrypt_ms, decrypt_ms: p.timings.decrypt_ms, server_ms: p.timings.server_ms };
  } finally {
    await remote.close();
  }
}

async function browserTiming(url: string, rows: readonly unknown[]): Promise<Timing> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    // The bench drives the library from page.evaluate, which the --ui page's policy (no eval) forbids.
    const context = await browser.newContext({ bypassCSP: true });
    const page = await context.newPage();
    await page.route('**/bench/*', (route) => {
      const file = new URL(route.request().url()).pathname.split('/').pop()!;
      return route.fulfill({ body: readFileSync(join(DIST, file)), contentType: file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
    });
    // tsx compiles this file keeping function names through a helper (__name) that the page lacks.
    await page.addInitScript({ content: 'globalThis.__name = (target) => target;' });
    await page.goto(new URL('/', url).href);
    return await page.evaluate(
      async ({ url, token, model, rows }) => {
        const lib = (await import(new URL("/bench/deeppowers.js", url).href)) as BrowserLib;
        // Keys in memory, as on the Node side (this is the ClientKeyStore interface, written out here because it runs in the page).
        const [first, second] = [0, 1].map(() => {
          const keys = new Map<string, { parameterId: string; bytes: Uint8Array }>();
          let root: Uint8Array | undefined;
          const uploads = new Map<string, string>();
          return {
            dir: 'memory',
            hasSecretKey: (h: string) => keys.has(h),
            readSecretKey: (h: string) => keys.get(h),
            writeSecretKey: (h: string, parameterId: string, bytes: Uint8Array) => void keys.set(h, { parameterId, bytes }),
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
  } finally {
    await browser.close();
  }
}

function memoryKeystore(): ClientKeyStore {
  const keys = new Map<string, { parameterId: string; bytes: Uint8Array }>();
  let root: Uint8Array | undefined;
  const uploads = new Map<string, string>();
  return {
    dir: 'memory',
    hasSecretKey: (h) => keys.has(h),
    readSecretKey: (h) => keys.get(h),
    writeSecretKey: (h, parameterId, bytes) => void keys.set(h, { parameterId, bytes }),
    readRecoveryRoot: () => root,
    writeRecoveryRoot: (e) => void (root = e),
    removeRecoveryRoot: () => void (root = undefined),
    uploadedKeysId: (s, h) => uploads.get(`${s} ${h}`),
    recordUpload: (s, h, id) => void uploads.set(`${s} ${h}`, id),
    recordModelName: () => undefined,
  };
}

function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}
