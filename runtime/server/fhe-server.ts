import type { Circuit } from '../../compiler/circuit/ir';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { fail } from '../../compiler/errors';
import type { CkksParameters } from '../../compiler/params/types';
import { contextSpecOf, type BackendContext, type ContextSpec, type FheBackend, type LoadedCircuit, type LoadedEvaluationKeys } from '../backends/backend';
import { peekEnvelopeModel, readEnvelope, writeEnvelope } from '../wire/envelope';
import { inLanes } from '../lanes';

/** What the server needs of a compiled model: the circuit (with its constants), parameters, hash. */
export interface ServerModel {
  readonly modelHash: string;
  readonly parameters: ContextSpec;
  readonly circuit: Circuit;
}

export function serverModelOf(circuit: Circuit, params: Pick<CkksParameters, 'polyModulusDegree' | 'coeffModulusBits' | 'primes'>, modelHash: string): ServerModel {
  return { modelHash, parameters: contextSpecOf(params), circuit };
}

export interface ServerLimits {
  /** Most circuit evaluations one request may ask for (batch: N/2 samples each; vector: samples per ciphertext). */
  readonly maxEvaluationsPerRequest: number;
}

const DEFAULT_LIMITS: ServerLimits = { maxEvaluationsPerRequest: 4096 };

interface LoadedModel {
  readonly model: ServerModel;
  readonly ctx: BackendContext;
  readonly circuit: LoadedCircuit;
}

interface StoredKeys {
  readonly modelHash: string;
  readonly keys: LoadedEvaluationKeys;
}

/**
 * The server side of encrypted inference: it holds compiled models and evaluation keys, and turns
 * an envelope of input ciphertexts into an envelope of result ciphertexts. Nothing in its API
 * takes a secret key or plaintext samples; it cannot decrypt what it computes. The backend
 * (SEAL, simulation, or any other implementation of backends/backend.ts) does the computing.
 */
export class FheServer {
  private readonly models = new Map<string, LoadedModel>();
  private readonly keys = new Map<string, StoredKeys>();
  private readonly limits: ServerLimits;

  constructor(
    private readonly backend: FheBackend,
    limits: Partial<ServerLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Load (or find already loaded) a model; its id is its hash. */
  async loadModel(model: ServerModel): Promise<string> {
    const id = model.modelHash.toLowerCase();
    if (this.models.has(id)) return id;
    const ctx = await this.backend.createContext(model.parameters);
    try {
      this.models.set(id, { model, ctx, circuit: ctx.loadCircuit(model.circuit) });
    } catch (e) {
      ctx.dispose();
      throw e;
    }
    return id;
  }

  /**
   * Store an evaluation-key envelope for the model it was made for; returns its id, the SHA-256
   * of the bytes. Loading the same bytes again returns the same id without reloading.
   */
  loadKeys(bytes: Uint8Array): string {
    const keysId = sha256Hex(bytes);
    if (this.keys.has(keysId)) return keysId;
    const modelHash = peekEnvelopeModel(bytes);
    const loaded = this.models.get(modelHash);
    if (!loaded) fail('BAD_CIPHERTEXT', `evaluation keys are for model ${modelHash.slice(0, 12)}…, which this server has not loaded`);
    const env = readEnvelope(bytes, {
      kind: 'eval-keys',
      modelHash: loaded.model.modelHash,
      parameterId: loaded.model.parameters.parameterId,
      count: 2,
    });
    const [relin, galois] = env.parts;
    const keys = loaded.circuit.loadEvaluationKeys({ relin: relin!.length ? relin! : null, galois: galois!.length ? galois! : null });
    this.keys.set(keysId, { modelHash, keys });
    return keysId;
  }

  hasKeys(keysId: string): boolean {
    return this.keys.has(keysId);
  }

  unloadKeys(keysId: string): void {
    this.keys.get(keysId)?.keys.dispose();
    this.keys.delete(keysId);
  }

  /** Circuit evaluations the backend runs at once. */
  get concurrency(): number {
    return this.backend.concurrency;
  }

  /** Evaluate an envelope of input ciphertexts (its evaluations `concurrency` at a time); returns the result envelope. */
  async evaluate(modelId: string, keysId: string, request: Uint8Array): Promise<Uint8Array> {
    const loaded = this.models.get(modelId.toLowerCase());
    if (!loaded) fail('BAD_ARGUMENT', `no model ${modelId} is loaded`);
    const stored = this.keys.get(keysId);
    if (!stored) fail('BAD_ARGUMENT', `no evaluation keys ${keysId} are loaded; upload them first`);
    if (stored.modelHash !== loaded.model.modelHash.toLowerCase()) {
      fail('BAD_CIPHERTEXT', `evaluation keys ${keysId.slice(0, 12)}… were made for another model`);
    }
    const { model } = loaded;
    const { circuit } = model;
    const env = readEnvelope(request, { kind: 'ciphertexts', modelHash: model.modelHash, parameterId: model.parameters.parameterId });
    const perEvaluation = circuit.inputs.length;
    if (env.parts.length === 0 || env.parts.length % perEvaluation !== 0) {
      fail('BAD_CIPHERTEXT', `encrypted input holds ${env.parts.length} ciphertexts, not a multiple of the model's ${perEvaluation} inputs`);
    }
    const evaluations = env.parts.length / perEvaluation;
    if (evaluations > this.limits.maxEvaluationsPerRequest) {
      fail('BAD_CIPHERTEXT', `encrypted input asks for ${evaluations} evaluations, the limit is ${this.limits.maxEvaluationsPerRequest}`);
    }

    const results = await inLanes(evaluations, this.concurrency, (g) =>
      loaded.circuit.execute(env.parts.slice(g * perEvaluation, (g + 1) * perEvaluation), stored.keys, g * perEvaluation),
    );
    return writeEnvelope({ kind: 'result', modelHash: model.modelHash, parameterId: model.parameters.parameterId, parts: results.flat() });
  }

  /** Free everything the backend holds for this server. */
  dispose(): void {
    for (const { keys } of this.keys.values()) keys.dispose();
    this.keys.clear();
    for (const { ctx, circuit } of this.models.values()) {
      circuit.dispose();
      ctx.dispose();
    }
    this.models.clear();
  }
}
