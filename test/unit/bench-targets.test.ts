import { describe, expect, it } from 'vitest';
import type { BenchResult } from '../../runtime/bench/bench-model';
import { checkTargets, type BenchFailure } from '../../runtime/bench/bench-targets';

// Only the fields the targets read matter; the rest of a run is filled with nulls.
function run(model: string, layout: 'vector' | 'batch', fields: Partial<BenchResult>): BenchResult {
  return { model, layout, n: 8192, rotations: 0, server_ms: null, server_ms_threads: null, one_sample_ms: null, samples_per_s_threads: null, eval_key_bytes: null, measured_over_predicted: null, ...fields } as BenchResult;
}

const byName = (checks: ReturnType<typeof checkTargets>, start: string) => checks.find((c) => c.target.startsWith(start));

describe('checkTargets', () => {
  it('judges each named target on the run it names, with the thresholds of the performance issue', () => {
    const checks = checkTargets([
      run('sk_logreg_breast_cancer', 'vector', { server_ms: 4.5 }),
      run('sk_logreg_breast_cancer', 'batch', { samples_per_s_threads: 310_000 }),
      run('sk_mlp_digits_relu', 'vector', { server_ms: 290, server_ms_threads: 200, rotations: 18 }),
      run('pt_lenet_digits16', 'vector', { one_sample_ms: 3900, eval_key_bytes: 250e6 }),
    ]);
    expect(byName(checks, 'logistic regression (sk_logreg_breast_cancer), one sample')).toMatchObject({ value: 4.5, met: false });
    expect(byName(checks, 'logistic regression (sk_logreg_breast_cancer), batch')).toMatchObject({ value: 310_000, met: true });
    expect(byName(checks, 'digits MLP (sk_mlp_digits_relu), one sample at its promise')).toMatchObject({ value: 290, met: true });
    expect(byName(checks, 'digits MLP (sk_mlp_digits_relu), one sample split')).toMatchObject({ value: 200, met: false });
    expect(byName(checks, '16x16 LeNet (pt_lenet_digits16), end to end')).toMatchObject({ value: 3900, met: true });
    expect(byName(checks, '16x16 LeNet (pt_lenet_digits16): evaluation keys')).toMatchObject({ value: 250e6, met: false });
    // 290 / 200 = 1.45, below 1.6.
    expect(byName(checks, 'sk_mlp_digits_relu vector: one evaluation on threads')).toMatchObject({ value: 1.45, met: false });
    // Targets whose run was not made are absent, not counted as met.
    expect(byName(checks, 'digits CNN')).toBeUndefined();
    expect(byName(checks, 'MaxPool CNN')).toBeUndefined();
  });

  it('judges the split speed-up only on runs with 8 or more rotations, and n/a where the run has no split figure', () => {
    const checks = checkTargets([
      run('few', 'vector', { server_ms: 100, server_ms_threads: 90, rotations: 7 }),
      run('many', 'vector', { server_ms: 100, server_ms_threads: 50, rotations: 8 }),
      run('unsplit', 'vector', { server_ms: 100, rotations: 12 }),
    ]);
    expect(byName(checks, 'few vector: one evaluation on threads')).toBeUndefined();
    expect(byName(checks, 'many vector: one evaluation on threads')).toMatchObject({ value: 2, met: true });
    expect(byName(checks, 'unsplit vector: one evaluation on threads')).toMatchObject({ value: null, met: null });
  });

  it('counts a model as running when some layout timed an evaluation, and names those that did not', () => {
    const refused: BenchFailure = { model: 'knn', layout: 'vector', error: 'NOT_ENCRYPTABLE: TopK' };
    const checks = checkTargets([
      run('lr', 'vector', { server_ms: 5 }),
      run('lr', 'batch', { server_ms: null }),
      refused,
      { ...refused, layout: 'batch' },
      run('cnn', 'batch', { server_ms: null }),
    ]);
    const every = byName(checks, 'every model runs encrypted');
    expect(every).toMatchObject({ value: 2, met: false });
    expect(every!.target).toContain('1 of 3; not: knn, cnn');
  });
});
