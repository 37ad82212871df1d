/**
 * Writes the benchmark table of docs/benchmarks.md from `npm run bench -- --json` files, so every figure in it
 * comes from runs anyone can repeat:
 *
 *   npm run bench -- --json --max-predicted-s 10 --reps 3 > bench/results-<date>.json
 *   npx tsx test/tools/bench-readme.ts bench/results-<date>.json [bench/results-<date>-<part>.json …]
 *
 * A later file's run of a model and layout replaces the earlier file's (a part re-run after a fix);
 * the header names each file's command. The targets are checked again on the merged runs.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { BENCH_COLUMNS, benchNotes, benchRowCells } from '../../runtime/bench/format-bench';
import { checkTargets } from '../../runtime/bench/bench-targets';
import type { BenchReport } from '../../runtime/bench/run-bench';
import { BENCH_SECTION, writeReadmeSection } from './readme-section';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: npx tsx test/tools/bench-readme.ts bench/results-<date>.json [more.json …]');
  process.exit(2);
}
const reports = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as BenchReport);
const key = (r: BenchReport['results'][number]) => `${r.model} ${r.layout}`;
const merged = new Map<string, BenchReport['results'][number]>();
for (const r of reports) for (const x of r.results) merged.set(key(x), x);
// In the bench's own order (models by name, each layout as asked), wherever a later file added a run.
const layoutOrder = (r: BenchReport['results'][number]) => (r.layout === 'vector' ? 0 : 1);
const runs = [...merged.values()].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : layoutOrder(a) - layoutOrder(b)));
const first = reports[0]!;
const report: BenchReport = { ...first, results: runs, targets: checkTargets(runs) };
const command = (r: BenchReport, file: string) => {
  const o = r.options;
  const all = reports[0] === r;
  return `\`npm run bench -- --json --max-predicted-s ${o.max_predicted_s} --reps ${o.reps} --threads ${o.threads}${o.layouts.length === 1 ? ` --layouts ${o.layouts[0]}` : ''} --models …\` (${all ? `the ${o.models.length} model${o.models.length === 1 ? '' : 's'} below` : `${o.models.join(', ')}`}; [bench/${basename(file)}](../bench/${basename(file)}))`;
};
const cell = (s: string) => s.replace(/\|/g, '\\|');
const m = report.machine;
const lines = [
  `Measured with ${command(first, files[0]!)}${reports.length > 1 ? `, then ${reports.slice(1).map((r, i) => `${command(r, files[i + 1]!)}, whose runs replace the first's`).join('; ')}` : ''}, on ${m.cpu}, ${m.cores} cores, Node ${m.node}, node-seal ${m.node_seal}. ` +
    '"server ms" is one evaluation on one thread; "server ms on threads" is one evaluation split over "threads" threads; "samples/s on threads" keeps "threads" evaluations in flight on the worker threads. ' +
    'A vector-layout evaluation is one sample; a batch-layout evaluation is N/2 samples. ' +
    '"1-sample ms" is encryption + server + client steps + decryption of one evaluation: the latency of a prediction. "error promised/measured" is the compiled precision promise and the largest encrypted error on the evaluated rows, both as a share of the calibrated output range.',
  '',
  `| ${BENCH_COLUMNS.join(' | ')} |`,
  `|${BENCH_COLUMNS.map(() => '---').join('|')}|`,
  ...report.results.map((x) => `| ${benchRowCells(x).map(cell).join(' | ')} |`),
  '',
];
if (report.soak) {
  const s = report.soak;
  lines.push(
    `Soak: ${s.evaluations} evaluations of ${s.model} (${s.layout}), ${s.ms_per_evaluation.toFixed(1)} ms each; WASM heap ${(s.wasm_heap_before / 1e6).toFixed(1)} → ${(s.wasm_heap_after / 1e6).toFixed(1)} MB, RSS ${(s.rss_before / 1e6).toFixed(0)} → ${(s.rss_after / 1e6).toFixed(0)} MB.`,
    '',
  );
}
const notes = benchNotes(report);
if (notes.length > 0) lines.push('Runs without timings:', '', ...notes.map((n) => `- ${cell(n)}`), '');
// The per-run cost-model checks are one line; the named targets one line each.
const costModel = report.targets.filter((t) => t.target.includes('measured/predicted') && t.met !== null);
const named = report.targets.filter((t) => !t.target.includes('measured/predicted'));
if (named.length > 0 || costModel.length > 0) {
  lines.push(
    'Targets checked by the run:',
    '',
    ...named.map((t) => `- ${t.met === null ? 'n/a' : t.met ? 'met' : 'missed'}: ${t.target}${t.value === null ? '' : ` (${Number(t.value.toPrecision(4))})`}`),
    ...(costModel.length > 0 ? [`- cost model: measured/predicted in [0.8, 1.25] for ${costModel.filter((t) => t.met).length} of ${costModel.length} runs`] : []),
    '',
  );
}
writeReadmeSection(BENCH_SECTION, `${lines.join('\n')}`);
console.log(`docs/benchmarks.md: bench table from ${files.join(' + ')} (${report.results.length} runs)`);
