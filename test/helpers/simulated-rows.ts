import type { NumericTensor } from '../../compiler/graph/tensor';
import { type CompileOptions, compileModel } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import type { CompiledModel } from '../../compiler/artifact/types';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { inputTensor, type ExpectedEntry, type Fixture } from './fixtures';

export const flat = (e: ExpectedEntry): number[] => (Array.isArray(e) ? e.flatMap(flat) : [e as number]);
export const argmax = (row: number[]): number => row.indexOf(Math.max(...row));

/**
 * A compiled fixture run on the simulation backend over its first `count` test rows: each row's
 * `output` next to torch's recorded one (the caller judges them).
 */
export async function simulatedRows(
  compiled: ReturnType<typeof compileModel>,
  options: CompileOptions,
  fixture: Fixture,
  count: number,
): Promise<{ model: CompiledModel; rows: number[][]; torch: number[][] }> {
  const model = toCompiledModel(compiled, options, 'test');
  const run = await runCompiled(model, inputTensor(fixture.data, fixture.data.test_inputs.slice(0, count)), simulateBackend(model));
  const out = run.values.get('output') as NumericTensor;
  const width = out.shape[1]!;
  const rows = Array.from({ length: count }, (_, r) => Array.from(out.data.slice(r * width, (r + 1) * width)));
  return { model, rows, torch: fixture.data.expected['output']!.slice(0, count).map(flat) };
}
