import { clientSplitOf } from '../../compiler/artifact/client-split';
import { runEpilogue, runPrologue } from '../../compiler/chain/run';
import { clientViewFromJson, type ClientView } from '../../compiler/artifact/views';
import { fail } from '../../compiler/errors';
import { contextSpecOf, type FheBackend } from '../backends/backend';
import type { ClientModel } from '../client/client-model';
import { checkEncodable, type FheClient } from '../client/fhe-client';
import { keystoreClient } from '../client/model-keys';
import type { Keystore } from '../client/keystore';
import { batchTensor, type RowBatch } from '../data/load-rows';
import { flattenRow } from '../data/flatten-row';
import { checkRowsInRange } from '../data/input-range';
import type { RowSpec } from '../data/row-spec';
import { rowOutputs, type RowOutputs } from '../outputs';
import { PinStore } from '../network/pins';
import { describeVerification, verifyRelease, type ReleaseReceipt, type VerifiedRelease } from '../network/verify-result';
import type { ModelDescription } from './served-model';
import { UnknownKeysError, type RemoteServer } from './remote';

/** Rows one private_predict call may carry: each row is an encryption and (in vector layout) an evaluation. */
export const MAX_ROWS_PER_CALL = 4096;
/** Ciphertext bytes per remote call; larger batches are split so each stays far below the server's limits. */
const REQUEST_BYTES_BUDGET = 8 * 1024 * 1024;

export interface PrivatePrediction {
  readonly outputs: RowOutputs;
  /** What the log and the attestations vouch for, e.g. "verified: 2 of 2 reviewers, log entry 7". */
  readonly verification: string;
  /** Rows outside the calibrated input range, run anyway because the call allowed it. */
  readonly warnings: readonly string[];
  readonly evaluations: number;
  readonly timings: { readonly encrypt_ms: number; readonly server_ms: number; readonly decrypt_ms: number; readonly total_ms: number };
}

export interface PredictProgress {
  readonly done: number;
  readonly total: number;
}

/**
 * One remote model on the client side: its client view (from describe_model), an FHE client
 * holding the secret key from the keystore (made on first use), and the id of the evaluation
 * keys uploaded to the server. Rows go through the prologue, are encrypted, evaluated remotely,
 * decrypted and run through the epilogue here; the server sees ciphertexts only.
 */
export class PrivateModel {
  private keysId: string | undefined;

  private constructor(
    readonly description: ModelDescription,
    readonly view: ClientView,
    private readonly fhe: FheClient,
    private readonly remote: RemoteServer,
    private readonly keystore: Keystore,
    private readonly pins: PinStore,
  ) {}

  static async open(backend: FheBackend, remote: RemoteServer, keystore: Keystore, model: string, log: (line: string) => void = () => {}): Promise<PrivateModel> {
    const description = await remote.describe(model);
    const view = clientViewFromJson(description.client_view);
    if (view.modelHash !== description.model_hash) fail('BAD_ARTIFACT', `the server describes ${model} with two different model hashes`);
    const { client, recoveryPhrase } = await keystoreClient(backend, keystore, clientModelOfView(view));
    if (recoveryPhrase !== undefined) {
      // stderr goes to the host's log, which is no place for the phrase itself.
      log(`made a recovery root for keystore ${keystore.dir}; write its phrase down with \`deeppowers keys phrase --keystore ${keystore.dir}\``);
    }
    return new PrivateModel(description, view, client, remote, keystore, PinStore.open(keystore.dir));
  }

  /** The evaluation keys' id on the server: reuse the recorded upload if the server still has it, otherwise upload now. */
  async ensureKeys(force = false): Promise<string> {
    const server = this.remote.options.url;
    const hash = this.view.modelHash;
    if (!force) {
      const known = this.keysId ?? this.keystore.uploadedKeysId(server, hash);
      if (known && (known === this.keysId || (await this.remote.hasKeys(known)))) return (this.keysId = known);
    }
    const bundle = this.fhe.evaluationKeys();
    await this.remote.uploadKeys(bundle.keysId, bundle.bytes);
    this.keystore.recordUpload(server, hash, bundle.keysId);
    return (this.keysId = bundle.keysId);
  }

  async predict(
    rows: readonly unknown[],
    call: { onProgress?: (p: PredictProgress) => void; signal?: AbortSignal; allowOutOfRange?: boolean } = {},
  ): Promise<PrivatePrediction> {
    const t0 = performance.now();
    if (rows.length === 0) fail('BAD_DATA', 'rows is empty: give at least one row');
    if (rows.length > MAX_ROWS_PER_CALL) fail('BAD_DATA', `${rows.length} rows in one call; at most ${MAX_ROWS_PER_CALL}`);
    const spec = this.rowSpec();
    const batch = this.batchOf(rows, spec);
    const tensor = batchTensor(batch, spec);
    const { input, inputRange } = this.view;
    const warnings = checkRowsInRange({ calibrated: inputRange, featureNames: input.featureNames, shape: input.shape }, batch, call.allowOutOfRange === true);
    const samples = runPrologue(clientSplitOf(this.view), tensor);
    checkEncodable(this.fhe.model, samples);

    const per = this.description.samples_per_evaluation;
    const totalEvaluations = Math.ceil(samples.length / per);
    let keysId = await this.ensureKeys();
    let encryptMs = 0;
    let serverMs = 0;
    let decryptMs = 0;
    let evaluationsDone = 0;
    let samplesPerRequest = per;
    const bodyOutputs: Float64Array[] = [];
    const verified: VerifiedRelease[] = [];
    for (let first = 0; first < samples.length; ) {
      let t = performance.now();
      const chunk = samples.slice(first, first + samplesPerRequest);
      const request = this.fhe.encrypt(chunk);
      encryptMs += performance.now() - t;
      t = performance.now();
      const base = evaluationsDone;
      const send = () =>
        this.remote.predictWithReceipt(this.description.model, keysId, request.bytes, {
          signal: call.signal,
          onProgress: (done) => call.onProgress?.({ done: base + done, total: totalEvaluations }),
        });
      let answer: { result: Uint8Array; receipt: ReleaseReceipt };
      try {
        answer = await send();
      } catch (e) {
        // The server lost the keys (data dir wiped, another token): upload them again, once.
        if (!(e instanceof UnknownKeysError)) throw e;
        keysId = await this.ensureKeys(true);
        answer = await send();
      }
      const { result } = answer;
      // Nothing is decrypted from a result the log does not vouch for.
      verified.push(
        verifyRelease(this.remote.options.url, this.pins, answer.receipt, { inputs: request.bytes, result, keysId, modelHash: this.view.modelHash }),
      );
      serverMs += performance.now() - t;
      t = performance.now();
      bodyOutputs.push(...this.fhe.decrypt(result, chunk.length));
      decryptMs += performance.now() - t;
      first += chunk.length;
      evaluationsDone += request.evaluations;
      if (first === chunk.length) {
        // Size later requests by what the first one cost.
        const evaluations = Math.max(1, Math.floor(REQUEST_BYTES_BUDGET / (request.bytes.length / request.evaluations)));
        samplesPerRequest = evaluations * per;
      }
    }
    const t = performance.now();
    const values = runEpilogue(clientSplitOf(this.view), bodyOutputs);
    const outputs = rowOutputs(values, this.view.outputs.map((o) => o.name), rows.length);
    decryptMs += performance.now() - t;
    return {
      outputs,
      warnings,
      evaluations: totalEvaluations,
      verification: describeVerification(verified),
      timings: { encrypt_ms: round(encryptMs), server_ms: round(serverMs), decrypt_ms: round(decryptMs), total_ms: round(performance.now() - t0) },
    };
  }

  dispose(): void {
    this.fhe.dispose();
  }

  private rowSpec(): RowSpec {
    const { input } = this.view;
    if (input.dtype === 'string') fail('BAD_ARTIFACT', `model input ${input.name} holds strings; rows give numbers only`);
    return { inputName: input.name, dtype: input.dtype, rowShape: input.shape, fixedBatch: null };
  }

  /**
   * Rows as `predict` reads them from a JSON data file (flat, or nested in the input's shape),
   * or, when the model names its features, as objects {feature: value} with every feature given.
   */
  private batchOf(rows: readonly unknown[], spec: RowSpec): RowBatch {
    const features = this.view.input.featureNames;
    const flat = rows.map((row, i) => {
      const where = `row ${i + 1}`;
      if (row !== null && typeof row === 'object' && !Array.isArray(row)) {
        if (!features) fail('BAD_DATA', `${where} is an object, but ${this.description.model} has no feature names: give an array of ${size(spec)} numbers`);
        const record = row as Record<string, unknown>;
        const unknown = Object.keys(record).filter((k) => !features.includes(k));
        if (unknown.length > 0) fail('BAD_DATA', `${where} has unknown feature ${JSON.stringify(unknown[0])}; the features are ${features.join(', ')}`);
        return flattenRow(
          features.map((f) => (f in record ? record[f] : fail('BAD_DATA', `${where} lacks feature ${JSON.stringify(f)}`))),
          [features.length],
          where,
          spec.inputName,
        );
      }
      return flattenRow(row, spec.rowShape, where, spec.inputName);
    });
    const width = size(spec);
    const values = new Float64Array(flat.length * width);
    flat.forEach((r, i) => values.set(r, i * width));
    return { file: 'rows', rows: flat.length, rowShape: spec.rowShape, values };
  }
}

/** The FHE client's model description, read off the client view. */
export function clientModelOfView(v: ClientView): ClientModel {
  return {
    modelHash: v.modelHash,
    parameters: contextSpecOf(v.parameters),
    layout: v.layout.layout,
    slots: v.layout.slots,
    samplesPerCiphertext: v.layout.samplesPerCiphertext,
    inputSize: v.layout.inputSize,
    outputSize: v.layout.outputSize,
    inputs: v.layout.inputs,
    outputs: v.layout.outputs,
    inputLevel: v.inputCiphertext.level,
    inputScale: v.inputCiphertext.scale,
    results: v.results,
    rotationSteps: v.rotationSteps,
    needsRelin: v.needsRelin,
    outputPrecisionBits: v.parameters.expectedPrecisionBits,
  };
}

function size(spec: RowSpec): number {
  return spec.rowShape.reduce((a, b) => a * b, 1);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
