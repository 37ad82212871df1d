import { progressNote, startProgress } from './progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Layout } from '../../compiler/circuit/ir';
import { formatBench } from '../bench/format-bench';
import { QUICK_MODELS, runBench } from '../bench/run-bench';
import { DEFAULT_CHROMIUM } from '../bench/browser-timing';
import { printJson } from './output';
import { parseThreads } from './threads';
import { availableParallelism } from 'node:os';

function positiveInt(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer, got "${v}"`);
    return n;
  };
}

function list(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function layouts(v: string): Layout[] {
  const out = list(v);
  for (const l of out) if (l !== 'vector' && l !== 'batch') throw new InvalidArgumentError(`unknown layout "${l}"; choose vector, batch or both`);
  return out as Layout[];
}

/** Rows each side encrypts and decrypts in bench --browser. */
const BROWSER_ROWS = 4;

interface BenchCliOptions {
  json?: boolean;
  models?: string[];
  layouts: Layout[];
  reps?: number;
  threads?: number;
  opsReps?: number;
  soak?: number;
  soakModel: string;
  maxPredictedS: number;
  quick?: boolean;
  inProcess?: boolean;
  refresh?: 'auto' | 'off';
  browser?: boolean;
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('benchmark encrypted inference on the public fixtures: server latency and throughput, client costs, key and ciphertext sizes, cost-model prediction, onnxruntime baseline, node-seal per-op costs, memory soak')
    .option('--json', 'print one JSON object {results, ops, soak, ...}')
    .option('--models <a,b>', 'fixtures to run (default: every fixture; those the compiler refuses are listed with its reason)', list)
    .option('--layouts <l>', 'vector, batch or vector,batch', layouts, ['vector', 'batch'] as Layout[])
    .option('--reps <n>', 'timed evaluations per model after a warm-up (default 5; 1 for evaluations predicted over 5 s)', positiveInt('--reps'))
    .option('--threads <n>', `also measure throughput with this many evaluations in flight on SEAL's worker threads (default: the cores, ${availableParallelism()} here; 1 skips it)`, parseThreads)
    .option('--ops-reps <n>', 'timed calls per op in the node-seal microbenchmark (default 10)', positiveInt('--ops-reps'))
    .option('--soak <n>', 'evaluations in the memory soak, 0 to skip (default 2000)', positiveInt('--soak'))
    .option('--soak-model <name>', 'fixture the soak runs (vector layout)', 'sk_logreg_breast_cancer')
    .option('--max-predicted-s <s>', 'skip encrypted runs predicted to take longer than this per evaluation', Number, 120)
    .addOption(new Option('--refresh <mode>', 'compile every model with compile --refresh auto (the default, as compile: client steps between segments where the planner cuts, timed with them) or off').choices(['auto', 'off']))
    .option('--quick', `a smoke run: ${QUICK_MODELS.join(', ')} only, 2 reps, 3 op reps, 20 soak evaluations, all in this process`)
    .option('--in-process', 'run every model in this process instead of one child process per model and layout')
    .option('--browser', `also time the browser client (deeppowers/browser in Chromium, via playwright-core) next to the Node client on the same models, ${BROWSER_ROWS} rows each: secret key, evaluation keys, encrypt, decrypt; needs npm run build and Chromium (${DEFAULT_CHROMIUM} or DEEPPOWERS_CHROMIUM)`)
    .action(async (opts: BenchCliOptions) => {
      const quick = opts.quick === true;
      const report = await runBench({
        ...(opts.models ? { models: opts.models } : quick ? { models: QUICK_MODELS } : {}),
        layouts: opts.layouts,
        reps: opts.reps ?? (quick ? 2 : 5),
        threads: opts.threads ?? (quick ? 1 : availableParallelism()),
        opsReps: opts.opsReps ?? (quick ? 3 : 10),
        soak: opts.soak ?? (quick ? 20 : 2000),
        soakModel: opts.soakModel,
        maxPredictedS: opts.maxPredictedS,
        refresh: opts.refresh ?? 'auto',
        isolate: !(quick || opts.inProcess === true),
        log: (line: string) => progressNote(line),
        soakProgress: (n: number) => startProgress('soak evaluations', n),
        ...(opts.browser ? { browserRows: BROWSER_ROWS } : {}),
      });
      if (opts.json) printJson(report);
      else process.stdout.write(formatBench(report));
    });
}
