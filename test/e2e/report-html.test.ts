/**
 * `report --html` as a person sees it: the page written by the real CLI, opened in headless
 * Chromium (Debian's /usr/bin/chromium through playwright-core; .ci/run installs it) and checked
 * by its rendered structure, not its pixels: every table has rows under its headers and no empty
 * header, the key size is one figure, the encrypted run is there next to the simulation, the
 * plot legend is above the curves, and the page logs no errors.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Report } from '../../runtime/report/build-report';
import { renderReportHtml } from '../../runtime/report/html';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'deeppowers.js');
const CHROMIUM = '/usr/bin/chromium';
const tmp = mkdtempSync(join(tmpdir(), 'deeppowers-report-html-'));

function cli(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, DEEPPOWERS_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Compile a fixture and write its first `rows` test rows; returns the compiled directory and rows file. */
function prepare(fixture: string, rows: number): { compiled: string; rowsFile: string } {
  const dir = join(ROOT, 'test', 'fixtures', fixture);
  const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')) as { test_inputs: number[][] };
  const rowsFile = join(tmp, `${fixture}.rows.json`);
  writeFileSync(rowsFile, JSON.stringify(data.test_inputs.slice(0, rows)));
  const compiled = join(tmp, `${fixture}.compiled`);
  const r = cli(['compile', join(dir, 'model.onnx'), '--calibration', join(dir, 'data.json'), '-o', compiled, '--layout', 'vector', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return { compiled, rowsFile };
}

interface PageFacts {
  readonly tables: { headers: string[]; rowHeaders: string[]; rows: number; emptyCells: number }[];
  readonly h2: string[];
  readonly text: string;
  readonly encryptedRows: string[];
  readonly plots: { legendBottom: number; curvesTop: number; legendRight: number; width: number; axisRight: number; curvesLeft: number }[];
  /** Each row header of the label/value tables with its cell's text. */
  readonly cells: Record<string, string>;
  /** The encrypted-vs-plaintext plot: its points' centres and the diagonal's ends (SVG user units). */
  readonly scatter: { points: { cx: number; cy: number }[]; diagonal: number[] } | null;
}

/** The few DOM members the page check reads (the project compiles without the DOM library). */
interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}
interface Node {
  readonly textContent: string | null;
  readonly tagName: string;
  getAttribute(name: string): string | null;
  readonly nextElementSibling: Node | null;
  readonly viewBox: { readonly baseVal: { readonly width: number } };
  querySelectorAll(selector: string): Iterable<Node> & ArrayLike<Node>;
  querySelector(selector: string): Node | null;
  getBBox(): Box;
}

let browser: Browser;

async function open(file: string): Promise<{ facts: PageFacts; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`file://${file}`);
  const facts = await page.evaluate((): PageFacts => {
    const document = (globalThis as unknown as { document: Node & { body: { innerText: string } } }).document;
    const text = (e: Node): string => (e.textContent ?? '').trim();
    const tables = Array.from(document.querySelectorAll('table')).map((t) => ({
      headers: [...t.querySelectorAll('thead th')].map(text),
      rowHeaders: [...t.querySelectorAll('tbody th')].map(text),
      rows: t.querySelectorAll('tbody tr').length,
      emptyCells: [...t.querySelectorAll('tbody td')].filter((c) => text(c) === '').length,
    }));
    const encrypted = document.querySelector('h2#encrypted-run');
    let next = encrypted?.nextElementSibling ?? null;
    while (next && next.tagName !== 'TABLE') next = next.nextElementSibling;
    const plots = [...document.querySelectorAll('svg:has(g.legend)')].map((svg) => {
      const legend = svg.querySelector('g.legend')!.getBBox();
      const curves = svg.querySelector('g.curves')!.getBBox();
      // Axis values are the texts outside the legend that sit left of the plot.
      const axisTexts = [...svg.querySelectorAll(':scope > text[text-anchor="end"]')].map((t) => t.getBBox()).filter((b) => b.x < curves.x);
      return {
        legendBottom: legend.y + legend.height,
        curvesTop: curves.y,
        legendRight: legend.x + legend.width,
        width: svg.viewBox.baseVal.width,
        axisRight: Math.max(...axisTexts.map((b) => b.x + b.width)),
        curvesLeft: curves.x,
      };
    });
    const cells: Record<string, string> = {};
    for (const th of document.querySelectorAll('tbody th')) cells[text(th)] = text(th.nextElementSibling ?? th);
    const scatterSvg = document.querySelector('figure.encrypted-vs-plaintext svg');
    const diagonal = scatterSvg?.querySelector('line.diagonal');
    const scatter = scatterSvg
      ? {
          points: [...scatterSvg.querySelectorAll('g.points circle')].map((c) => ({ cx: Number(c.getAttribute('cx')), cy: Number(c.getAttribute('cy')) })),
          diagonal: ['x1', 'y1', 'x2', 'y2'].map((a) => Number(diagonal?.getAttribute(a))),
        }
      : null;
    return {
      cells,
      scatter,
      tables,
      h2: [...document.querySelectorAll('h2')].map(text),
      text: document.body.innerText,
      encryptedRows: next ? [...next.querySelectorAll('tbody th')].map(text) : [],
      plots,
    };
  });
  await page.close();
  return { facts, errors };
}

function expectTablesFilled(facts: PageFacts): void {
  expect(facts.tables.length).toBeGreaterThan(3);
  for (const t of facts.tables) {
    expect(t.rows).toBeGreaterThan(0);
    for (const h of [...t.headers, ...t.rowHeaders]) expect(h).not.toBe('');
    expect(t.emptyCells).toBe(0);
  }
}

/** The numbers in a cell's text, in order ("4.023 ms (server 2.064 ms, …)" → [4.023, 2.064, …]). */
const numbersIn = (cell: string): number[] => [...cell.matchAll(/-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/g)].map((m) => Number(m[0]));
/** A page figure printed to `digits` significant digits stands for the JSON value it came from. */
function expectShown(shown: number | undefined, value: number, digits: number, what: string): void {
  expect(shown, what).toBeDefined();
  expect(Math.abs(shown! - value), `${what}: page ${shown}, JSON ${value}`).toBeLessThanOrEqual(0.5 * 10 ** (Math.floor(Math.log10(Math.abs(value))) - digits + 1) * 1.0001);
}

interface ReportNumbers {
  circuit: { latency: { perRun: { totalMs: number; serverMs: number; clientMs: number }; perSampleMs: number } };
  accuracy: { labelAgreement: number | null };
  fhe?: { bodyPairs: { plaintext: number[]; encrypted: number[] } };
}

/** The page's latency and agreement figures against the JSON report's values. */
function expectNumbersMatch(facts: PageFacts, report: ReportNumbers): void {
  const [total, server, client] = numbersIn(facts.cells['latency per run (estimate)'] ?? '');
  const { perRun } = report.circuit.latency;
  expectShown(total, perRun.totalMs, 4, 'latency per run');
  expectShown(server, perRun.serverMs, 4, 'server latency');
  expectShown(client, perRun.clientMs, 4, 'client latency');
  expectShown(numbersIn(facts.cells['latency per sample (estimate, full run)'] ?? '')[0], report.circuit.latency.perSampleMs, 4, 'latency per sample');
  const agreement = /label agreement: (\d+(?:\.\d+)?)%/.exec(facts.text)?.[1];
  if (report.accuracy.labelAgreement !== null) expectShown(Number(agreement), 100 * report.accuracy.labelAgreement, 3, 'label agreement');
}

const kib = (bytes: number): string => `${Number((bytes / 1024).toPrecision(4))} KiB`;
const count = (text: string, s: string): number => text.split(s).length - 1;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

describe('report --html in Chromium', () => {
  test('report --fhe --html: the encrypted run next to the simulation, one key-size figure, filled tables', async () => {
    const { compiled, rowsFile } = prepare('sk_logreg_iris_multinomial', 2);
    const html = join(tmp, 'iris.html');
    const r = cli(['report', compiled, '--data', rowsFile, '--fhe', '--html', html, '--json']);
    expect(r.code, r.stderr).toBe(0);
    // stdout stays one JSON value; the page's path is said on stderr.
    const report = JSON.parse(r.stdout) as { circuit: { sizes: { keys: { evaluationKeys: number } } }; fhe: { sizes: { eval_key_bytes: number } } };
    expect(r.stderr).toContain(`HTML report written to ${html}\n`);

    const { facts, errors } = await open(html);
    expect(errors).toEqual([]);
    expectTablesFilled(facts);
    expect(facts.h2).toContain('Encrypted run');
    expect(facts.h2.indexOf('Encrypted run')).toBeGreaterThan(facts.h2.indexOf('Accuracy: reference vs simulated'));
    expect(facts.encryptedRows).toEqual(expect.arrayContaining(['keygen', 'per row', 'ciphertext bytes', 'vs simulated', 'vs reference', 'precision']));
    // One key size: the measured one (sizes on this small model are KiB), shown once; the estimate, which differs, not at all.
    const measured = kib(report.fhe.sizes.eval_key_bytes);
    const estimate = kib(report.circuit.sizes.keys.evaluationKeys);
    expect(measured).not.toBe(estimate);
    expect(count(facts.text, measured)).toBe(1);
    expect(count(facts.text, estimate)).toBe(0);
    expect(facts.tables.flatMap((t) => t.rowHeaders).filter((h) => /evaluation key/.test(h))).toEqual(['evaluation keys']);
    expectNumbersMatch(facts, report as unknown as ReportNumbers);

    // The plot of encrypted against plaintext body outputs: one point per JSON pair, each where
    // its pair puts it (on the diagonal's line, up to the CKKS error, since the two agree).
    const pairs = (report as unknown as ReportNumbers).fhe!.bodyPairs;
    expect(pairs.plaintext.length).toBeGreaterThan(0);
    expect(facts.scatter?.points).toHaveLength(pairs.plaintext.length);
    const [x1, y1, x2, y2] = facts.scatter!.diagonal as [number, number, number, number];
    const onDiagonal = (p: { cx: number; cy: number }) => y1 + ((p.cx - x1) / (x2 - x1)) * (y2 - y1);
    for (const p of facts.scatter!.points) expect(Math.abs(p.cy - onDiagonal(p))).toBeLessThan(1);
    const order = (v: number[]) => v.map((_, i) => i).sort((a, b) => v[a]! - v[b]!);
    expect(order(facts.scatter!.points.map((p) => p.cx))).toEqual(order(pairs.plaintext));
  }, 180_000);

  test('the page prints the JSON report\'s numbers: 9,449.73 ms as 9450 ms and 99.96% as 100%, not 945 and 1', async () => {
    const { compiled, rowsFile } = prepare('sk_logreg_iris_multinomial', 2);
    const r = cli(['report', compiled, '--data', rowsFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const real = JSON.parse(r.stdout) as Report;
    // The two figures, planted in a real report; the page is rendered as \`report --html\` renders it.
    const planted = {
      ...real,
      circuit: { ...real.circuit, latency: { ...real.circuit.latency, perRun: { ...real.circuit.latency.perRun, totalMs: 9449.73, serverMs: 9000.2 }, perSampleMs: 1230.04 } },
      accuracy: { ...real.accuracy, labelAgreement: 0.9996 },
    } as Report;
    for (const [name, report] of [['real', real], ['planted', planted]] as const) {
      const html = join(tmp, `numbers-${name}.html`);
      writeFileSync(html, renderReportHtml(report));
      const { facts, errors } = await open(html);
      expect(errors).toEqual([]);
      expectNumbersMatch(facts, report as unknown as ReportNumbers);
    }
  }, 180_000);

  test('report --html of an MLP: the plot legend sits above the curves, axis values left of them; the text run says where the page is', async () => {
    const { compiled, rowsFile } = prepare('sk_mlp_breast_cancer_tanh', 5);
    const html = join(tmp, 'mlp.html');
    const r = cli(['report', compiled, '--data', rowsFile, '--html', html]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`HTML report written to ${html}`);

    const { facts, errors } = await open(html);
    expect(errors).toEqual([]);
    expectTablesFilled(facts);
    expect(facts.h2).not.toContain('Encrypted run');
    expect(facts.plots).toHaveLength(1);
    for (const p of facts.plots) {
      expect(p.legendBottom).toBeLessThanOrEqual(p.curvesTop);
      expect(p.legendRight).toBeLessThanOrEqual(p.width);
      expect(p.axisRight).toBeLessThanOrEqual(p.curvesLeft);
    }
  }, 180_000);
});
