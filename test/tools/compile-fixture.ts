import type { Layout } from '../../compiler/circuit/ir';
import { DeepPowersError } from '../../compiler/errors';
import { compileModel, type Compilation, type CompileOptions } from '../../compiler/pipeline/compile';
import { inputTensor, type Fixture } from '../helpers/fixtures';

/** A fixture compiled on all its calibration rows, or the compiler's reason for refusing it: which fixtures compile is the compiler's to say. */
export function compileFixture(f: Fixture, layout: Layout, refresh?: 'auto' | 'off'): { compilation: Compilation; options: CompileOptions } | { refused: string } {
  // No refresh given: compile's default (the planner may cut the body).
  const options = { calibration: inputTensor(f.data, f.data.calibration), layout, ...(refresh !== undefined ? { refresh } : {}) };
  try {
    return { compilation: compileModel(f.modelPath, options), options };
  } catch (e) {
    if (!(e instanceof DeepPowersError)) throw e;
    return { refused: e.message };
  }
}
