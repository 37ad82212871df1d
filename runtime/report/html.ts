/**
 * The report as one self-contained HTML file: tables, and per activation an inline SVG of the
 * function and its polynomial over the fitted range (calibrated range shaded), with the error
 * |f − p| below. No scripts, no external resources.
 */
import { clenshaw, toUnit } from '../../compiler/approx/chebyshev';
import { activationFunction, activationLabel } from '../../compiler/activations/registry';
import type { ApproximationReport, Report } from './build-report';
import { formatBytes, formatNumber } from '../format/values';
import type { FheReport } from './fhe-section';
import { fheRows, fheTitle } from './format-fhe-section';
import { keySizeSource, reportKeySizes } from './key-sizes';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The text report's number format (one place: it keeps the zeros of 9450 and 100), four significant digits. */
function num(x: number, digits = 4): string {
  return Number.isFinite(x) ? formatNumber(x, digits) : String(x);
}

const pct = (x: number): string => (Number.isNaN(x) ? 'unknown' : `${num(100 * x, 3)}%`);
const bytes = formatBytes;

/** A table with column headers, or with `null` a label/value table whose first cells head their rows. */
function table(header: readonly string[] | null, rows: readonly (readonly string[])[]): string {
  const head = header ? `<thead><tr>${header.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead>` : '';
  const cell = (c: string, i: number): string => (header === null && i === 0 ? `<th scope="row">${esc(c)}</th>` : `<td>${esc(c)}</td>`);
  return `<table>${head}<tbody>${rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</tbody></table>`;
}

function polyline(xs: readonly number[], ys: readonly number[], sx: (x: number) => number, sy: (y: number) => number): string {
  return xs.map((x, i) => `${sx(x).toFixed(1)},${sy(ys[i]!).toFixed(1)}`).join(' ');
}

/**
 * f and p on the fitted range (top), |f − p| (bottom). The legend sits in its own band above the
 * plot and the axis values in the left margin, so neither covers a curve.
 */
export function activationSvg(a: ApproximationReport, width = 560, height = 340): string {
  const f = activationFunction(a);
  const [lo, hi] = a.range;
  const n = 400;
  const xs = Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
  const fy = xs.map(f);
  const py = xs.map((x) => clenshaw(a.chebyshev, toUnit(x, a.range)));
  const err = xs.map((_, i) => Math.abs(fy[i]! - py[i]!));
  const left = 64;
  const right = 16;
  const legend = 24;
  const topH = legend + (height - legend) * 0.6;
  const ymin = Math.min(...fy, ...py);
  const ymax = Math.max(...fy, ...py);
  const emax = Math.max(...err, 1e-300);
  const sx = (x: number): number => left + ((x - lo) / (hi - lo)) * (width - left - right);
  const sy = (y: number): number => legend + 6 + (1 - (y - ymin) / (ymax - ymin || 1)) * (topH - legend - 16);
  const ey = (e: number): number => topH + 20 + (1 - e / emax) * (height - topH - 40);
  const [olo, ohi] = a.observedRange;
  const axis = (y: number, label: string, fill = '#222'): string => `<text x="${left - 6}" y="${(y + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="${fill}">${esc(label)}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(activationLabel(a))} and its degree ${a.degree} polynomial">
<g class="legend" font-size="11">
<line x1="${left}" y1="12" x2="${left + 24}" y2="12" stroke="#222" stroke-width="2"/><text x="${left + 30}" y="16" fill="#222">${esc(activationLabel(a))}</text>
<line x1="${left + 190}" y1="12" x2="${left + 214}" y2="12" stroke="#d33" stroke-width="1.5" stroke-dasharray="5 3"/><text x="${left + 220}" y="16" fill="#d33">p, degree ${a.degree}</text>
<line x1="${left + 320}" y1="12" x2="${left + 344}" y2="12" stroke="#36c"/><text x="${left + 350}" y="16" fill="#36c">|f − p| (below)</text>
</g>
<rect class="calibrated" x="${sx(olo).toFixed(1)}" y="${legend}" width="${(sx(ohi) - sx(olo)).toFixed(1)}" height="${height - legend - 20}" fill="#eef4ff"/>
<line x1="${left}" y1="${sy(0).toFixed(1)}" x2="${width - right}" y2="${sy(0).toFixed(1)}" stroke="#ccc"/>
<g class="curves">
<polyline fill="none" stroke="#222" stroke-width="2" points="${polyline(xs, fy, sx, sy)}"/>
<polyline fill="none" stroke="#d33" stroke-width="1.5" stroke-dasharray="5 3" points="${polyline(xs, py, sx, sy)}"/>
<polyline fill="none" stroke="#36c" stroke-width="1" points="${polyline(xs, err, sx, ey)}"/>
</g>
<line x1="${left}" y1="${height - 20}" x2="${width - right}" y2="${height - 20}" stroke="#999"/>
<text x="${left}" y="${height - 5}" font-size="11">${esc(num(lo))}</text>
<text x="${width - right}" y="${height - 5}" font-size="11" text-anchor="end">${esc(num(hi))}</text>
${axis(sy(ymax), num(ymax))}
${axis(sy(ymin), num(ymin))}
${axis(ey(emax), num(emax, 3), '#36c')}
${axis(ey(0), '0', '#36c')}
</svg>`;
}

/**
 * Encrypted against plaintext body outputs, one point per (row, output): on the diagonal when
 * CKKS added nothing; the vertical distance from it is the encrypted error.
 */
export function encryptedScatterSvg(pairs: FheReport['bodyPairs'], width = 420, height = 420): string {
  const { plaintext: xs, encrypted: ys } = pairs;
  const left = 64;
  const bottom = 40;
  const top = 12;
  const right = 16;
  const all = [...xs, ...ys];
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.03;
  lo -= pad;
  hi += pad;
  const sx = (v: number): number => left + ((v - lo) / (hi - lo)) * (width - left - right);
  const sy = (v: number): number => top + (1 - (v - lo) / (hi - lo)) * (height - top - bottom);
  const dots = xs.map((x, i) => `<circle cx="${sx(x).toFixed(1)}" cy="${sy(ys[i]!).toFixed(1)}" r="2"/>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="encrypted against plaintext body outputs, ${xs.length} points">
<line class="diagonal" x1="${sx(lo).toFixed(1)}" y1="${sy(lo).toFixed(1)}" x2="${sx(hi).toFixed(1)}" y2="${sy(hi).toFixed(1)}" stroke="#ccc"/>
<g class="points" fill="#36c" fill-opacity="0.6">${dots}</g>
<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="#999"/>
<line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="#999"/>
<text x="${left}" y="${height - bottom + 14}" font-size="11">${esc(num(lo))}</text>
<text x="${width - right}" y="${height - bottom + 14}" font-size="11" text-anchor="end">${esc(num(hi))}</text>
<text x="${(left + width - right) / 2}" y="${height - 6}" font-size="11" text-anchor="middle">plaintext model</text>
<text x="${left - 6}" y="${(sy(lo) + 4).toFixed(1)}" font-size="11" text-anchor="end">${esc(num(lo))}</text>
<text x="${left - 6}" y="${(sy(hi) + 4).toFixed(1)}" font-size="11" text-anchor="end">${esc(num(hi))}</text>
<text x="14" y="${(top + height - bottom) / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 14 ${(top + height - bottom) / 2})">encrypted</text>
</svg>`;
}

export function renderReportHtml(r: Report): string {
  const c = r.circuit;
  const p = r.parameters;
  const a = r.accuracy;
  const keys = reportKeySizes(r);
  const sections: string[] = [];
  sections.push(`<h1>${esc(r.model.name)}: compiled model report</h1>
<p>${esc(r.compiledDir)} · source ${esc(r.model.sourceFile)} (SHA-256 ${esc(r.model.sha256.slice(0, 16))}…) · model hash ${esc(r.model.modelHash.slice(0, 16))}… · data ${esc(r.dataFile)}, ${r.rows} rows · DeepPowers ${esc(r.model.toolVersion)}</p>`);
  sections.push(`<h2>Model chain</h2>
<p>client prologue: ${esc(r.prologue.join(', ') || 'none')} · client epilogue: ${esc(r.epilogue.join(', ') || 'none')}</p>
${table(['stage', 'layer', 'depth', 'levels', 'sources'], c.depth.layers.map((l) => [String(l.stage), l.label, l.depth === null ? '–' : String(l.depth), l.levelIn === null ? '–' : `${l.levelIn} → ${l.levelOut}`, l.sources.join(', ')]))}
<p>total depth ${c.depth.total} (circuit: ${c.depth.consistent === null ? 'read off the segments; a body with branches has no per-layer levels' : c.depth.consistent ? 'consistent' : 'INCONSISTENT'}), top level ${c.depth.topLevel}, results at level ${c.depth.outputLevel}</p>${c.clientSteps ? `\n<p>client steps: ${esc(c.clientSteps.clientSees)}</p>\n<p>dishonest client: ${esc(c.clientSteps.dishonestClient)}</p>` : ''}`);
  if (r.approximations.length > 0) {
    sections.push(`<h2>Approximations</h2>
${table(
  ['stage', 'function', 'calibrated range', 'fitted range', 'degree', 'method', 'max error', 'outside (calibration)', 'outside (data)'],
  r.approximations.map((x) => [String(x.stage), activationLabel(x), `[${num(x.observedRange[0])}, ${num(x.observedRange[1])}]`, `[${num(x.range[0])}, ${num(x.range[1])}]`, String(x.degree), x.method, num(x.maxError, 3), pct(x.outside.calibration.share), `${pct(x.outside.data.share)} (${x.outside.data.values} values, ${pct(x.outside.data.rowShare)} of rows)`]),
)}
${r.approximations.map((x) => `<figure>${activationSvg(x)}<figcaption>stage ${x.stage}: ${esc(activationLabel(x))} (${esc(x.sources.join(', '))}); shaded: calibrated range</figcaption></figure>`).join('\n')}`);
  }
  if (r.quantization) {
    sections.push(`<h2>Quantization</h2>${table(['stage', 'bits', 'per channel', 'max |w − w_q|', 'zero weights'], r.quantization.stages.map((q) => [String(q.stage), String(q.bits), q.perChannel ? 'yes' : 'no', num(q.maxAbsError, 3), pct(q.zeroFraction)]))}`);
  }
  sections.push(`<h2>CKKS parameters</h2>
${table(null, [
  ['layout', c.layout],
  ['N', `${p.polyModulusDegree} (${p.slots} slots)`],
  ['modulus', `${p.coeffModulusBits.join(' + ')} = ${p.totalBits} bits (128-bit bound ${p.maxBitCount})`],
  ['scale', `2^${p.scaleBits}`],
  ['levels', String(p.levels)],
  ['security', `${p.securityBits}-bit`],
  ['expected precision', `${p.expectedPrecisionBits} fractional bits`],
  ['parameter id', p.parameterId],
])}`);
  const k = c.counts;
  sections.push(`<h2>Operations (read off the circuit)</h2>
${table(['rotations', 'ct×ct', 'ct×pt', 'ct+ct', 'ct+pt', 'rescales', 'relins', 'modswitches', 'constants'], [[k.rotations, k.ctCtMul, k.ctPtMul, k.ctCtAdd, k.ctPtAdd, k.rescales, k.relins, k.modswitches, k.constants].map(String)])}
<p>rotation steps: ${esc(k.rotationSteps.join(', ') || 'none')}</p>`);
  sections.push(`<h2>Sizes and latency</h2>
${table(null, [
  ['evaluation keys', `${bytes(keys.total)} (relin ${bytes(keys.relin)}, Galois ${bytes(keys.galois)}), ${keySizeSource(keys)}`],
  ['input ciphertexts per run (estimate)', `${c.sizes.inputCiphertextsPerRun} × ${bytes(c.sizes.inputCiphertext)} (seeded)`],
  ['result ciphertexts per run (estimate)', `${c.sizes.outputCiphertextsPerRun} × ${bytes(c.sizes.outputCiphertext)}`],
  ['server memory (estimate)', `${bytes(c.memory.total)} of ${bytes(c.memory.limit)} (${c.memory.peakLiveCiphertexts} ciphertexts alive at most)`],
  ['latency per run (estimate)', `${num(c.latency.perRun.totalMs)} ms (server ${num(c.latency.perRun.serverMs)} ms, client ${num(c.latency.perRun.clientMs)} ms)`],
  ['samples per run', String(c.latency.samplesPerRun)],
  ['latency per sample (estimate, full run)', `${num(c.latency.perSampleMs)} ms`],
])}`);
  const acc: string[][] = a.outputs.map((o) => [o.name, o.kind, o.kind === 'label' ? pct(o.agreement) : '–', num(o.maxAbsDelta, 3)]);
  acc.push(['(body outputs)', 'values', a.body.argmaxAgreement === null ? '–' : `argmax ${pct(a.body.argmaxAgreement)}`, num(a.body.maxAbsDelta, 3)]);
  let labels = '';
  if (a.labels?.task === 'classification') labels = `<p>accuracy against the labels (${esc(a.labels.from)}): reference ${pct(a.labels.reference)}, simulated ${pct(a.labels.simulated)}</p>`;
  if (a.labels?.task === 'regression') {
    labels = `<p>against the targets (${esc(a.labels.from)}): R² reference ${num(a.labels.r2.reference)}, simulated ${num(a.labels.r2.simulated)}; max relative error reference ${num(a.labels.maxRelativeError.reference)}, simulated ${num(a.labels.maxRelativeError.simulated)}</p>`;
  }
  sections.push(`<h2>Accuracy: reference vs simulated</h2>
<p>label agreement: ${a.labelAgreement === null ? 'no labels (single-valued output)' : `${pct(a.labelAgreement)} (${esc(a.labelAgreementFrom ?? '')})`}</p>
${table(['output', 'kind', 'agreement', 'max |Δ|'], acc)}
${labels}`);
  if (r.fhe) {
    sections.push(`<h2 id="encrypted-run">Encrypted run</h2>
<p>${esc(fheTitle(r.fhe))}: the same rows encrypted, next to the simulation above</p>
${table(null, fheRows(r.fhe))}
<figure class="encrypted-vs-plaintext">${encryptedScatterSvg(r.fhe.bodyPairs)}<figcaption>body outputs (${r.fhe.bodyPairs.plaintext.length} values): encrypted against the plaintext model; the diagonal is equality</figcaption></figure>`);
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.model.name)} — DeepPowers report</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}tbody th{font-weight:normal}figure{display:inline-block;margin:.5em 1em .5em 0}figcaption{font-size:12px;color:#555}</style>
</head><body>
${sections.join('\n')}
</body></html>
`;
}
