import type { Layout } from '../../compiler/circuit/ir';
import type { BenchResult } from './bench-model';

/** A fixture/layout whose compilation failed: no circuit, so no counts or timings. */
export interface BenchFailure {
  readonly model: string;
  readonly layout: Layout;
  readonly error: string;
}

export interface TargetCheck {
  readonly target: string;
  readonly value: number | null;
  readonly met: boolean | null;
}

type Run = BenchResult | BenchFailure;

function find(results: readonly Run[], model: string, layout: Layout): BenchResult | undefined {
  const r = results.find((x) => x.model === model && x.layout === layout);
  return r && 'n' in r ? r : undefined;
}

/** A split evaluation is worth judging only where there is work to spread: this many rotations or more. */
export const SPLIT_MIN_ROTATIONS = 8;

/**
 * The performance issue's targets (this 2-core machine, default options), checked against whichever
 * runs were made. A target whose run is absent is left out; one whose figure the run lacks is n/a.
 */
export function checkTargets(results: readonly Run[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const at = (target: string, r: BenchResult | undefined, value: (r: BenchResult) => number | null | undefined, ok: (v: number) => boolean): void => {
    if (!r) return;
    const v = value(r) ?? null;
    checks.push({ target, value: v, met: v === null ? null : ok(v) });
  };
  const lrVector = find(results, 'sk_logreg_breast_cancer', 'vector');
  const lrBatch = find(results, 'sk_logreg_breast_cancer', 'batch');
  const mlp = find(results, 'sk_mlp_digits_relu', 'vector');
  const cnn = find(results, 'pt_cnn_digits', 'vector');
  at('logistic regression (sk_logreg_breast_cancer), one sample: server ms <= 4', lrVector, (r) => r.server_ms, (v) => v <= 4);
  at('logistic regression (sk_logreg_breast_cancer), batch on threads: samples/s >= 300000', lrBatch, (r) => r.samples_per_s_threads, (v) => v >= 300_000);
  at('digits MLP (sk_mlp_digits_relu), one sample at its promise: server ms <= 300 (1 thread)', mlp, (r) => r.server_ms, (v) => v <= 300);
  at('digits MLP (sk_mlp_digits_relu), one sample split over threads: server ms <= 180', mlp, (r) => r.server_ms_threads, (v) => v <= 180);
  at('digits CNN (pt_cnn_digits), one sample split over threads: server ms <= 300', cnn, (r) => r.server_ms_threads, (v) => v <= 300);
  at('two-ReLU MLP (pt_mlp_digits_relu), end to end: 1-sample ms <= 800', find(results, 'pt_mlp_digits_relu', 'vector'), (r) => r.one_sample_ms, (v) => v <= 800);
  at('MLP 784-128-128-10 (bench_mlp784_digits28), end to end: 1-sample ms <= 2500', find(results, 'bench_mlp784_digits28', 'vector'), (r) => r.one_sample_ms, (v) => v <= 2500);
  const lenet = find(results, 'pt_lenet_digits16', 'vector');
  at('16x16 LeNet (pt_lenet_digits16), end to end, defaults: 1-sample ms <= 4000', lenet, (r) => r.one_sample_ms, (v) => v <= 4000);
  at('16x16 LeNet (pt_lenet_digits16): evaluation keys <= 200 MB', lenet, (r) => r.eval_key_bytes, (v) => v <= 200e6);
  at('MaxPool CNN (pt_cnn_maxpool_digits), end to end: 1-sample ms <= 1500', find(results, 'pt_cnn_maxpool_digits', 'vector'), (r) => r.one_sample_ms, (v) => v <= 1500);
  for (const r of results) {
    if (!('n' in r) || r.rotations < SPLIT_MIN_ROTATIONS || r.server_ms === null) continue;
    at(`${r.model} ${r.layout}: one evaluation on threads vs 1 thread, speed-up >= 1.6`, r, (x) => (x.server_ms_threads ? x.server_ms! / x.server_ms_threads : null), (v) => v >= 1.6);
  }
  // A model runs when an encrypted evaluation of it was timed in some layout (the bench tries both;
  // compile's default, --layout auto, picks one): a refusal, a skip or a failure in every layout is a miss.
  const models = [...new Set(results.map((r) => r.model))];
  const idle = models.filter((m) => !results.some((r) => r.model === m && 'n' in r && r.server_ms !== null));
  checks.push({
    target: `every model runs encrypted with default options (${models.length - idle.length} of ${models.length}${idle.length > 0 ? `; not: ${idle.join(', ')}` : ''})`,
    value: idle.length,
    met: idle.length === 0,
  });
  for (const r of results) {
    if ('n' in r) at(`${r.model} ${r.layout}: measured/predicted in [0.8, 1.25]`, r, (x) => x.measured_over_predicted, (v) => v >= 0.8 && v <= 1.25);
  }
  return checks;
}
