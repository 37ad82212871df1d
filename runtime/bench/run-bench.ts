import type { CountedProgress } from '../run/counted-progress';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Layout } from '../../compiler/circuit/ir';
import { DeepPowersError, fail } from '../../compiler/errors';
import { runPrologue } from '../../compiler/chain/run';
import { supportedLayouts } from '../../compiler/pipeline/compile';
import type { SealOpsBenchResult } from './seal-ops';
import { sealHeapBytes } from '../backends/seal/seal-module';
import { benchModel, compileFixture, type BenchResult } from './bench-model';
import { benchFixtureNames, loadBenchFixture, type BenchFixture } from './fixture-data';
import { benchInChild } from './isolated-run';
import { CostTable } from './measured-costs';
import { soak, type SoakResult } from './soak';
import { checkTargets, type BenchFailure, type TargetCheck } from './bench-targets';
import { benchBrowserClient, type BrowserBench } from './browser-timing';

export type { BenchFailure, TargetCheck } from './bench-targets';

export interface BenchOptions {
  /** Fixture names; every fixture when absent (those the compiler refuses are reported as failures). */
  readonly models?: readonly string[];
  readonly layouts: readonly Layout[];
  readonly reps: number;
  /** Threads for each model's throughput run (1 skips it). */
  readonly threads: number;
  /** Timed calls per op in the node-seal microbenchmark. */
  readonly opsReps: number;
  /** Evaluations in the soak; 0 skips it. */
  readonly soak: number;
  readonly soakModel: string;
  readonly maxPredictedS: number;
  /** compile --refresh for every model (default 'auto', as compile). */
  readonly refresh?: 'auto' | 'off';
  /** Benchmark each fixture/layout in its own child process (see isolated-run.ts). */
  readonly isolate: boolean;
  readonly log: (line: string) => void;
  /** Progress of the soak's evaluations (without it, a log line every 500). */
  readonly soakProgress?: CountedProgress;
  /** Also time the browser client in Chromium next to Node on the same models, with this many rows each (absent: not asked). */
  readonly browserRows?: number;
}

/** The smallest set that still covers both layouts and the key-switching path, for smoke tests. */
export const QUICK_MODELS = ['sk_logreg_breast_cancer'];

export interface BenchReport {
  readonly machine: { readonly cpu: string; readonly cores: number; readonly node: string; readonly node_seal: string };
  readonly options: { readonly models: readonly string[]; readonly layouts: readonly Layout[]; readonly reps: number; readonly threads: number; readonly ops_reps: number; readonly max_predicted_s: number; readonly refresh: 'auto' | 'off' };
  readonly results: readonly (BenchResult | BenchFailure)[];
  /** node-seal per-op milliseconds (top level), per N, one entry per modulus chain measured. */
  readonly ops: Record<string, SealOpsBenchResult[]>;
  readonly soak: SoakResult | null;
  /** The browser client next to Node (bench --browser), or why it was not timed; null when not asked. */
  readonly browser: BrowserBench | null;
  readonly memory: { readonly peak_rss_bytes: number; readonly wasm_heap_bytes: number };
  readonly targets: readonly TargetCheck[];
}

function nodeSealVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../node_modules/node-seal/package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const { log } = options;
  const known = benchFixtureNames();
  const models = options.models ?? known;
  for (const m of models) if (!known.includes(m)) fail('BAD_ARGUMENT', `no fixture "${m}" (known: ${known.join(', ')})`);
  const costs = new CostTable(options.opsReps);
  const childOps: Record<string, SealOpsBenchResult[]> = {};
  const results: (BenchResult | BenchFailure)[] = [];
  for (const name of models) {
    let fixture: BenchFixture;
    try {
      fixture = loadBenchFixture(name);
    } catch (e) {
      // The importer refuses the model: every layout fails for the same reason.
      if (!(e instanceof DeepPowersError)) throw e;
      log(`${name}: refused: ${e.message}`);
      for (const layout of options.layouts) results.push({ model: name, layout, error: `${e.code}: ${e.message}` });
      continue;
    }
    // Layouts the compiler does not offer for this model (trees: batch only) are not runs.
    const offered = supportedLayouts(fixture.graph);
    for (const layout of options.layouts.filter((l) => offered.includes(l))) {
      log(`${name} (${layout})`);
      if (options.isolate) {
        const childArgs = ['--reps', String(options.reps), '--ops-reps', String(options.opsReps), '--max-predicted-s', String(options.maxPredictedS), '--threads', String(options.threads), '--refresh', options.refresh ?? 'auto'];
        try {
          const { result, ops } = await benchInChild(name, layout, childArgs, log);
          results.push(result);
          mergeOps(childOps, ops);
        } catch (e) {
          if (!(e instanceof DeepPowersError)) throw e;
          log(`  failed: ${e.message}`);
          results.push({ model: name, layout, error: `${e.code}: ${e.message}` });
        }
        continue;
      }
      try {
        const r = await benchModel(fixture, layout, { reps: options.reps, threads: options.threads, costs, maxPredictedS: options.maxPredictedS, refresh: options.refresh ?? 'auto', log });
        log(r.error ? `  skipped: ${r.error}` : `  server ${r.server_ms!.toFixed(1)} ms, predicted ${r.predicted_ms.toFixed(1)} ms`);
        results.push(r);
      } catch (e) {
        if (!(e instanceof DeepPowersError)) throw e;
        log(`  failed: ${e.message}`);
        results.push({ model: name, layout, error: `${e.code}: ${e.message}` });
      }
    }
  }

  let browser: BrowserBench | null = null;
  if (options.browserRows !== undefined) {
    // The bench's models that compiled, each in the first of the bench's layouts it offers.
    const timed = models.flatMap((name) => {
      let fixture: BenchFixture;
      try {
        fixture = loadBenchFixture(name);
      } catch (e) {
        if (e instanceof DeepPowersError) return [];
        throw e;
      }
      const layout = options.layouts.find((l) => supportedLayouts(fixture.graph).includes(l));
      return layout === undefined ? [] : [{ fixture, layout }];
    });
    browser = await benchBrowserClient({ models: timed, rows: options.browserRows, refresh: options.refresh ?? 'auto', log });
    if ('skipped' in browser) log(`browser client: not timed: ${browser.skipped}`);
  }

  let soakResult: SoakResult | null = null;
  if (options.soak > 0) {
    log(`soak: ${options.soak} evaluations of ${options.soakModel} (vector)`);
    const fixture = loadBenchFixture(options.soakModel);
    const { compilation, model } = compileFixture(fixture, 'vector');
    const sample = runPrologue(compilation.split, fixture.test)[0]!;
    const shown = options.soakProgress?.(options.soak);
    soakResult = await soak(options.soakModel, model, sample, options.soak, (done) => {
      if (shown) shown.update(done);
      else if (done % 500 === 0) log(`  ${done}/${options.soak}`);
    });
    shown?.finish();
  }

  return {
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, node_seal: nodeSealVersion() },
    options: { models, layouts: options.layouts, reps: options.reps, threads: options.threads, ops_reps: options.opsReps, max_predicted_s: options.maxPredictedS, refresh: options.refresh ?? 'auto' },
    results,
    ops: mergeOps(childOps, costs.byN()),
    soak: soakResult,
    browser,
    memory: { peak_rss_bytes: process.resourceUsage().maxRSS * 1024, wasm_heap_bytes: await sealHeapBytes() },
    targets: checkTargets(results),
  };
}

/** Add `more`'s per-N chains to `into`, one entry per distinct chain. */
function mergeOps(into: Record<string, SealOpsBenchResult[]>, more: Record<string, SealOpsBenchResult[]>): Record<string, SealOpsBenchResult[]> {
  for (const [n, chains] of Object.entries(more)) {
    const list = (into[n] ??= []);
    for (const c of chains) if (!list.some((x) => x.coeffModulusBits.join(',') === c.coeffModulusBits.join(','))) list.push(c);
  }
  return into;
}
