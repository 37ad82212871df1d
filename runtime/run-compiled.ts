/**
 * Runs a compiled model on data rows, whatever executes the encrypted body:
 *   rows → prologue (reference interpreter, on the client) → one body-input vector per sample →
 *   backend (simulation today; encrypt → server → decrypt for FHE) → one body-output vector per
 *   sample → epilogue (reference interpreter) → outputs keyed by ONNX output name, in the same
 *   per-row format as `predict --mode reference`.
 * Backends see flat per-sample vectors only; packing per layout is theirs (simulateSamples and
 * the FHE client share compiler/circuit/packing), so this file does not know the layout.
 */
import { clientSplitOf } from '../compiler/artifact/client-split';
import type { CompiledModel } from '../compiler/artifact/types';
import { fail } from '../compiler/errors';
import type { Value } from '../compiler/graph/tensor';
import type { NumericTensor } from '../compiler/graph/tensor';
import { runEpilogue, runPrologue } from '../compiler/chain/run';
import { bodyCircuits } from '../compiler/artifact/segments';
import { bodySteps, stepBounds, stepKind } from '../compiler/client-steps/table';
import { runSegments } from './run-segments';
import { simulateSamples, type SimulateOptions } from './backends/simulate';
import { batchTensor, type RowBatch } from './data/load-rows';
import type { RowSpec } from './data/row-spec';
import { appendRowOutputs, rowOutputs, type RowOutputs } from './outputs';

/** Body inputs in, body outputs out, one vector per sample, in order. */
export type BodyBackend = (samples: readonly Float64Array[]) => Float64Array[] | Promise<Float64Array[]>;

/** The body in simulation; a segmented body runs segment by segment with the client step (mask, and a max pool's window max, and all) in float64 between them. */
export function simulateBackend(model: CompiledModel, options: SimulateOptions = {}): BodyBackend {
  const circuits = bodyCircuits(model);
  const steps = bodySteps(model);
  return (samples) =>
    runSegments<Float64Array[]>(circuits.length, [...samples], {
      evaluate: (k, rows) => simulateSamples(circuits[k]!, rows, options),
      clientStep: (k, rows) => stepKind(steps[k]!.kind).simulate(rows, steps[k]!, stepBounds(model.refresh!)),
    });
}

/** What one run produced: the body's outputs (logits, before the epilogue) and the model outputs. */
export interface CompiledRun {
  readonly bodyInputs: Float64Array[];
  readonly bodyOutputs: Float64Array[];
  readonly values: Map<string, Value>;
}

export async function runCompiled(model: CompiledModel, input: NumericTensor, backend: BodyBackend): Promise<CompiledRun> {
  const split = clientSplitOf(model);
  const bodyInputs = runPrologue(split, input);
  const bodyOutputs = await backend(bodyInputs);
  return { bodyInputs, bodyOutputs, values: runEpilogue(split, bodyOutputs) };
}

/** The data file's rows as the compiled model's input: the row contract of `predict`. */
export function compiledRowSpec(model: CompiledModel): RowSpec {
  const dtype = model.input.dtype;
  if (dtype === 'string') fail('BAD_ARTIFACT', `model input ${model.input.name} holds strings; data files give numbers only`);
  return { inputName: model.input.name, dtype, rowShape: model.input.shape, fixedBatch: null };
}

export async function predictCompiled(model: CompiledModel, batch: RowBatch, backend: BodyBackend): Promise<{ run: CompiledRun; outputs: RowOutputs }> {
  const run = await runCompiled(model, batchTensor(batch, compiledRowSpec(model)), backend);
  return { run, outputs: rowOutputs(run.values, model.outputs.map((o) => o.name), batch.rows) };
}

/**
 * The outputs of `predictCompiled`, run `chunk` rows at a time (rows are independent), so a file
 * of a million rows never holds every intermediate of every row at once.
 */
export async function predictCompiledInChunks(model: CompiledModel, batch: RowBatch, backend: BodyBackend, chunk: number): Promise<RowOutputs> {
  const spec = compiledRowSpec(model);
  const names = model.outputs.map((o) => o.name);
  let out: RowOutputs = {};
  for (let first = 0; first < batch.rows; first += chunk) {
    const count = Math.min(chunk, batch.rows - first);
    const run = await runCompiled(model, batchTensor(batch, spec, first, count), backend);
    out = appendRowOutputs(out, rowOutputs(run.values, names, count));
  }
  return out;
}
