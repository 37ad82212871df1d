import type { CompiledModel } from '../../compiler/artifact/types';
import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import { fail } from '../../compiler/errors';
import { contextSpecOf } from '../backends/backend';
import { openKeystore, type KeystoreToken } from '../keys/token-keystore';
import type { RowBatch } from '../data/load-rows';
import type { RowOutputs } from '../outputs';
import { predictEncrypted } from '../predict-encrypted';
import { type EncryptedRunSizes, type EncryptedRunTimings } from '../run-encrypted';
import { startProgress } from './progress';
import { sealOnThreads } from './threads';

/**
 * `predict --mode fhe`: the compiled model run encrypted, client and server in this process but
 * exchanging only serialized envelopes. Same outputs as the other modes, plus what it cost.
 */
export interface FhePrediction {
  readonly outputs: RowOutputs;
  readonly layout: string;
  readonly evaluations: number;
  /** Threads that evaluated (this one and workers). */
  readonly threads: number;
  /** per_evaluation is one entry per row in vector layout, per N/2-row batch in batch layout. */
  readonly timings: EncryptedRunTimings;
  readonly sizes: EncryptedRunSizes;
  /** Whether the secret key came from a keystore or was made for this run (and discarded). */
  readonly secret_key: 'keystore' | 'ephemeral';
}

export async function predictFhe(model: CompiledModel, batch: RowBatch, options: { keystore?: string; token?: KeystoreToken; threads?: number } = {}): Promise<FhePrediction> {
  let secretKey: Uint8Array | undefined;
  if (options.keystore !== undefined) {
    const stored = (await openKeystore(options.keystore, options.token, { create: false })).readSecretKey(model.modelHash);
    if (!stored) fail('BAD_ARGUMENT', `keystore ${options.keystore} holds no key for this model; run: deeppowers keygen <compiled> --keystore ${options.keystore}`);
    const want = contextSpecOf(model.parameters).parameterId;
    if (stored.parameterId !== want) fail('BAD_ARGUMENT', `the keystore's key is for parameter set ${stored.parameterId}, this model uses ${want}`);
    secretKey = stored.bytes;
  }
  const backend = sealOnThreads(options.threads, Math.ceil(batch.rows / samplesPerEvaluation(model.circuit)));
  const { outputs, encrypted: run } = await predictEncrypted(model, batch, { ...(secretKey ? { secretKey } : {}), backend, progress: (n) => startProgress('encrypted evaluations', n) });
  return {
    outputs,
    layout: run.layout,
    evaluations: run.evaluations,
    threads: backend.concurrency,
    timings: run.timings,
    sizes: run.sizes,
    secret_key: secretKey ? 'keystore' : 'ephemeral',
  };
}

export function formatFheCosts(p: Omit<FhePrediction, 'secret_key'> & { secret_key?: FhePrediction['secret_key'] }): string {
  const t = p.timings;
  const s = p.sizes;
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  return (
    `encrypted (${p.layout} layout, ${p.evaluations} evaluation${p.evaluations === 1 ? '' : 's'} on ${p.threads} thread${p.threads === 1 ? '' : 's'}${p.secret_key ? `, ${p.secret_key} secret key` : ''}): ` +
    `keygen ${t.keygen_ms.toFixed(0)} ms, encrypt ${t.encrypt_ms.toFixed(1)} ms, server ${t.evaluate_ms.toFixed(1)} ms, decrypt ${t.decrypt_ms.toFixed(1)} ms; ` +
    `evaluation keys ${mb(s.eval_key_bytes)}, ciphertexts ${mb(s.ciphertext_bytes_in)} in / ${mb(s.ciphertext_bytes_out)} out\n`
  );
}
