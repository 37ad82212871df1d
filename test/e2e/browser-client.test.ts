import { spawnSync } from 'node:child_process';
import { createDecipheriv, pbkdf2Sync } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CompiledModel } from '../../compiler/artifact/types';
import { buildBrowser } from '../../scripts/build-browser';
import { Keystore } from '../../runtime/client/keystore';
import { serverScope } from '../../runtime/client/key-scope';
import { writeCompiledFixture } from '../helpers/compiled-fixture';
import { loadFixture, type Fixture } from '../helpers/fixtures';
import { BIN, ROOT, startServeWithTokens, type ServeProcess } from '../helpers/serve-process';
import { tempDirForFile } from '../helpers/temp-dirs';

/**
 * The browser client in Chromium (Debian's /usr/bin/chromium through playwright-core), against a
 * spawned `deeppowers serve --http --ui`: the page makes the keys, encrypts, uploads evaluation
 * keys, calls predict_<model> over MCP (as a task), verifies the log entry and decrypts, all in the page.
 * The outputs are checked against the framework's (the fixture's data.json), the server's log
 * and stored files against the row's values, the keystore against a reload and a wrong
 * passphrase, the verification against a tampered receipt, and the recovery phrase against
 * the CLI's key.
 */
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'browser-0123456789abcdef0123456789';
const PASSPHRASE = 'browser test passphrase';
const SHOTS = join(ROOT, 'out', 'browser');
const IRIS = loadFixture('sk_logreg_iris_multinomial');
const DIGITS = loadFixture('pt_mlp_digits_relu');
/** scikit-learn's names for the iris features, compiled into the model (`compile --feature-names`). */
const IRIS_FEATURES = ['sepal length (cm)', 'sepal width (cm)', 'petal length (cm)', 'petal width (cm)'];

const work = tempDirForFile('dp-browser-');
let browser: Browser;
let served: ServeProcess;
let origin: string;
let iris: CompiledModel;
let digits: CompiledModel;

beforeAll(async () => {
  await buildBrowser();
  iris = writeCompiledFixture(IRIS, join(work, 'iris'), 'vector', { featureNames: IRIS_FEATURES });
  digits = writeCompiledFixture(DIGITS, join(work, 'digits'), 'vector', { refresh: 'auto' });
  served = await startServeWithTokens([join(work, 'iris'), join(work, 'digits')], work, { alice: TOKEN }, ['--ui', '--threads', '1']);
  origin = new URL(served.url).origin;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  mkdirSync(SHOTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await served?.stop();
});

/** A fresh browser profile (its own IndexedDB and localStorage) with the page open. */
async function openPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 820 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(`${origin}/`);
  return page;
}

async function connect(page: Page, passphrase = PASSPHRASE, extra: (page: Page) => Promise<void> = async () => {}): Promise<void> {
  await page.getByTestId('token').fill(TOKEN);
  await page.getByTestId('passphrase').fill(passphrase);
  await extra(page);
  await page.getByTestId('connect').click();
  // Locator waits only: the page's policy forbids eval, so waitForFunction cannot run there.
  await page.getByTestId('status').filter({ hasText: /connected|wrong|passphrase|cannot|refused|error/i }).waitFor({ timeout: 60_000 });
}

interface Outcome {
  readonly verified: string;
  readonly result: Record<string, unknown> | null;
  readonly fingerprint: string;
  /** The texts of the phase line under the progress bar, in the order shown. */
  readonly phases: readonly string[];
  /** The progress bar's value at the end (of 100). */
  readonly progress: number;
}

async function predict(page: Page, model: string, row: readonly number[]): Promise<Outcome> {
  await page.getByTestId('model').selectOption(model);
  await page.getByTestId('row').fill(row.join(','));
  // Record each text the phase line under the progress bar shows (the page runs this observer; no DOM types here).
  await page.evaluate(() => {
    const g = globalThis as unknown as {
      document: { getElementById(id: string): { textContent: string | null } };
      MutationObserver: new (callback: () => void) => { observe(target: unknown, options: object): void };
      phases: string[];
    };
    const line = g.document.getElementById('phase');
    g.phases = [];
    new g.MutationObserver(() => {
      const text = line.textContent ?? '';
      if (g.phases.at(-1) !== text) g.phases.push(text);
    }).observe(line, { childList: true, characterData: true, subtree: true });
  });
  await page.getByTestId('predict').click();
  // Done when the verification line says something or the phase line reports a failure.
  await page
    .getByTestId('verified')
    .filter({ hasText: /\S/ })
    .or(page.getByTestId('phase').filter({ hasText: /^failed/ }))
    .first()
    .waitFor({ timeout: 480_000 });
  const result = (await page.getByTestId('result').textContent()) ?? '';
  return {
    verified: (await page.getByTestId('verified').textContent()) ?? '',
    result: result === '' ? null : (JSON.parse(result) as Record<string, unknown>),
    fingerprint: (await page.getByTestId('fingerprint').textContent()) ?? '',
    phases: await page.evaluate(() => (globalThis as unknown as { phases: string[] }).phases),
    progress: Number(await page.getByTestId('progress').getAttribute('value')),
  };
}

/** The phases a successful prediction showed, in order: keys, upload, the server's evaluation, decryption; the bar full. */
function expectPhases(out: Outcome): void {
  const first = (pattern: RegExp) => out.phases.findIndex((p) => pattern.test(p));
  const order = [/^secret key: /, /^evaluation keys: uploading/, /^encrypted evaluation on the server \(\d+ of \d+/, /^decrypted in this page$/].map(first);
  expect(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!)), out.phases.join(' | ')).toBe(true);
  expect(out.phases.at(-1)).toBe('decrypted in this page');
  expect(out.progress).toBe(100);
}

/**
 * Every record of IndexedDB database `name` in the page, by key, as JSON with byte arrays in hex: what a copy of the
 * browser profile holds. (Runs in the page; this file is checked without the DOM's types.)
 */
async function indexedDbRecords(page: Page, name: string): Promise<Record<string, string>> {
  return page.evaluate(async (database) => {
    interface Req<T> { result: T; error: unknown; onsuccess: (() => void) | null; onerror: (() => void) | null }
    interface Db { transaction(store: string, mode: string): { objectStore(store: string): { getAllKeys(): Req<unknown[]>; getAll(): Req<unknown[]> } }; close(): void }
    const idb = (globalThis as unknown as { indexedDB: { open(name: string): Req<Db> } }).indexedDB;
    const done = <T,>(r: Req<T>) => new Promise<T>((resolve, reject) => ((r.onsuccess = () => resolve(r.result)), (r.onerror = () => reject(r.error))));
    const db = await done(idb.open(database));
    const store = db.transaction('records', 'readonly').objectStore('records');
    const [keys, values] = [await done(store.getAllKeys()), await done(store.getAll())];
    db.close();
    const hex = (v: unknown): unknown =>
      v instanceof Uint8Array
        ? Array.from(v, (b) => b.toString(16).padStart(2, '0')).join('')
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, hex(x)]))
          : v;
    return Object.fromEntries(keys.map((k, i) => [String(k), JSON.stringify(hex(values[i]))]));
  }, name);
}

const rowOf = (f: Fixture, i: number): number[] => (f.data.test_inputs[i] as number[]).flat(Infinity as 1) as number[];

/** Every file under `dir`, with its bytes. */
function filesUnder(dir: string): { path: string; bytes: Buffer }[] {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push({ path, bytes: readFileSync(path) });
  }
  return out;
}

/** Where the row's values appear: as text (the row, or one fractional value as a number in the log) or as float64/float32 bytes. */
function plaintextTraces(row: readonly number[], haystacks: readonly { path: string; bytes: Buffer }[]): string[] {
  const needles: { what: string; bytes: Buffer }[] = [
    { what: 'the row as text', bytes: Buffer.from(row.join(',')) },
    { what: 'the row as JSON', bytes: Buffer.from(JSON.stringify(row)) },
  ];
  // Eight bytes each, so a 100 MB key file of random bytes matches one by chance with odds near 2^-37:
  // each fractional value as float64, and each two neighbouring values as float32 (a float32 row is contiguous).
  for (const v of new Set(row.filter((x) => !Number.isInteger(x)))) {
    const f64 = Buffer.alloc(8);
    f64.writeDoubleLE(v);
    needles.push({ what: `${v} as float64`, bytes: f64 });
  }
  for (let i = 0; i + 1 < row.length; i++) {
    if (Number.isInteger(row[i]) && Number.isInteger(row[i + 1])) continue;
    const f32 = Buffer.alloc(8);
    f32.writeFloatLE(row[i]!, 0);
    f32.writeFloatLE(row[i + 1]!, 4);
    needles.push({ what: `values ${i + 1}-${i + 2} as float32`, bytes: f32 });
  }
  const found: string[] = [];
  for (const h of haystacks) for (const n of needles) if (h.bytes.includes(n.bytes)) found.push(`${n.what} in ${h.path}`);
  // In the server's text log, each fractional value as a number on its own.
  const log = haystacks.find((h) => h.path === 'server log');
  for (const v of new Set(row.filter((x) => !Number.isInteger(x)))) {
    if (log && new RegExp(`(^|[^0-9.])${String(v).replace('.', '\\.')}([^0-9]|$)`).test(log.bytes.toString('utf8'))) found.push(`${v} in the server log`);
  }
  return found;
}

describe('the browser client in Chromium', () => {
  test('a linear model: keys, encryption, verification and decryption in the page; outputs match scikit-learn; no plaintext reaches the server', async () => {
    const page = await openPage();
    // The page's JSON-RPC requests to the server, to see how predict_iris went out.
    const rpc: { method: string; params?: { name?: string; task?: unknown; taskId?: string } }[] = [];
    page.on('request', (r) => {
      const body = r.method() === 'POST' && new URL(r.url()).pathname === '/mcp' ? r.postData() : null;
      if (body) rpc.push(JSON.parse(body) as (typeof rpc)[number]);
    });
    await page.screenshot({ path: join(SHOTS, 'page-before.png'), fullPage: true });
    await connect(page);
    expect(await page.getByTestId('status').textContent()).toMatch(/^connected: 2 models/);
    const row = rowOf(IRIS, 0);
    const out = await predict(page, 'iris', row);
    // As an MCP task: created by a task-augmented tools/call, polled with tasks/get, its result read with tasks/result.
    const calls = rpc.filter((m) => m.method === 'tools/call' && m.params?.name === 'predict_iris');
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((c) => c.params?.task !== undefined)).toBe(true);
    expect(rpc.filter((m) => m.method === 'tasks/result')).toHaveLength(calls.length);
    expect(rpc.some((m) => m.method === 'tasks/get')).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'page-after.png'), fullPage: true });
    expect(out.verified).toMatch(/^verified: computed and signed by the server alone \(no reviewers\), log entry \d+(; first use of this server: pinned its log key and node set)?$/);
    expect(await page.getByTestId('log-link').allTextContents()).toEqual([/log entry \d+/.exec(out.verified)![0]]);
    expectPhases(out);
    // The outputs are scikit-learn's: the label exactly, the probabilities within the model's precision promise.
    const expected = IRIS.data.expected as { label: number[]; probabilities: number[][] };
    expect(out.result!['output_label']).toEqual([expected.label[0]]);
    const probabilities = out.result!['output_probability'] as Record<string, number>[];
    const { bound } = iris.calibration.precision;
    expected.probabilities[0]!.forEach((p, k) => expect(Math.abs(probabilities[0]![String(k)]! - p), `class ${k}`).toBeLessThan(bound));
    expect(await page.getByTestId('promise').textContent()).toMatch(/^Precision promise: /);
    expect(out.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(await page.getByTestId('phrase').textContent()).toMatch(/^Recovery phrase .*: (\w+ ){23}\w+$/);
    // The server saw ciphertexts only: neither its log nor anything it stored holds the row.
    const traces = plaintextTraces(row, [{ path: 'server log', bytes: Buffer.from(served.log()) }, ...filesUnder(join(work, 'data'))]);
    expect(traces).toEqual([]);
    // The check can find a row: the same search over the page's own request log of the row would.
    expect(plaintextTraces(row, [{ path: 'server log', bytes: Buffer.from(`rows ${row.join(',')}`) }])).not.toEqual([]);

    // Reload: the passphrase opens the same key (same fingerprint, no new phrase); a wrong one is refused.
    await page.reload();
    await connect(page);
    const again = await predict(page, 'iris', rowOf(IRIS, 1));
    expect(again.verified).toMatch(/^verified: /);
    expect(again.fingerprint).toBe(out.fingerprint);
    expect(await page.getByTestId('phrase').isHidden()).toBe(true);
    await page.reload();
    await connect(page, 'not the passphrase at all');
    expect(await page.getByTestId('status').textContent()).toMatch(/^wrong passphrase/);
    expect(await page.getByTestId('model').isDisabled()).toBe(true);
    await page.context().close();
  }, 300_000);

  test("the form: a field per feature under the model's names with its calibrated range, typed values and a dropped CSV fill the row", async () => {
    const page = await openPage();
    await connect(page);
    await page.getByTestId('model').selectOption('iris');
    const fields = page.locator('#features label');
    await expect.poll(() => fields.allTextContents()).toEqual(IRIS_FEATURES);
    // Each field's hint is the range of its feature over the calibration rows, read here from the fixture's data.
    const calibration = IRIS.data.calibration as number[][];
    const three = (x: number) => String(Number(x.toPrecision(3)));
    const hints = IRIS_FEATURES.map((_, j) => {
      const column = calibration.map((r) => r[j]!);
      return `${three(Math.min(...column))} … ${three(Math.max(...column))}`;
    });
    expect(await fields.locator('input').evaluateAll((inputs) => inputs.map((i) => (i as unknown as { placeholder: string }).placeholder))).toEqual(hints);
    // Typing into the fields writes the row line the prediction reads.
    const typed = [5.9, 3, 5.1, 1.8];
    for (const [j, v] of typed.entries()) await fields.nth(j).locator('input').fill(String(v));
    expect(await page.getByTestId('row').inputValue()).toBe(typed.join(','));
    // A CSV dropped on the page: its header line is skipped, its first row of numbers becomes the row.
    const csv = `${IRIS_FEATURES.join(',')}\n6.3,3.4,5.6,2.4\n4.9,3,1.4,0.2\n`;
    const dataTransfer = await page.evaluateHandle((text) => {
      // Runs in the page; this file is checked without the DOM's types.
      const dt = new (globalThis as unknown as { DataTransfer: new () => { items: { add(file: File): void } } }).DataTransfer();
      dt.items.add(new File([text], 'rows.csv', { type: 'text/csv' }));
      return dt;
    }, csv);
    await page.getByTestId('drop').dispatchEvent('drop', { dataTransfer });
    await expect.poll(() => page.getByTestId('row').inputValue()).toBe('6.3,3.4,5.6,2.4');
    await page.context().close();
  }, 120_000);

  test('a tampered log receipt shows "not verified" and nothing is decrypted', async () => {
    const page = await openPage();
    // Whoever sits between the server and the page changes the log entry in the tool's answer.
    await page.route('**/mcp', async (route) => {
      // Only the answers to requests; the GET stream of server notifications stays open and passes through.
      if (route.request().method() !== 'POST') return route.continue();
      const response = await route.fetch();
      const body = await response.text();
      const tampered = body.replace(/(\\?"entry\\?":\s*\\?")([A-Za-z0-9+/=]+)/g, (_all, head: string, b64: string) => {
        const entry = Buffer.from(b64, 'base64').toString('utf8').replace(/("result_sha256":")([0-9a-f])/, (_m, k: string, c: string) => `${k}${c === '0' ? '1' : '0'}`);
        return head + Buffer.from(entry, 'utf8').toString('base64');
      });
      await route.fulfill({ response, body: tampered });
    });
    await connect(page);
    const out = await predict(page, 'iris', rowOf(IRIS, 2));
    expect(out.verified).toMatch(/^not verified: /);
    expect(out.result).toBeNull();
    await page.context().close();
  }, 300_000);

  test("a recovery phrase gives the page the CLI's key for this server, byte for byte; in IndexedDB it is sealed (PBKDF2-SHA256 600k → AES-256-GCM, opened with node:crypto)", async () => {
    const keystore = join(work, 'cli-keystore');
    const env = { ...process.env, DEEPPOWERS_DEBUG: '', DEEPPOWERS_PASSPHRASE: PASSPHRASE, DEEPPOWERS_RECOVERY_PHRASE: '' };
    const made = spawnSync(process.execPath, [BIN, 'keygen', join(work, 'iris'), '--keystore', keystore, '--server', served.url, '--json'], { cwd: work, encoding: 'utf8', env, timeout: 90_000 });
    expect(made.status, made.stderr).toBe(0);
    const cli = JSON.parse(made.stdout) as { fingerprint: string; recovery_phrase: string };
    const page = await openPage();
    await connect(page, PASSPHRASE, async (p) => {
      await p.getByText('Restore keys from a recovery phrase').click();
      await p.getByTestId('recover').fill(cli.recovery_phrase);
    });
    const out = await predict(page, 'iris', rowOf(IRIS, 3));
    expect(out.verified).toMatch(/^verified: /);
    expect(out.fingerprint).toBe(cli.fingerprint);
    // That key is the page's secret key: no window of its bytes, nor its base64, reached the server's log or files.
    const secret = Keystore.open(keystore, PASSPHRASE).readSecretKey(iris.modelHash, serverScope(served.url))!.bytes;
    const windows = [secret.length >> 2, secret.length >> 1, (3 * secret.length) >> 2].map((at) => Buffer.from(secret.subarray(at, at + 32)));
    const base64 = Buffer.from(Buffer.from(secret).toString('base64').slice(100, 164));
    const stored = [{ path: 'server log', bytes: Buffer.from(served.log()) }, ...filesUnder(join(work, 'data'))];
    expect(stored.filter((f) => windows.some((w) => f.bytes.includes(w)) || f.bytes.includes(base64)).map((f) => f.path)).toEqual([]);

    // At rest in the browser the key is sealed: whoever copies the profile's IndexedDB finds none of its bytes there,
    // and the record opens only as AES-256-GCM under PBKDF2-HMAC-SHA256 of the passphrase at OWASP's 600,000
    // iterations (opened here with node:crypto, not with the page's code).
    const records = await indexedDbRecords(page, 'deeppowers-keystore/deeppowers');
    expect(Object.values(records).filter((hex) => windows.some((w) => hex.includes(w.toString('hex'))))).toEqual([]);
    const meta = JSON.parse(records['meta']!) as { kdf: { name: string; iterations: number; salt: string } };
    expect(meta.kdf).toMatchObject({ name: 'PBKDF2-SHA256', iterations: 600_000 });
    // The record of this server's key: named by the model and the server's URL, the name sealed in.
    const name = `secret-key/${iris.modelHash}/${served.url}`;
    const record = JSON.parse(records[name]!) as { parameterId: string; sealed: { iv: string; ciphertext: string } };
    const key = pbkdf2Sync(PASSPHRASE, Buffer.from(meta.kdf.salt, 'hex'), 600_000, 32, 'sha256');
    const sealed = Buffer.from(record.sealed.ciphertext, 'hex');
    const gcm = createDecipheriv('aes-256-gcm', key, Buffer.from(record.sealed.iv, 'hex'));
    gcm.setAAD(Buffer.from(`deeppowers-browser-keystore/v1/${name}/${record.parameterId}`));
    gcm.setAuthTag(sealed.subarray(sealed.length - 16));
    expect(Buffer.concat([gcm.update(sealed.subarray(0, sealed.length - 16)), gcm.final()]).equals(Buffer.from(secret))).toBe(true);
    await page.context().close();
  }, 300_000);

  test('an MLP with a client step: the page decrypts the masked result, encrypts it again, and the logits match PyTorch', async () => {
    expect(digits.refresh?.segments.length).toBe(1);
    const page = await openPage();
    await connect(page);
    const row = rowOf(DIGITS, 0);
    const out = await predict(page, 'digits', row);
    expect(out.verified).toMatch(/^verified: computed and signed by the server alone \(no reviewers\), log entries \d+, \d+(; first use of this server: .*)?$/);
    expectPhases(out);
    // The bar counts the evaluations of both segments, the client step between them included.
    expect(out.phases.filter((p) => /\(\d+ of \d+, client steps included\)$/.test(p)).length, out.phases.join(' | ')).toBeGreaterThan(0);
        // One link per entry; a click fetches that entry from the server's log and shows it.
    const entries = /log entries (\d+), (\d+)/.exec(out.verified)!.slice(1);
    const links = page.getByTestId('log-link');
    expect(await links.allTextContents()).toEqual(entries);
    await links.nth(1).click();
    await page.getByTestId('entry').filter({ hasText: /\S/ }).waitFor({ timeout: 30_000 });
    const shown = JSON.parse((await page.getByTestId('entry').textContent())!) as { index: number }[];
    expect(shown.map((e) => e.index)).toEqual([Number(entries[1])]);
    const logits = (out.result!['output'] as number[][])[0]!;
    const expected = (DIGITS.data.expected['output'] as number[][])[0]!;
    const { bound } = digits.calibration.precision;
    logits.forEach((v, i) => expect(Math.abs(v - expected[i]!), `logit ${i}`).toBeLessThan(bound));
    expect(plaintextTraces(row, [{ path: 'server log', bytes: Buffer.from(served.log()) }, ...filesUnder(join(work, 'data'))])).toEqual([]);
    await page.context().close();
  }, 600_000);
});

describe('deeppowers bench --browser', () => {
  // Here, not in bench-smoke.test.ts: it needs the bundle this file builds first.
  test('times the browser client in Chromium next to Node on the same model: secret key, evaluation keys, encrypt, decrypt; and the bundle size', () => {
    const args = ['bench', '--in-process', '--soak', '0', '--ops-reps', '1', '--reps', '1', '--threads', '1', '--models', 'sk_logreg_iris_multinomial', '--layouts', 'vector', '--browser', '--json'];
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { browser: { chromium: string; bundle: Record<string, number>; runs: Record<string, unknown>[] } };
    expect(report.browser.chromium).toMatch(/^\d+\.\d+\S* \(\/usr\/bin\/chromium\)$/);
    const bundle = { js: statSync(join(ROOT, 'dist/browser/deeppowers.js')).size, wasm: statSync(join(ROOT, 'dist/browser/seal_throws.wasm')).size };
    expect([report.browser.bundle['js'], report.browser.bundle['wasm']]).toEqual([bundle.js, bundle.wasm]);
    for (const k of ['js_gzip', 'wasm_gzip']) expect(report.browser.bundle[k], k).toBeGreaterThan(0);
    expect(report.browser.runs).toHaveLength(1);
    const run = report.browser.runs[0] as { model: string; layout: string; rows: number; error?: string } & Record<'node' | 'chromium', Record<string, number>>;
    expect(run.error, run.error).toBeUndefined();
    expect([run.model, run.layout, run.rows]).toEqual(['sk_logreg_iris_multinomial', 'vector', 4]);
    for (const side of ['node', 'chromium'] as const) {
      for (const field of ['secret_key_ms', 'evaluation_keys_ms', 'encrypt_ms', 'decrypt_ms', 'server_ms']) {
        expect(Number.isFinite(run[side][field]) && run[side][field]! > 0, `${side} ${field} = ${run[side][field]}`).toBe(true);
      }
    }
  }, 300_000);
});
