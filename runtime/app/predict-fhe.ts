import { bodySteps } from '../../compiler/client-steps/table';
import type { CompiledModel } from '../../compiler/artifact/types';
import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import { fail } from '../../compiler/errors';
import { contextSpecOf } from '../backends/backend';
import { bodyCircuits } from '../../compiler/artifact/segments';
import { sealBackend } from '../backends/seal/backend';
import { clientModelOfBody } from '../client/client-model';
import { keystoreClient } from '../client/model-keys';
import { LOCAL_SCOPE } from '../client/key-scope';
import { openKeystore, type KeystoreToken } from '../keys/token-keystore';
import type { RowBatch } from '../data/load-rows';
import type { CountedProgressTracker } from '../run/counted-progress';
import type { RowOutputs } from '../run/outputs';
import { predictEncrypted } from '../run/predict-encrypted';
import { type EncryptedRunSizes, type EncryptedRunTimings } from '../run/run-encrypted';
import { sealOnThreads } from '../backends/workers/seal-on-threads';

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
  /** per_evaluation is one entry per request: a row in vector layout, an N/2-row batch in batch layout; a body with client steps sends several evaluations per request (up to 64 in vector layout), one round trip per step for all of them. */
  readonly timings: EncryptedRunTimings;
  readonly sizes: EncryptedRunSizes;
  /**
   * Where the secret key came from: the keystore's stored key; `derived` from the keystore's
   * recovery root now (first use after \`keys recover\`) and stored; or made for this run and discarded.
   */
  readonly secret_key: 'keystore' | 'derived' | 'ephemeral';
}

/** A counted loop's progress under a name (keygen, the encrypted evaluations); the CLI draws it. */
export type LabelledProgress = (label: string, total: number) => CountedProgressTracker;

export interface FheOptions {
  /** A keystore whose secret key to use (default: a fresh key for this run only). */
  readonly keystore?: string;
  /** The PKCS#11 token a token-bound keystore opens through. */
  readonly token?: KeystoreToken;
  /** Threads that evaluate (default: the cores). */
  readonly threads?: number;
  /** How keygen and the evaluations report progress (default: not at all). */
  readonly progress?: LabelledProgress;
}

const NO_PROGRESS: LabelledProgress = () => ({ update() {}, finish() {} });

export async function predictFhe(model: CompiledModel, batch: RowBatch, options: FheOptions = {}): Promise<FhePrediction> {
  const progress = options.progress ?? NO_PROGRESS;
  const key = options.keystore !== undefined ? await keystoreSecretKey(model, options.keystore, options.token) : undefined;
  const backend = sealOnThreads(options.threads, Math.ceil(batch.rows / samplesPerEvaluation(model.circuit)));
  const rotations = bodyCircuits(model).reduce((n, c) => n + c.rotationSteps.length, 0);
  const { outputs, encrypted: run } = await predictEncrypted(model, batch, {
    ...(key ? { secretKey: key.bytes } : {}),
    backend,
    keygenProgress: (n) => progress(`keygen N=${model.parameters.polyModulusDegree}, ${rotations} rotation key${rotations === 1 ? '' : 's'}`, n),
    progress: (n) => progress('encrypted evaluations', n),
  });
  return {
    outputs,
    layout: run.layout,
    evaluations: run.evaluations,
    threads: backend.concurrency,
    timings: run.timings,
    sizes: run.sizes,
    secret_key: key?.source ?? 'ephemeral',
  };
}

/**
 * The model's secret key for local use from a keystore: the stored one, or (first use after \`keys recover\`)
 * derived from the keystore's recovery root and stored, as keygen and the client do.
 */
async function keystoreSecretKey(model: CompiledModel, dir: string, token: KeystoreToken | undefined): Promise<{ bytes: Uint8Array; source: 'keystore' | 'derived' }> {
  const keystore = await openKeystore(dir, token, { create: false });
  const want = contextSpecOf(model.parameters).parameterId;
  const stored = keystore.readSecretKey(model.modelHash, LOCAL_SCOPE);
  if (stored) {
    if (stored.parameterId !== want) fail('BAD_ARGUMENT', `the keystore's key is for parameter set ${stored.parameterId}, this model uses ${want}`);
    return { bytes: stored.bytes, source: 'keystore' };
  }
  if (!keystore.hasRecoveryRoot()) {
    fail('BAD_ARGUMENT', `keystore ${dir} holds neither a key for this model nor a recovery root; run: deeppowers keygen <compiled> --keystore ${dir}, or deeppowers keys recover --keystore ${dir}`);
  }
  const clientModel = clientModelOfBody(bodyCircuits(model), model.parameters, model.modelHash, bodySteps(model));
  const { client } = await keystoreClient(sealBackend, keystore, clientModel, LOCAL_SCOPE);
  try {
    return { bytes: client.exportSecretKey(), source: 'derived' };
  } finally {
    client.dispose();
  }
}
