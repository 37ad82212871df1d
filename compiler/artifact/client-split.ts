import type { SplitModel } from '../chain/stages';
import type { ClientSide } from './types';

/**
 * A compiled model's client steps as the SplitModel that `chain/run.ts` runs (runPrologue,
 * runEpilogue): one implementation of the client's prologue and epilogue serves the compiler,
 * the reference runs and every client. The encrypted chain is not part of a compiled model (the
 * circuit replaces it), so `body` is empty: those runners never read it.
 */
export function clientSplitOf(model: ClientSide): SplitModel {
  return {
    inputName: model.input.name,
    inputShape: model.input.shape,
    inputDType: model.input.dtype,
    prologue: model.client.prologue,
    bodyInput: model.bodyInput.name,
    body: [],
    bodyOutput: model.bodyOutput.name,
    bodyOutputShape: model.bodyOutput.shape,
    bodyOutputDType: model.bodyOutput.dtype,
    epilogue: model.client.epilogue,
    outputs: model.outputs,
    opsets: model.source.opsets,
    constants: model.client.constants,
  };
}
