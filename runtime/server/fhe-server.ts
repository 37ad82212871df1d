import type { Circuit } from '../../compiler/circuit/ir';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { fail } from '../../compiler/errors';
import type { CkksParameters } from '../../compiler/params/types';
import { contextSpecOf, type BackendContext, type ContextSpec, type FheBackend, type LoadedCircuit, type LoadedEvaluationKeys } from '../backends/backend';
import { bodyCircuits, lastCircuit } from '../../compiler/artifact/segments';
import type { SegmentedBody } from '../../compiler/artifact/types';
import { floodResults } from './flood-results';
import { maskResults, unmaskInputs } from './step-masks';
import { IN_PROCESS, StepStore, type PendingStep, type StepOwner } from './step-store';
import { clientStepBefore, stepBounds } from '../../compiler/client-steps/table';
import { peekEnvelopeModel, readEnvelope, writeEnvelope } from '../wire/envelope';
import { inLanes } from '../lanes';

/** What the server needs of a compiled model: the circuit (with its constants), parameters, hash; with refresh, the later segments and the mask. */
export interface ServerModel {
  readonly modelHash: string;
  readonly parameters: ContextSpec;
  readonly circuit: Circuit;
  readonly refresh?: SegmentedBody;
}

export function serverModelOf(
  circuit: Circuit,
  params: Pick<CkksParameters, 'polyModulusDegree' | 'coeffModulusBits' | 'primes'>,
  modelHash: string,
  refresh?: SegmentedBody,
): ServerModel {
  return { modelHash, parameters: contextSpecOf(params), circuit, ...(refresh ? { refresh } : {}) };
}

/** A segment's result with the mask added, for the client step, and the id the fresh ciphertexts come back under. */
export interface MaskedResult {
  readonly bytes: Uint8Array;
  readonly stepId: string;
}

export interface ServerLimits {
  /** Most circuit evaluations one request may ask for (batch: N/2 samples each; vector: samples per ciphertext). */
  readonly maxEvaluationsPerRequest: number;
}

const DEFAULT_LIMITS: ServerLimits = { maxEvaluationsPerRequest: 4096 };

interface LoadedModel {
  readonly model: ServerModel;
  readonly ctx: BackendContext;
  /** One per segment (one for a body without refresh). */
  readonly circuits: readonly LoadedCircuit[];
}

interface StoredKeys {
  readonly modelHash: string;
  /** Loaded into each segment's circuit. */
  readonly keys: readonly LoadedEvaluationKeys[];
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
    /** The client steps waiting for an answer; a server rebuilt after an engine failure takes over its predecessor's. */
    readonly steps: StepStore = new StepStore(),
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Load (or find already loaded) a model; its id is its hash. */
  async loadModel(model: ServerModel): Promise<string> {
    const id = model.modelHash.toLowerCase();
    if (this.models.has(id)) return id;
    const ctx = await this.backend.createContext(model.parameters);
    const circuits: LoadedCircuit[] = [];
    try {
      for (const c of bodyCircuits(model)) circuits.push(ctx.loadCircuit(c));
      this.models.set(id, { model, ctx, circuits });
    } catch (e) {
      for (const c of circuits) c.dispose();
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
    const bundle = { relin: relin!.length ? relin! : null, galois: galois!.length ? galois! : null };
    const keys: LoadedEvaluationKeys[] = [];
    try {
      for (const c of loaded.circuits) keys.push(c.loadEvaluationKeys(bundle));
    } catch (e) {
      for (const k of keys) k.dispose();
      throw e;
    }
    this.keys.set(keysId, { modelHash, keys });
    return keysId;
  }

  hasKeys(keysId: string): boolean {
    return this.keys.has(keysId);
  }

  unloadKeys(keysId: string): void {
    for (const k of this.keys.get(keysId)?.keys ?? []) k.dispose();
    this.keys.delete(keysId);
  }

  /** Circuit evaluations the backend runs at once. */
  get concurrency(): number {
    return this.backend.concurrency;
  }

  /**
   * Evaluate an envelope of input ciphertexts (its evaluations `concurrency` at a time); returns the result envelope. A refreshed body runs
   * one `segment` per call: segment 0 takes the client's encrypted inputs, each later one the
   * ciphertexts `unmaskStep` returned.
   */
  async evaluate(modelId: string, keysId: string, request: Uint8Array, segment = 0): Promise<Uint8Array> {
    const loaded = this.loaded(modelId);
    const circuit = bodyCircuits(loaded.model)[segment];
    const loadedCircuit = loaded.circuits[segment];
    if (!circuit || !loadedCircuit) fail('BAD_ARGUMENT', `model ${modelId.slice(0, 12)}… has no segment ${segment + 1}`);
    const stored = this.keys.get(keysId);
    if (!stored) fail('BAD_ARGUMENT', `no evaluation keys ${keysId} are loaded; upload them first`);
    if (stored.modelHash !== loaded.model.modelHash.toLowerCase()) {
      fail('BAD_CIPHERTEXT', `evaluation keys ${keysId.slice(0, 12)}… were made for another model`);
    }
    const { model } = loaded;
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
      loadedCircuit.execute(env.parts.slice(g * perEvaluation, (g + 1) * perEvaluation), stored.keys[segment]!, g * perEvaluation),
    );
    return writeEnvelope({ kind: 'result', modelHash: model.modelHash, parameterId: model.parameters.parameterId, parts: results.flat() });
  }

  /**
   * The first half of a client step: segment `segment`'s result envelope under a fresh mask of
   * the step's kind (compiler/client-steps/), and the id the answer must name. Only `owner` may
   * answer it.
   */
  async maskStep(modelId: string, result: Uint8Array, segment: number, owner: StepOwner = IN_PROCESS, chainId?: string): Promise<MaskedResult> {
    const loaded = this.loaded(modelId);
    const { model } = loaded;
    const circuits = bodyCircuits(model);
    if (!model.refresh || segment < 0 || segment >= circuits.length - 1) fail('BAD_ARGUMENT', `model ${modelId.slice(0, 12)}… has no client step after segment ${segment + 1}`);
    const env = readEnvelope(result, { kind: 'result', modelHash: model.modelHash, parameterId: model.parameters.parameterId });
    const step = clientStepBefore(model.refresh.segments[segment]!);
    const segments = { from: circuits[segment]!, to: circuits[segment + 1]!, top: circuits[0]! };
    const masked = await maskResults(loaded.ctx, step, segments, stepBounds(model.refresh), env.parts);
    const bytes = writeEnvelope({ kind: 'result', modelHash: model.modelHash, parameterId: model.parameters.parameterId, parts: masked.parts });
    const chain = chainId !== undefined ? { chainId } : {};
    const stepId = this.steps.put({ owner, modelId: modelId.toLowerCase(), segment, unmask: masked.unmask, ...chain, maskedSha256: sha256Hex(bytes) });
    return { bytes, stepId };
  }

  /**
   * The second half: the client's fresh ciphertexts with the mask removed, ready for `evaluate`
   * on `segment`. An answer that is not the step's (another owner, a malformed envelope, the
   * wrong count) is refused before the step is used up, so the right answer may still come.
   */
  async unmaskStep(stepId: string, fresh: Uint8Array, owner: StepOwner = IN_PROCESS): Promise<{ bytes: Uint8Array; segment: number }> {
    const pending = this.steps.get(stepId, owner);
    const loaded = this.loaded(pending.modelId);
    const { model } = loaded;
    const next = bodyCircuits(model)[pending.segment + 1]!;
    const env = readEnvelope(fresh, { kind: 'ciphertexts', modelHash: model.modelHash, parameterId: model.parameters.parameterId });
    const want = pending.unmask.length * next.inputs.length;
    if (env.parts.length !== want) fail('BAD_CIPHERTEXT', `the client step sent ${env.parts.length} ciphertexts, the next segment reads ${want}`);
    this.steps.take(stepId, owner);
    const parts = await unmaskInputs(loaded.ctx, pending.unmask, next.inputs.length, env.parts);
    return { bytes: writeEnvelope({ kind: 'ciphertexts', modelHash: model.modelHash, parameterId: model.parameters.parameterId, parts }), segment: pending.segment + 1 };
  }

  /** The step `stepId` an answer feeds, if `owner` may give it; the step keeps waiting. */
  pendingStep(stepId: string, owner: StepOwner): PendingStep {
    return this.steps.get(stepId, owner);
  }

  /** A result envelope of the body's last segment with every slot flooded by noise uniform in ±width (flood-results.ts). */
  async floodResult(modelId: string, result: Uint8Array, width: number): Promise<Uint8Array> {
    const { model, ctx } = this.loaded(modelId);
    const header = { modelHash: model.modelHash, parameterId: model.parameters.parameterId };
    const env = readEnvelope(result, { kind: 'result', ...header });
    return writeEnvelope({ kind: 'result', ...header, parts: await floodResults(ctx, lastCircuit(model), env.parts, width) });
  }

  /** Client steps waiting for their answer. */
  pendingSteps(): number {
    return this.steps.size;
  }

  /** Free everything the backend holds for this server. */
  dispose(): void {
    for (const { keys } of this.keys.values()) for (const k of keys) k.dispose();
    this.keys.clear();
    this.steps.clear();
    for (const { ctx, circuits } of this.models.values()) {
      for (const c of circuits) c.dispose();
      ctx.dispose();
    }
    this.models.clear();
  }

  private loaded(modelId: string): LoadedModel {
    const loaded = this.models.get(modelId.toLowerCase());
    if (!loaded) fail('BAD_ARGUMENT', `no model ${modelId} is loaded`);
    return loaded;
  }
}
