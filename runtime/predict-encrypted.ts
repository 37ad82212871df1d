/**
 * Data rows through a compiled model with the body on real ciphertexts (prologue → SEAL →
 * epilogue), with progress per evaluation: the one path `predict --mode fhe`, `report --fhe` and
 * the demo share.
 */
import type { CompiledModel } from '../compiler/artifact/types';
import { samplesPerEvaluation } from '../compiler/circuit/packing';
import { fail } from '../compiler/errors';
import type { FheBackend } from './backends/backend';
import type { CountedProgress } from './counted-progress';
import type { RowBatch } from './data/load-rows';
import type { RowOutputs } from './outputs';
import { predictCompiled, type CompiledRun } from './run-compiled';
import { fheBackend, type EncryptedRun } from './run-encrypted';

export interface EncryptedPrediction {
  readonly run: CompiledRun;
  readonly outputs: RowOutputs;
  readonly encrypted: EncryptedRun;
}

export async function predictEncrypted(model: CompiledModel, batch: RowBatch, options: { secretKey?: Uint8Array; progress?: CountedProgress; backend?: FheBackend } = {}): Promise<EncryptedPrediction> {
  const shown = options.progress?.(Math.ceil(batch.rows / samplesPerEvaluation(model.circuit)));
  const fhe = fheBackend(model, {
    ...(options.secretKey ? { secretKey: options.secretKey } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
    ...(shown ? { onEvaluation: (done: number) => shown.update(done) } : {}),
  });
  const { run, outputs } = await predictCompiled(model, batch, fhe.backend);
  shown?.finish();
  const encrypted = fhe.lastRun();
  if (!encrypted) fail('IO', 'the encrypted backend did not run');
  return { run, outputs, encrypted };
}
