/**
 * Data rows through a compiled model with the body on real ciphertexts (prologue → SEAL →
 * epilogue), with progress per evaluation: the one path `predict --mode fhe`, `report --fhe` and
 * the demo share.
 */
import type { CompiledModel } from '../compiler/artifact/types';
import { samplesPerEvaluation } from '../compiler/circuit/packing';
import { fail } from '../compiler/errors';
import type { FheBackend } from './backends/backend';
import type { CountedProgress, CountedProgressTracker } from './counted-progress';
import type { RowBatch } from './data/load-rows';
import type { RowOutputs } from './outputs';
import { predictCompiled, type CompiledRun } from './run-compiled';
import { fheBackend, type EncryptedRun } from './run-encrypted';

export interface EncryptedPrediction {
  readonly run: CompiledRun;
  readonly outputs: RowOutputs;
  readonly encrypted: EncryptedRun;
}

export interface EncryptedPredictionOptions {
  readonly secretKey?: Uint8Array;
  /** Encrypted evaluations done of their total; shown once the keys are made. */
  readonly progress?: CountedProgress;
  /** Key generation, one step (SEAL makes the keys in one blocking call): shown before it starts, so a minute of it is not a silent pause. */
  readonly keygenProgress?: CountedProgress;
  readonly backend?: FheBackend;
}

export async function predictEncrypted(model: CompiledModel, batch: RowBatch, options: EncryptedPredictionOptions = {}): Promise<EncryptedPrediction> {
  const total = Math.ceil(batch.rows / samplesPerEvaluation(model.circuit));
  let keygen: CountedProgressTracker | undefined;
  let shown: CountedProgressTracker | undefined;
  const fhe = fheBackend(model, {
    ...(options.secretKey ? { secretKey: options.secretKey } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
    onKeygen: (phase) => {
      if (phase === 'start') {
        keygen = options.keygenProgress?.(1);
        return;
      }
      keygen?.finish();
      shown = options.progress?.(total);
    },
    onEvaluation: (done: number) => shown?.update(done),
  });
  const { run, outputs } = await predictCompiled(model, batch, fhe.backend);
  shown?.finish();
  const encrypted = fhe.lastRun();
  if (!encrypted) fail('IO', 'the encrypted backend did not run');
  return { run, outputs, encrypted };
}
