import { writeCompiledModel } from '../../compiler/artifact/files';
import type { CompiledModel } from '../../compiler/artifact/types';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { batchTensor, type RowBatch } from '../../runtime/data/load-rows';
import { rowSpecOf } from '../../runtime/data/row-spec';
import { inputTensor, type Fixture } from './fixtures';

/**
 * A fixture compiled as `deeppowers compile` does it (its calibration rows read by the model's
 * row spec, as the CLI reads a data file) and written to `dir`, for tests that serve it.
 */
export function writeCompiledFixture(fixture: Fixture, dir: string, layout: CompileOptions['layout'], more: Partial<Omit<CompileOptions, 'calibration' | 'layout'>> = {}): CompiledModel {
  const options: CompileOptions = {
    ...more,
    calibration: (graph) => {
      const spec = rowSpecOf(graph);
      const rows = fixture.data.calibration as number[][];
      const batch: RowBatch = { file: 'calibration', rows: rows.length, rowShape: spec.rowShape, values: Float64Array.from(rows.flat()) };
      return batchTensor(batch, { ...spec, fixedBatch: null });
    },
    layout,
  };
  const model = toCompiledModel(compileModel(fixture.modelPath, options), options, 'test');
  writeCompiledModel(dir, model);
  return model;
}

/** A fixture compiled in memory on all its calibration rows as data.json gives them, with `more` options. */
export function compiledFixture(fixture: Fixture, more: Partial<Omit<CompileOptions, 'calibration'>> = {}): CompiledModel {
  const options: CompileOptions = { calibration: inputTensor(fixture.data, fixture.data.calibration), ...more };
  return toCompiledModel(compileModel(fixture.modelPath, options), options, 'test');
}
