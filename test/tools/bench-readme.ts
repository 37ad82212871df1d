/**
 * Writes the benchmark table of docs/benchmarks.md from a `npm run bench -- --json` file, so every figure in it
 * comes from one run anyone can repeat:
 *
 *   npm run bench -- --json --max-predicted-s 20 --reps 3 > bench/results-<date>.json
 *   npx tsx test/tools/bench-readme.ts bench/results-<date>.json
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { BENCH_COLUMNS, benchNotes, benchRowCells } from '../../runtime/bench/format-bench';
import type { BenchReport } from '../../runtime/bench/run-bench';
import { BENCH_SECTION, writeReadmeSection } from './readme-section';

const file = process.argv[2];
if (!file) {
  console.error('usage: npx tsx test/tools/bench-readme.ts bench/results-<date>.json');
  process.exit(2);
}
const report = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
const cell = (s: string) => s.replace(/\|/g, '\\|');
const o = report.options;
const m = report.machine;
const lines = [
  `Measured with \`npm run bench -- --json --max-predicted-s ${o.max_predicted_s} --reps ${o.reps} --threads ${o.threads} --models …\` (the ${o.models.length} model${o.models.length === 1 ? "" : "s"} below) on ${m.cpu}, ${m.cores} cores, Node ${m.node}, node-seal ${m.node_seal}, one thread per evaluation (\`samples/s on threads\`: ${o.threads} evaluations in flight on the worker threads). ` +
    `The full JSON is [bench/${basename(file)}](../bench/${basename(file)}). A vector-layout evaluation is one sample; a batch-layout evaluation is N/2 samples. ` +
    '"1-sample ms" is encryption + server + decryption of one evaluation: the latency of a prediction. "error promised/measured" is the compiled precision promise and the largest encrypted error on the evaluated rows, both as a share of the calibrated output range.',
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
console.log(`docs/benchmarks.md: bench table from ${file} (${report.results.length} runs)`);
