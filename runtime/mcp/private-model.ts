import { randomBytes } from 'node:crypto';
import { clientSplitOf } from '../../compiler/artifact/client-split';
import { runEpilogue, runPrologue } from '../../compiler/chain/run';
import { clientViewFromJson, type ClientView, type SegmentView } from '../../compiler/artifact/views';
import { fail } from '../../compiler/errors';
import { contextSpecOf, type FheBackend } from '../backends/backend';
import { bodyClientModel, stepFromView, type ClientModel } from '../client/client-model';
import { checkEncodable, type FheClient } from '../client/fhe-client';
import { keystoreClient } from '../client/model-keys';
import type { ClientKeyStore } from '../client/client-keystore';
import { serverScope, type KeyScope } from '../client/key-scope';
import { batchTensor, type RowBatch } from '../data/load-rows';
import { flattenRow } from '../data/flatten-row';
import { applyRangePolicy, DEFAULT_OUT_OF_RANGE, type OutOfRangePolicy, type RowOutOfRange } from '../data/input-range';
import type { RowSpec } from '../data/row-spec';
import { outputsForAllRows, rowOutputs, type RowOutputs } from '../run/outputs';
import { PinStore } from '../network/pins';
import { describeVerification, verifyRelease, type ReleaseExpectation, type TrustPolicy, type VerifiedRelease } from '../network/verify-result';
import type { ModelDescription } from '../service/served-model';
import { UnknownKeysError, type RemoteServer, type SegmentAnswer } from './remote';
import type { OnStage } from './staged-progress';
import { runSegments } from '../run/run-segments';

/** Rows one private_predict call may carry: each row is an encryption and (in vector layout) an evaluation. */
export const MAX_ROWS_PER_CALL = 4096;
/** Ciphertext bytes per remote call; larger batches are split so each stays far below the server's limits. */
const REQUEST_BYTES_BUDGET = 8 * 1024 * 1024;

export interface PrivatePrediction {
  readonly outputs: RowOutputs;
  /** What the log and the attestations vouch for, e.g. "verified: 2 of 2 reviewers, log entry 7". */
  readonly verification: string;
  /** Each row with a value outside the calibrated input range and what the policy did with it (a refused row's outputs are null). */
  readonly outOfRange: readonly RowOutOfRange[];
  readonly evaluations: number;
  readonly timings: { readonly encrypt_ms: number; readonly server_ms: number; readonly decrypt_ms: number; readonly total_ms: number };
  /** A body with client steps: round trips made, their client-side time (decrypt, encrypt again; in server_ms too) and bytes down and up. */
  readonly client_steps?: { readonly count: number; readonly ms: number; readonly bytes: number };
}

export interface PredictProgress {
  readonly done: number;
  readonly total: number;
}

/**
 * One remote model on the client side: its client view (from describe_model), an FHE client
 * holding this server's secret key for the model from the keystore (made on first use; another
 * server of the same model gets another key), and the id of the evaluation keys uploaded to the
 * server. Rows go through the prologue, are encrypted, evaluated remotely,
 * decrypted and run through the epilogue here; the server sees ciphertexts only.
 */
export class PrivateModel {
  private keysId: string | undefined;

  private constructor(
    readonly description: ModelDescription,
    readonly view: ClientView,
    /** The keystore scope of the model's key: this server. */
    readonly scope: KeyScope,
    private readonly fhe: FheClient,
    private readonly remote: RemoteServer,
    private readonly keystore: ClientKeyStore,
    private readonly pins: PinStore,
    private readonly trust: TrustPolicy,
  ) {}

  /** `pins`: where the server's log key and nodes are pinned (default: pins.json in the keystore directory; a page passes its own). */
  static async open(
    backend: FheBackend,
    remote: RemoteServer,
    keystore: ClientKeyStore,
    model: string,
    log: (line: string) => void = () => {},
    trust: TrustPolicy = {},
    onStage: OnStage = async () => {},
    pins?: PinStore,
  ): Promise<PrivateModel> {
    const description = await remote.describe(model);
    const view = clientViewFromJson(description.client_view);
    if (view.modelHash !== description.model_hash) fail('BAD_ARTIFACT', `the server describes ${model} with two different model hashes`);
    const n = description.ckks.poly_modulus_degree;
    const scope = serverScope(remote.options.url);
    await onStage((await keystore.hasSecretKey(view.modelHash, scope)) ? `opening ${model}'s secret key (N = ${n})` : `making ${model}'s secret key (first use; N = ${n})`);
    const { client, recoveryPhrase } = await keystoreClient(backend, keystore, clientModelOfView(view), scope, { name: model });
    if (recoveryPhrase !== undefined) {
      // stderr goes to the host's log, which is no place for the phrase itself.
      log(`made a recovery root for keystore ${keystore.dir}; write its phrase down with \`deeppowers keys phrase --keystore ${keystore.dir}\``);
    }
    return new PrivateModel(description, view, scope, client, remote, keystore, pins ?? PinStore.open(keystore.dir), trust);
  }

  /** The evaluation keys' id on the server: reuse the recorded upload if the server still has it, otherwise upload now. */
  async ensureKeys(force = false, onStage: OnStage = async () => {}): Promise<string> {
    const server = this.remote.options.url;
    const hash = this.view.modelHash;
    if (!force) {
      const known = this.keysId ?? (await this.keystore.uploadedKeysId(server, hash));
      if (known && (known === this.keysId || (await this.remote.hasKeys(known)))) return (this.keysId = known);
    }
    await onStage(`making and uploading ${this.description.model}'s evaluation keys (first use on this server)`);
    const bundle = this.fhe.evaluationKeys();
    await this.remote.uploadKeys(bundle.keysId, bundle.bytes);
    await this.keystore.recordUpload(server, hash, bundle.keysId);
    return (this.keysId = bundle.keysId);
  }

  async predict(
    rows: readonly unknown[],
    call: { onProgress?: (p: PredictProgress) => void; onStage?: OnStage; signal?: AbortSignal; outOfRange?: OutOfRangePolicy } = {},
  ): Promise<PrivatePrediction> {
    const t0 = performance.now();
    if (rows.length === 0) fail('BAD_DATA', 'rows is empty: give at least one row');
    if (rows.length > MAX_ROWS_PER_CALL) fail('BAD_DATA', `${rows.length} rows in one call; at most ${MAX_ROWS_PER_CALL}`);
    const spec = this.rowSpec();
    const given = this.batchOf(rows, spec);
    const { input, inputRange } = this.view;
    const { batch, kept, outOfRange } = applyRangePolicy({ calibrated: inputRange, featureNames: input.featureNames, shape: input.shape }, given, call.outOfRange ?? DEFAULT_OUT_OF_RANGE);
    const names = this.view.outputs.map((o) => o.name);
    if (batch.rows === 0) {
      // Every row refused: nothing to encrypt, each row has its reason.
      return { outputs: outputsForAllRows({}, names, kept, rows.length), outOfRange, evaluations: 0, verification: 'nothing was sent to the server', timings: { encrypt_ms: 0, server_ms: 0, decrypt_ms: 0, total_ms: round(performance.now() - t0) } };
    }
    const tensor = batchTensor(batch, spec);
    const samples = runPrologue(clientSplitOf(this.view), tensor);
    checkEncodable(this.fhe.model, samples);

    const per = this.description.samples_per_evaluation;
    const totalEvaluations = Math.ceil(samples.length / per);
    let keysId = await this.ensureKeys(false, call.onStage);
    await call.onStage?.(`encrypting ${rows.length} row${rows.length === 1 ? '' : 's'}`);
    let encryptMs = 0;
    let serverMs = 0;
    let decryptMs = 0;
    let evaluationsDone = 0;
    let samplesPerRequest = per;
    if (this.fhe.model.segments && samples.length > per) {
      // With client steps every request costs a round trip per step, so the first one is sized by
      // the budget too (one evaluation encrypted once more to learn its bytes), not sent alone.
      const probe = this.fhe.encrypt(samples.slice(0, per));
      samplesPerRequest = Math.max(1, Math.floor(REQUEST_BYTES_BUDGET / probe.bytes.length)) * per;
    }
    const steps = { count: 0, ms: 0, bytes: 0 };
    const bodyOutputs: Float64Array[] = [];
    const verified: VerifiedRelease[] = [];
    for (let first = 0; first < samples.length; ) {
      let t = performance.now();
      const chunk = samples.slice(first, first + samplesPerRequest);
      const request = this.fhe.encrypt(chunk);
      encryptMs += performance.now() - t;
      t = performance.now();
      // With client steps each request's evaluations run once per segment: progress counts them all, segment after segment.
      const segments = this.fhe.model.segments?.length ?? 1;
      const base = evaluationsDone * segments;
      let segment = 0;
      const remoteCall = {
        signal: call.signal,
        onProgress: (done: number) => call.onProgress?.({ done: base + segment * request.evaluations + done, total: totalEvaluations * segments }),
        onSegment: (k: number) => void (segment = k),
      };
      const send = async (): Promise<{ result: Uint8Array; releases: VerifiedRelease[] }> => {
        // A fresh nonce per request: every log entry it gets must name it, so no earlier answer can stand in.
        const chainId = randomBytes(32).toString('hex');
        if (this.fhe.model.segments) return this.sendSegments(keysId, request.bytes, { ...remoteCall, chainId }, steps);
        const answer = await this.remote.predictWithReceipt(this.description.model, keysId, request.bytes, { ...remoteCall, chainId });
        // Nothing is decrypted from a result the log does not vouch for.
        const release = await this.verify(answer.receipt, { inputs: request.bytes, result: answer.result, keysId, modelHash: this.view.modelHash, chainId });
        return { result: answer.result, releases: [release] };
      };
      let answer: { result: Uint8Array; releases: VerifiedRelease[] };
      try {
        answer = await send();
      } catch (e) {
        // The server lost the keys (data dir wiped, another token): upload them again, once.
        if (!(e instanceof UnknownKeysError)) throw e;
        keysId = await this.ensureKeys(true, call.onStage);
        answer = await send();
      }
      const { result } = answer;
      verified.push(...answer.releases);
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
    const outputs = outputsForAllRows(rowOutputs(values, names, batch.rows), names, kept, rows.length);
    decryptMs += performance.now() - t;
    return {
      outputs,
      outOfRange,
      evaluations: totalEvaluations,
      verification: describeVerification(verified),
      timings: { encrypt_ms: round(encryptMs), server_ms: round(serverMs), decrypt_ms: round(decryptMs), total_ms: round(performance.now() - t0) },
      ...(this.fhe.model.segments ? { client_steps: { count: steps.count, ms: round(steps.ms), bytes: steps.bytes } } : {}),
    };
  }

  /**
   * A body with client steps, segment by segment: each answer before the last is the segment's
   * result masked by the server; it is decrypted, encrypted again for the next segment and sent
   * back with its step id. Every segment's log entry is verified before anything is decrypted
   * from it; the client can match the first entry's inputs (its own ciphertexts) and the last
   * one's result, not the ciphertexts in between, which the server masked and unmasked. Each
   * entry must name the request's chain id, come after the previous one, and (after a step)
   * record the masked result received and the ciphertexts sent back.
   */
  private async sendSegments(
    keysId: string,
    request: Uint8Array,
    call: { signal?: AbortSignal; onProgress: (done: number) => void; onSegment: (segment: number) => void; chainId: string },
    steps: { count: number; ms: number; bytes: number },
  ): Promise<{ result: Uint8Array; releases: VerifiedRelease[] }> {
    const releases: VerifiedRelease[] = [];
    const segments = this.fhe.model.segments?.length ?? 1;
    // What travels: ciphertexts to the server (with the step they answer), its answer back, and
    // the client step's two sides (logged with the segment they led to).
    type Hop = { readonly bytes: Uint8Array; readonly stepId?: string; readonly answer?: SegmentAnswer; readonly step?: { masked: Uint8Array; returned: Uint8Array } };
    const last = await runSegments<Hop>(segments, { bytes: request }, {
      evaluate: async (k, hop) => {
        call.onSegment(k);
        const answer = await this.remote.predictSegment(this.description.model, keysId, hop.bytes, hop.stepId, call);
        if (answer.segment !== k) fail('BAD_CIPHERTEXT', `the server evaluated segment ${answer.segment + 1} where segment ${k + 1} was asked`);
        if (k < segments - 1 ? !answer.step : !answer.result) fail('BAD_CIPHERTEXT', `the server answered segment ${k + 1} of ${segments} without ${k < segments - 1 ? 'a client step' : 'a result'}`);
        // Nothing is decrypted from an answer the log does not vouch for; the client matches the first entry's inputs
        // (its own ciphertexts), each step's masked and returned bytes, the chain id on every entry, and the last one's result.
        const after = releases.at(-1)?.index;
        const expect: ReleaseExpectation = {
          inputs: k === 0 ? request : null,
          result: answer.result ?? null,
          keysId,
          modelHash: this.view.modelHash,
          segment: k,
          chainId: call.chainId,
          ...(hop.step ? { step: hop.step } : {}),
          ...(after !== undefined ? { after } : {}),
        };
        releases.push(await this.verify(answer.receipt, expect));
        return { bytes: hop.bytes, answer };
      },
      clientStep: (k, hop) => {
        const { stepId, masked } = hop.answer!.step!;
        const t = performance.now();
        const fresh = this.fhe.clientStep(masked, k);
        steps.ms += performance.now() - t;
        steps.count++;
        steps.bytes += masked.length + fresh.length;
        return { bytes: fresh, stepId, step: { masked, returned: fresh } };
      },
    });
    return { result: last.answer!.result!, releases };
  }

  /** Check a receipt against this client's pins for the server (verify-result.ts), fetching consistency proofs from it. */
  private verify(receipt: SegmentAnswer['receipt'], expect: ReleaseExpectation): Promise<VerifiedRelease> {
    return verifyRelease(this.remote.options.url, this.pins, receipt, expect, (first, second) => this.remote.consistencyProof(first, second), this.trust);
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

/** The FHE client's model description, read off the client view (each segment's, for a body with client steps). */
export function clientModelOfView(v: ClientView): ClientModel {
  // The view's own fields describe its one circuit the way a SegmentView describes a segment.
  const of = (s: SegmentView): ClientModel => ({
    modelHash: v.modelHash,
    parameters: contextSpecOf(v.parameters),
    layout: s.layout.layout,
    slots: s.layout.slots,
    samplesPerCiphertext: s.layout.samplesPerCiphertext,
    inputSize: s.layout.inputSize,
    outputSize: s.layout.outputSize,
    inputs: s.layout.inputs,
    outputs: s.layout.outputs,
    inputLevel: s.inputCiphertext.level,
    inputScale: s.inputCiphertext.scale,
    results: s.results,
    rotationSteps: s.rotationSteps,
    needsRelin: s.needsRelin,
    outputPrecisionBits: v.parameters.expectedPrecisionBits,
  });
  if (!v.segments) return of(v);
  const models = v.segments.map(of);
  return bodyClientModel(models.map((m, i) => (i === 0 ? m : { ...m, step: stepFromView(v.segments![i]!, m, models[i - 1]!) })));
}

function size(spec: RowSpec): number {
  return spec.rowShape.reduce((a, b) => a * b, 1);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
