import { describe, expect, test } from 'vitest';
import { BENCH_COLUMNS, benchNotes, benchRowCells } from '../../runtime/bench/format-bench';
import type { BenchReport } from '../../runtime/bench/run-bench';

/** A bench run without a circuit is still a row of the table, saying in its N cell whether the compiler refused it or the run failed, with the reason in the notes. */
describe('bench rows without timings', () => {
  const run = (error: string): BenchReport['results'][number] => ({ model: 'pt_x', layout: 'batch', error });

  test('a compiler refusal says refused and its code; the whole reason is a note', () => {
    const cells = benchRowCells(run('PARAMS: the body needs about 6.81 GiB of WASM memory at N=16384'));
    expect(cells).toHaveLength(BENCH_COLUMNS.length);
    expect(cells.slice(0, 4)).toEqual(['pt_x', 'batch', 'refused: PARAMS', '-']);
    expect(benchRowCells(run('NOT_ENCRYPTABLE: softmax over rows of 31 is not supported'))[2]).toBe('refused: NOT_ENCRYPTABLE');
    const report = { results: [run('PARAMS: over the heap')] } as unknown as BenchReport;
    expect(benchNotes(report)).toEqual(['pt_x batch: PARAMS: over the heap']);
  });

  test('a run that failed (a child that crashed, an error without a code) says failed', () => {
    expect(benchRowCells(run('IO: the benchmark of pt_x (batch) exited with SIGKILL: '))[2]).toBe('failed: IO');
    expect(benchRowCells(run('something odd'))[2]).toBe('failed');
  });
});
