import { packSamples, samplesPerEvaluation, unpackOutputs } from '../../compiler/circuit/packing';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { fail } from '../../compiler/errors';
import { maxEncodable, type BackendContext, type ClientKeys, type FheBackend } from '../backends/backend';
import { stepKind } from '../../compiler/client-steps/table';
import { rescaleCoefficients } from '../../compiler/client-steps/coefficient-mask';
import { readEnvelope, writeEnvelope } from '../wire/envelope';
import { packingCircuitOf, type ClientModel, type ClientSideStep } from './client-model';

/** An evaluation-key bundle ready to upload, named by its content hash. */
export interface EvaluationKeyBundle {
  /** Envelope (kind eval-keys) with two parts: relinearization keys, Galois keys (either may be empty). */
  readonly bytes: Uint8Array;
  /** SHA-256 (hex) of `bytes`: the id the server stores the bundle under. */
  readonly keysId: string;
  readonly relinBytes: number;
  readonly galoisBytes: number;
}

/** An encrypted request: one envelope, plus what the client must remember to read the answer. */
export interface EncryptedRequest {
  readonly bytes: Uint8Array;
  /** Samples packed into it (needed to unpack the result; never sent). */
  readonly samples: number;
  /** Circuit evaluations the server will run (1 per sample in vector layout, per N/2 samples in batch). */
  readonly evaluations: number;
}

/**
 * The client side of encrypted inference. It owns the secret key: nothing it returns contains
 * the key except `exportSecretKey`, meant for the client's own (encrypted) keystore.
 * Inputs are body inputs (the prologue already applied); outputs are body outputs (the epilogue
 * still to run), rounded to `model.outputPrecisionBits` fractional bits. The backend (SEAL,
 * simulation, or any other implementation of backends/backend.ts) holds the key and does the
 * encryption.
 */
export class FheClient {
  private disposed = false;

  private constructor(
    readonly model: ClientModel,
    private readonly ctx: BackendContext,
    private readonly keys: ClientKeys,
  ) {}

  /** A client with a fresh secret key, or the one saved by `exportSecretKey`. */
  static create(backend: FheBackend, model: ClientModel, savedSecretKey?: Uint8Array): Promise<FheClient> {
    return FheClient.withKeys(backend, model, (ctx) => ctx.clientKeys(savedSecretKey));
  }

  /** A client whose secret key is derived from `seed`: the same seed gives the same key on any machine (see recovery-phrase.ts). */
  static derive(backend: FheBackend, model: ClientModel, seed: Uint8Array): Promise<FheClient> {
    return FheClient.withKeys(backend, model, (ctx) => ctx.derivedClientKeys(seed));
  }

  /** A context for the model's parameters with the keys `keysOf` makes in it; the context is released if that fails. */
  private static async withKeys(backend: FheBackend, model: ClientModel, keysOf: (ctx: BackendContext) => ClientKeys): Promise<FheClient> {
    const ctx = await backend.createContext(model.parameters);
    try {
      return new FheClient(model, ctx, keysOf(ctx));
    } catch (e) {
      ctx.dispose();
      throw e;
    }
  }

  exportSecretKey(): Uint8Array {
    this.alive();
    return this.keys.exportSecretKey();
  }

  /**
   * Evaluation keys for this model: relinearization keys only if the circuit multiplies
   * ciphertexts, Galois keys for exactly its rotation steps. Each call makes a new bundle
   * (key generation is randomized), so callers keep and reuse the one they uploaded.
   */
  evaluationKeys(): EvaluationKeyBundle {
    this.alive();
    const evaluationKeys = this.keys.evaluationKeys({
      relin: this.model.needsRelin,
      rotationSteps: this.model.rotationSteps,
    });
    const relin = evaluationKeys.relin ?? new Uint8Array(0);
    const galois = evaluationKeys.galois ?? new Uint8Array(0);
    const bytes = writeEnvelope({
      kind: 'eval-keys',
      modelHash: this.model.modelHash,
      parameterId: this.model.parameters.parameterId,
      parts: [relin, galois],
    });
    return { bytes, keysId: sha256Hex(bytes), relinBytes: relin.length, galoisBytes: galois.length };
  }

  /** Encrypt samples (each of length `model.inputSize`) per the model's layout. */
  encrypt(samples: readonly Float64Array[]): EncryptedRequest {
    this.alive();
    if (samples.length === 0) fail('BAD_DATA', 'no rows to encrypt');
    checkEncodable(this.model, samples);
    const groups = packSamples(packingCircuitOf(this.model), samples);
    const parts: Uint8Array[] = [];
    for (const group of groups) {
      for (const slots of group.inputs) parts.push(this.keys.encrypt(slots, this.model.inputLevel, this.model.inputScale));
    }
    const bytes = writeEnvelope({ kind: 'ciphertexts', modelHash: this.model.modelHash, parameterId: this.model.parameters.parameterId, parts });
    return { bytes, samples: samples.length, evaluations: groups.length };
  }

  /** Decrypt a result envelope for a request of `samples` samples into one body-output vector per sample. */
  decrypt(result: Uint8Array, samples: number): Float64Array[] {
    this.alive();
    const { model } = this;
    const perEvaluation = samplesPerEvaluation(model);
    const evaluations = Math.ceil(samples / perEvaluation);
    const env = readEnvelope(result, {
      kind: 'result',
      modelHash: model.modelHash,
      parameterId: model.parameters.parameterId,
      count: evaluations * model.outputs.length,
    });
    const circuit = packingCircuitOf(model);
    const rows: Float64Array[] = [];
    for (let g = 0; g < evaluations; g++) {
      const slotVectors = model.outputs.map((_, k) => {
        const index = g * model.outputs.length + k;
        return this.keys.decrypt(env.parts[index]!, { ...model.results[k]!, label: `result ciphertext ${index}` });
      });
      const inGroup = Math.min(perEvaluation, samples - g * perEvaluation);
      for (const row of unpackOutputs(circuit, slotVectors, inGroup)) rows.push(roundTo(row, model.outputPrecisionBits));
    }
    return rows;
  }

  /**
   * The client step after segment `segment` of a body with client steps: decrypts the masked
   * result (compiler/client-steps/), applies the step's operation and encrypts the outcome fresh
   * as the next segment's inputs. What goes back is ciphertext only, never a decryption.
   */
  clientStep(masked: Uint8Array, segment: number): Uint8Array {
    const { step } = this.stepBefore(segment + 1);
    switch (stepKind(step.knows.kind).domain) {
      case 'slots':
        return this.encryptStep(this.decryptStep(masked, segment), segment + 1);
      case 'coefficients':
        return this.carryStep(masked, segment);
    }
  }

  /**
   * A coefficient-masked refresh (compiler/client-steps/coefficient-refresh.ts): each masked
   * result's plaintext polynomial, exactly (its integer coefficients, never decoded), rescaled
   * once to the next segment's input scale and encrypted fresh at the top level. Whatever the
   * coefficients are, the client answers the same way (they are reduced mod the primes, never refused).
   */
  private carryStep(masked: Uint8Array, segment: number): Uint8Array {
    return this.encryptStepCoefficients(this.decryptStepCoefficients(masked, segment), segment + 1);
  }

  /** A coefficient-masked refresh's polynomials (one per result ciphertext, at the masked scale), rescaled once to segment `segment`'s input scale and encrypted fresh as its inputs. */
  encryptStepCoefficients(polynomials: readonly (readonly bigint[])[], segment: number): Uint8Array {
    this.alive();
    const { model: to, step } = this.stepBefore(segment);
    const per = this.segment(segment - 1).outputs.length;
    if (to.inputs.length !== per) fail('BAD_ARTIFACT', `a coefficient-masked refresh carries ${per} ciphertexts to a segment that reads ${to.inputs.length}`);
    const parts = polynomials.map((coefficients, i) =>
      this.keys.encryptCoefficients(rescaleCoefficients(coefficients, step.masked[i % per]!.scale, to.inputScale), step.freshLevel, to.inputScale),
    );
    return writeEnvelope({ kind: 'ciphertexts', modelHash: this.model.modelHash, parameterId: this.model.parameters.parameterId, parts });
  }

  /** What the client sees at a coefficient-masked refresh: each masked result's plaintext polynomial, its N integer coefficients (centered mod the level's modulus). */
  decryptStepCoefficients(masked: Uint8Array, segment: number): bigint[][] {
    this.alive();
    const from = this.segment(segment);
    const { step } = this.stepBefore(segment + 1);
    const env = readEnvelope(masked, { kind: 'result', modelHash: this.model.modelHash, parameterId: this.model.parameters.parameterId });
    const per = from.outputs.length;
    if (env.parts.length % per !== 0) fail('BAD_CIPHERTEXT', `${env.parts.length} masked ciphertexts, not a multiple of the segment's ${per} outputs`);
    return env.parts.map((part, i) => this.keys.decryptCoefficients(part, { ...step.masked[i % per]!, label: `masked ciphertext ${i}` }));
  }

  /**
   * The masked slot vectors of a client step, one per result ciphertext (what the client sees;
   * of a coefficient-masked refresh, the masked polynomial decoded, which `clientStep` never does).
   */
  decryptStep(masked: Uint8Array, segment: number): Float64Array[] {
    this.alive();
    const from = this.segment(segment);
    const { step } = this.stepBefore(segment + 1);
    const env = readEnvelope(masked, { kind: 'result', modelHash: this.model.modelHash, parameterId: this.model.parameters.parameterId });
    if (env.parts.length % from.outputs.length !== 0) fail('BAD_CIPHERTEXT', `${env.parts.length} masked ciphertexts, not a multiple of the segment's ${from.outputs.length} outputs`);
    return env.parts.map((part, i) => this.keys.decrypt(part, { ...step.masked[i % from.outputs.length]!, label: `masked ciphertext ${i}` }));
  }

  /** The step's operation on a client step's slot vectors, encrypted fresh as segment `segment`'s inputs. */
  encryptStep(slotVectors: readonly Float64Array[], segment: number): Uint8Array {
    this.alive();
    const from = packingCircuitOf(this.segment(segment - 1));
    const { model: to, step } = this.stepBefore(segment);
    const operation = stepKind(step.knows.kind);
    const perOut = from.outputs.length;
    const parts: Uint8Array[] = [];
    for (let g = 0; g < slotVectors.length / perOut; g++) {
      const group = slotVectors.slice(g * perOut, (g + 1) * perOut);
      const bound = maxEncodable(this.model.parameters.coeffModulusBits, step.freshLevel, to.inputScale);
      for (const slots of operation.clientOperation(from, packingCircuitOf(to), step.knows, group)) parts.push(this.keys.encrypt(clampTo(slots, bound), step.freshLevel, to.inputScale));
    }
    return writeEnvelope({ kind: 'ciphertexts', modelHash: this.model.modelHash, parameterId: this.model.parameters.parameterId, parts });
  }

  private segment(k: number): ClientModel {
    const s = this.model.segments?.[k];
    if (!s) fail('BAD_ARGUMENT', `this model has no segment ${k + 1} (no client step there)`);
    return s;
  }

  private stepBefore(k: number): { model: ClientModel; step: ClientSideStep } {
    const model = this.segment(k);
    if (!model.step) fail('BAD_ARGUMENT', `this model has no client step before segment ${k + 1}`);
    return { model, step: model.step };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.keys.dispose();
    this.ctx.dispose();
  }

  private alive(): void {
    if (this.disposed) fail('BAD_ARGUMENT', 'this FHE client was disposed');
  }
}

/**
 * Refuses a sample holding a value the model's CKKS parameters cannot encode, naming its row
 * (`firstRow` + index, 1-based) and position, before any of it reaches SEAL.
 */
export function checkEncodable(model: Pick<ClientModel, 'parameters' | 'inputLevel' | 'inputScale'>, samples: readonly Float64Array[], firstRow = 0): void {
  const bound = maxEncodable(model.parameters.coeffModulusBits, model.inputLevel, model.inputScale);
  samples.forEach((sample, i) => {
    sample.forEach((v, j) => {
      if (!(Math.abs(v) <= bound)) {
        fail('BAD_DATA', `row ${firstRow + i + 1}: value ${j + 1} of the encrypted input (after the client-side steps) is ${v}, beyond ±${bound.toExponential(2)}, the most this model's CKKS parameters can encode`);
      }
    });
  });
}

/**
 * A client step's values, each within ±bound (non-finite ones 0): what a server made the client
 * decrypt must never decide whether the client answers (a refusal would be a reaction oracle on
 * values the client does not return), and an honest mask stays far inside the bound.
 */
function clampTo(values: Float64Array, bound: number): Float64Array {
  return values.map((v) => (Number.isFinite(v) ? Math.min(bound, Math.max(-bound, v)) : 0));
}

/** Round to a multiple of 2^−bits: what the client releases carries no decryption-noise bits below that. */
export function roundTo(values: Float64Array, bits: number): Float64Array {
  const k = 2 ** bits;
  return values.map((v) => Math.round(v * k) / k);
}
