import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { activationLabel } from '../../compiler/activations/registry';
import type { Command } from 'commander';
import { fail } from '../../compiler/errors';
import { buildReport, type Report } from '../report/build-report';
import type { TreeReport } from '../report/tree-section';
import { formatFheSection } from '../report/format-fhe-section';
import { renderReportHtml } from '../report/html';
import { formatBytes, formatNumber } from '../format/values';
import { keySizeSource, reportKeySizes } from '../report/key-sizes';
import { printJson } from './output';
import { startProgress } from './progress';
import { sealOnThreads } from '../backends/workers/seal-on-threads';
import { parseThreads, THREADS_HELP } from './threads';
import { textTable } from '../format/text-table';

const pct = (x: number | null): string => (x === null ? '–' : Number.isNaN(x) ? 'unknown' : `${formatNumber(100 * x, 4)}%`);

function formatTrees(t: TreeReport, c: Report['circuit']): string {
  const perRow = (c.sizes.inputCiphertext * c.sizes.inputCiphertextsPerRun + c.sizes.outputCiphertext * c.sizes.outputCiphertextsPerRun) / c.latency.samplesPerRun;
  const moved = t.thresholds.filter((x) => x.snapped !== x.threshold).slice(0, 8);
  let s = '\ntree ensemble\n';
  s += textTable(null, [
    ['trees', `${t.trees} tree${t.trees === 1 ? '' : 's'}, depth ${t.depth}, ${t.branches} branches, ${t.leaves} leaves`],
    ['encoding', `${t.bits} encrypted threshold bits per sample, thresholds on a ${t.nBits}-bit grid per feature${t.nBitsChosen ? ' (default)' : ' (--n-bits)'}`],
    ['snap', `${t.movedThresholds} of ${t.branches} thresholds moved; rows reaching another leaf: ${t.calibrationRowsChanged} of ${t.calibrationRows} calibration, ${t.dataRowsChanged} of ${t.dataRows} data`],
    ['bytes per row', `${formatBytes(perRow)} of ciphertexts in and out at ${c.latency.samplesPerRun} samples per run`],
  ], '  ');
  if (moved.length > 0) {
    s += textTable(['feature', 'threshold', 'snapped'], moved.map((x) => [String(x.feature), formatNumber(x.threshold, 6), formatNumber(x.snapped, 6)]), '  ');
    if (t.movedThresholds > moved.length) s += `  … ${t.movedThresholds - moved.length} more (all in --json)\n`;
  }
  return s;
}

export function formatReport(r: Report): string {
  const c = r.circuit;
  const p = r.parameters;
  const k = c.counts;
  const a = r.accuracy;
  const keys = reportKeySizes(r);
  let s = `${r.model.name}: ${r.compiledDir} (model hash ${r.model.modelHash.slice(0, 16)}), ${r.rows} rows of ${r.dataFile}\n`;
  s += `\nchain (client prologue: ${r.prologue.join(', ') || 'none'}; client epilogue: ${r.epilogue.join(', ') || 'none'})\n`;
  s += textTable(
    ['stage', 'layer', 'depth', 'levels', 'sources'],
    c.depth.layers.map((l) => [String(l.stage), l.label, l.depth === null ? '–' : String(l.depth), l.levelIn === null ? '–' : `${l.levelIn}→${l.levelOut}`, l.sources.join(', ')]),
    '  ',
  );
  if (r.approximations.length > 0) {
    s += '\napproximations\n';
    s += textTable(
      ['stage', 'function', 'calibrated', 'fitted on', 'degree', 'method', 'max error', 'outside: calibration', 'data'],
      r.approximations.map((x) => [
        String(x.stage),
        activationLabel(x),
        `[${formatNumber(x.observedRange[0], 4)}, ${formatNumber(x.observedRange[1], 4)}]`,
        `[${formatNumber(x.range[0], 4)}, ${formatNumber(x.range[1], 4)}]`,
        String(x.degree),
        x.method,
        formatNumber(x.maxError, 3),
        pct(x.outside.calibration.share),
        `${pct(x.outside.data.share)} (${pct(x.outside.data.rowShare)} of rows)`,
      ]),
      '  ',
    );
  }
  if (r.trees) s += formatTrees(r.trees, c);
  s += '\ncircuit\n';
  s += textTable(null, [
    ['layout', c.layout],
    ['CKKS', `N=${p.polyModulusDegree} (${p.slots} slots), modulus ${p.coeffModulusBits.join('+')} = ${p.totalBits} of ${p.maxBitCount} bits, scale 2^${p.scaleBits}, ${p.levels} levels, ${p.securityBits}-bit security`],
    ['depth', `${c.depth.total}${c.clientSteps ? ` in ${c.clientSteps.segmentDepths.length} segments (${c.clientSteps.segmentDepths.join(' + ')})` : ''}${c.depth.consistent === null ? ' (read off the circuits: a body with branches or server-side row-wise functions has no per-layer levels)' : c.depth.consistent ? '' : ' (layers do not add up to the circuit: a bug)'}`],
    ...(c.clientSteps ? [['client steps', c.clientSteps.clientSees]] : []),
    ...(c.clientSteps ? [['dishonest client', c.clientSteps.dishonestClient]] : []),
    ['ops', `${k.rotations} rotations, ${k.ctCtMul} ct×ct, ${k.ctPtMul} ct×pt, ${k.ctCtAdd} ct+ct, ${k.ctPtAdd} ct+pt, ${k.rescales} rescales, ${k.relins} relins, ${k.modswitches} modswitches`],
    ['rotation steps', k.rotationSteps.join(', ') || 'none'],
    ['keys', `${formatBytes(keys.total)} evaluation keys (relin ${formatBytes(keys.relin)}, Galois ${formatBytes(keys.galois)}), ${keySizeSource(keys)}`],
    ['ciphertexts', `${c.sizes.inputCiphertextsPerRun} × ${formatBytes(c.sizes.inputCiphertext)} in, ${c.sizes.outputCiphertextsPerRun} × ${formatBytes(c.sizes.outputCiphertext)} out per run`],
    ['memory', `${formatBytes(c.memory.total)} server heap estimate (${c.memory.peakLiveCiphertexts} ciphertexts alive at most)`],
    ['latency', `${formatNumber(c.latency.perRun.totalMs, 4)} ms per run (${c.latency.samplesPerRun} sample${c.latency.samplesPerRun === 1 ? '' : 's'}), ${formatNumber(c.latency.perSampleMs, 4)} ms per sample`],
  ], '  ');
  s += '\naccuracy: reference vs simulated\n';
  s += textTable(
    ['output', 'kind', 'agreement', 'max |Δ|'],
    [
      ...a.outputs.map((o) => [o.name, o.kind, o.kind === 'label' ? pct(o.agreement) : '–', formatNumber(o.maxAbsDelta, 3)]),
      ['(body outputs)', 'values', a.body.argmaxAgreement === null ? '–' : `argmax ${pct(a.body.argmaxAgreement)}`, formatNumber(a.body.maxAbsDelta, 3)],
    ],
    '  ',
  );
  s += `  label agreement: ${a.labelAgreement === null ? '– (single-valued output)' : `${pct(a.labelAgreement)} (${a.labelAgreementFrom})`}\n`;
  if (a.labels?.task === 'classification') s += `  accuracy vs labels (${a.labels.from}): reference ${pct(a.labels.reference)}, simulated ${pct(a.labels.simulated)}\n`;
  if (a.labels?.task === 'regression') {
    s += `  vs targets (${a.labels.from}): R² reference ${formatNumber(a.labels.r2.reference, 4)}, simulated ${formatNumber(a.labels.r2.simulated, 4)}; ` +
      `max relative error reference ${formatNumber(a.labels.maxRelativeError.reference, 3)}, simulated ${formatNumber(a.labels.maxRelativeError.simulated, 3)}\n`;
  }
  if (r.fhe) s += formatFheSection(r.fhe);
  return s;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('describe a compiled model and measure it on data: chain, approximations, parameters, op counts, sizes, latency, accuracy of the simulated circuit')
    .argument('<compiled>', 'compiled model directory (deeppowers compile)')
    .requiredOption('--data <file>', 'rows (JSON or CSV) to measure on')
    .option('--labels <file>', 'true labels or targets, one per row: a JSON array (or an object with "labels" or "test_labels", e.g. a fixture data.json) or a one-column CSV')
    .option('--model <file.onnx>', 'the source ONNX model, when the compiled directory has no source.onnx')
    .option('--html <file>', 'also write a self-contained HTML report with a plot per activation (with --fhe, also encrypted against plaintext outputs)')
    .option('--fhe', 'also run the rows encrypted (node-seal CKKS): keygen/encrypt/evaluate/decrypt times, key and ciphertext bytes, FHE-vs-simulate error and agreement')
    .option('--threads <n>', `with --fhe: ${THREADS_HELP}`, parseThreads)
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, opts: { data: string; labels?: string; model?: string; html?: string; fhe?: boolean; threads?: number; json?: boolean }) => {
      const report = await buildReport({
        compiledDir: dir,
        dataFile: opts.data,
        ...(opts.labels !== undefined ? { labelsFile: opts.labels } : {}),
        ...(opts.model !== undefined ? { sourceModel: opts.model } : {}),
        ...(opts.fhe
          ? {
              fhe: true,
              fheKeygenProgress: (n: number) => startProgress('keygen', n),
              fheProgress: (n: number) => startProgress('encrypted evaluations', n),
              fheBackend: sealOnThreads(opts.threads),
            }
          : {}),
      });
      if (opts.html) {
        try {
          writeFileSync(opts.html, renderReportHtml(report));
        } catch (e) {
          fail('IO', `cannot write ${opts.html}: ${(e as Error).message}`);
        }
      }
      // Where the HTML went: after the text on stdout, or on stderr when stdout is one JSON value.
      const wrote = opts.html ? `HTML report written to ${resolve(opts.html)}\n` : '';
      if (opts.json) {
        printJson(report);
        process.stderr.write(wrote);
      } else {
        process.stdout.write(formatReport(report) + (wrote ? `\n${wrote}` : ''));
      }
    });
}
