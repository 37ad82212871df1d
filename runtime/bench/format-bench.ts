import { textTable } from '../format/text-table';
import type { BenchReport } from './run-bench';

const ms = (v: number | null): string => (v === null ? '-' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const mb = (v: number | null): string => (v === null ? '-' : (v / 1e6).toFixed(v >= 1e7 ? 0 : 2));
const rate = (v: number | null): string => (v === null ? '-' : v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(1));
const ratio = (v: number | null): string => (v === null ? '-' : v.toFixed(2));
const percent = (v: number | null): string => (v === null ? '-' : `${Number((v * 100).toPrecision(2))}%`);

/** The columns of the bench's table of runs, in the terminal and in docs/benchmarks.md (one list, one order). */
export const BENCH_COLUMNS: readonly string[] = ['model', 'layout', 'N', 'depth', 'rot', 'server ms', 'samples/s', 'threads', 'server ms on threads', 'samples/s on threads', '1-sample ms', 'samples/eval', 'error promised/measured', 'keygen ms', 'enc ms', 'dec ms', 'keys MB', 'ct in/out MB', 'pred ms', 'pred ms on threads/16', 'meas/pred', 'ort ms', 'slowdown', 'client steps', 'round trips', 'step ms', 'step MB'];

/** Error codes by which the compiler refuses a model (any other code in a run's error is a failure of the run). */
const REFUSALS: readonly string[] = ['UNSUPPORTED_OP', 'UNSUPPORTED_ATTRIBUTE', 'NOT_ENCRYPTABLE', 'PARAMS'];

/** A run with no circuit, in one cell: refused by the compiler or failed, with the code its error starts with (the reason is in benchNotes). */
function outcomeCell(error: string): string {
  const code = /^([A-Z_]+): /.exec(error)?.[1];
  if (code === undefined) return 'failed';
  return `${REFUSALS.includes(code) ? 'refused' : 'failed'}: ${code}`;
}

/** One run as the cells of BENCH_COLUMNS ('-' where the run has no figure; a run without a circuit says why in its N cell). */
export function benchRowCells(x: BenchReport['results'][number]): string[] {
  if (!('n' in x)) return [x.model, x.layout, outcomeCell(x.error), ...BENCH_COLUMNS.slice(3).map(() => '-')];
  return [
    x.model,
    x.layout,
    String(x.n),
    String(x.depth),
    String(x.rotations),
    ms(x.server_ms),
    rate(x.samples_per_s),
    String(x.threads),
    // Results recorded before one evaluation could be split have no such fields.
    ms(x.server_ms_threads ?? null),
    rate(x.samples_per_s_threads),
    ms(x.one_sample_ms),
    String(x.samples_per_evaluation),
    `${percent(x.promised_relative_error)}/${percent(x.measured_relative_error)}`,
    ms(x.keygen_ms),
    ms(x.encrypt_ms),
    ms(x.decrypt_ms),
    mb(x.eval_key_bytes),
    `${mb(x.ciphertext_bytes_in)}/${mb(x.ciphertext_bytes_out)}`,
    ms(x.predicted_ms),
    x.predicted_ms_threads === undefined ? '-' : `${ms(x.predicted_ms_threads)}/${ms(x.predicted_ms_16_threads)}`,
    ratio(x.measured_over_predicted),
    x.onnxruntime_ms === null ? '-' : x.onnxruntime_ms.toFixed(3),
    x.slowdown === null ? '-' : x.slowdown.toFixed(0),
    // A body with client steps: steps and round trips per evaluation, their ms and the MB down and up per step.
    String(x.client_steps ?? 0),
    x.client_round_trips === undefined ? '-' : String(x.client_round_trips),
    x.client_step_ms === undefined ? '-' : ms(x.client_step_ms),
    x.client_step_bytes_per_step === undefined ? '-' : mb(x.client_step_bytes_per_step),
  ];
}

/** The runs that have no timings, with the reason (refused by the compiler, skipped, failed). */
export function benchNotes(r: BenchReport): string[] {
  return r.results.filter((x) => x.error !== undefined).map((x) => `${x.model} ${x.layout}: ${x.error}`);
}

/** The bench report for people: one table of runs, the op costs, the soak and the targets. */
export function formatBench(r: BenchReport): string {
  const rows = r.results.map(benchRowCells);
  let out = `DeepPowers bench: ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, node-seal ${r.machine.node_seal} (one thread per evaluation; "server ms on threads" is one evaluation split over "threads" threads, "samples/s on threads" keeps "threads" evaluations in flight)\n\n`;
  out += textTable([...BENCH_COLUMNS], rows);
  const notes = benchNotes(r);
  if (notes.length > 0) out += `\n${notes.join('\n')}\n`;

  const opNames = ['encode', 'encrypt', 'add', 'multiplyPlain', 'multiply', 'relinearize', 'rescale', 'rotate', 'decryptDecode'] as const;
  const opRows = Object.values(r.ops)
    .flat()
    .map((o) => [String(o.polyModulusDegree), o.coeffModulusBits.join(','), ...opNames.map((k) => ms(o.ms[k]))]);
  out += `\nnode-seal per-op ms (top level):\n${textTable(['N', 'chain bits', ...opNames], opRows)}`;

  if (r.soak) {
    const s = r.soak;
    out +=
      `\nsoak: ${s.evaluations} evaluations of ${s.model} (${s.layout}), ${ms(s.ms_per_evaluation)} ms each; ` +
      `WASM heap ${mb(s.wasm_heap_before)} → ${mb(s.wasm_heap_after)} MB, RSS ${mb(s.rss_before)} → ${mb(s.rss_after)} MB\n`;
  }
  // Reports recorded before bench --browser existed have no such field.
  if (r.browser) out += formatBrowser(r.browser);
  out += `peak RSS ${mb(r.memory.peak_rss_bytes)} MB, WASM heap ${mb(r.memory.wasm_heap_bytes)} MB\n`;
  if (r.targets.length > 0) {
    out += `\ntargets:\n${textTable(null, r.targets.map((t) => [t.met === null ? 'n/a' : t.met ? 'met' : 'MISSED', t.target, t.value === null ? '-' : String(Number(t.value.toPrecision(4)))]), '  ')}`;
  }
  return out;
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KiB`;

/** bench --browser: per model, the Node client's and Chromium's times on the same rows and server; or why it was not timed. */
export function formatBrowser(b: NonNullable<BenchReport['browser']>): string {
  if ('skipped' in b) return `\nbrowser client: not timed: ${b.skipped}\n`;
  const { bundle } = b;
  let out =
    `\nbrowser client in Chromium ${b.chromium} next to the Node client, same rows, one server on this machine; ` +
    `bundle deeppowers.js ${kib(bundle.js)} (${kib(bundle.js_gzip)} gzip) + seal_throws.wasm ${kib(bundle.wasm)} (${kib(bundle.wasm_gzip)} gzip), ${kib(bundle.js + bundle.wasm)} in all:\n`;
  const rows: string[][] = [];
  const failed: string[] = [];
  for (const run of b.runs) {
    if ('error' in run) {
      failed.push(`${run.model}: ${run.error}`);
      continue;
    }
    for (const [side, t] of [['Node', run.node], ['Chromium', run.chromium]] as const) {
      rows.push([run.model, run.layout, String(run.rows), side, ms(t.secret_key_ms), ms(t.evaluation_keys_ms), ms(t.encrypt_ms), ms(t.decrypt_ms), ms(t.server_ms)]);
    }
  }
  out += textTable(['model', 'layout', 'rows', 'client', 'secret key ms', 'evaluation keys ms (made + upload)', 'encrypt ms', 'decrypt ms (+ epilogue)', 'server round trips ms'], rows);
  if (failed.length > 0) out += `${failed.join('\n')}\n`;
  return out;
}
