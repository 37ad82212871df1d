import { fail } from '../../compiler/errors';
import { peekEnvelopeModel, readEnvelope } from '../wire/envelope';
import type { FheBackend } from '../backends/backend';
import type { JobRequest } from '../network/job-runner';
import { ServerNetwork, type NetworkOptions } from '../network/server-network';
import { FheServer } from '../server/fhe-server';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { evaluateRequest } from '../service/evaluate-request';
import { EvalKeyStorage } from '../service/key-storage';
import { QueryBudget } from './query-budget';
import { floodWidth } from '../server/flood-results';
import { clientStepCount } from '../../compiler/artifact/segments';
import { checkDistinctNames, refuseOverHeap, type ServedModel } from '../service/served-model';

/**
 * Limits of `deeppowers serve`. Ciphertexts travel as base64 inside JSON-RPC messages, so the
 * MCP body limit is raised well above the SDK's 4 MiB default (a batch of N = 16384 ciphertexts
 * is several MiB); evaluation keys, tens to hundreds of MB, never travel through JSON-RPC over
 * HTTP but through `PUT /keys/<sha256>`, streamed to disk.
 */
export interface ServiceLimits {
  /** Predictions in flight at once (queued between evaluation groups or running); more get "server busy". */
  readonly maxConcurrency: number;
  /** Decoded bytes of one request's ciphertext envelope. */
  readonly maxCiphertextBytes: number;
  /** Circuit evaluations one request may ask for. */
  readonly maxEvaluationsPerRequest: number;
  /** Bytes of one evaluation-key bundle (PUT or chunked upload). */
  readonly maxKeyBytes: number;
  /** Decoded bytes of one `upload_keys` chunk (stdio messages are capped at `maxMessageBytes`). */
  readonly maxChunkBytes: number;
  /** Evaluation-key sets kept deserialized in memory; the least recently used beyond this are freed (and reread from disk when needed). */
  readonly maxLoadedKeySets: number;
  /** Largest JSON-RPC message (HTTP POST body or stdio line) read. */
  readonly maxMessageBytes: number;
  /** Predictions one tenant may have in flight: below maxConcurrency, so one tenant never holds every slot. */
  readonly maxConcurrencyPerTenant: number;
  /** Evaluation keys one tenant may store, in bytes and bundles, and what happens beyond: LRU eviction or refusal. */
  readonly tenantKeyBytes: number;
  readonly tenantKeyBundles: number;
  readonly keyQuotaPolicy: 'evict' | 'refuse';
  /** Bytes of MCP request bodies held and not yet answered, overall and per tenant (HTTP). */
  readonly maxBytesInFlight: number;
  readonly maxBytesInFlightPerTenant: number;
  /** Rows of new predictions one tenant may send one model per UTC day (see query-budget.ts); null: no limit. */
  readonly queryBudget: number | null;
  /** Rows one tenant may send back at one model's client steps per UTC day; null: no limit. */
  readonly clientStepBudget: number | null;
  /** Refuse to serve a model with client steps: a dishonest client can read out the layers after a step. */
  readonly modelConfidential: boolean;
  /** Flood every released result with noise of 2^floodBits × the model's noise bound (flood-results.ts); null: none. */
  readonly floodBits: number | null;
}

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: ServiceLimits = {
  maxConcurrency: 4,
  maxCiphertextBytes: 32 * MiB,
  maxEvaluationsPerRequest: 4096,
  maxKeyBytes: 1024 * MiB,
  maxChunkBytes: 4 * MiB,
  maxLoadedKeySets: 8,
  maxMessageBytes: 64 * MiB,
  maxConcurrencyPerTenant: 2,
  tenantKeyBytes: 2048 * MiB,
  tenantKeyBundles: 16,
  keyQuotaPolicy: 'evict',
  maxBytesInFlight: 256 * MiB,
  maxBytesInFlightPerTenant: 128 * MiB,
  queryBudget: null,
  clientStepBudget: null,
  modelConfidential: false,
  floodBits: null,
};

/** The tenant of stdio sessions (one local user) and of `--insecure-no-auth` HTTP. */
export const LOCAL_TENANT = 'local';

interface LoadedKeySet {
  pins: number;
}

/**
 * State shared by every MCP session of one `deeppowers serve`: the loaded models, the FHE
 * server (on the backend given), the key files on disk and the concurrency budget. Sessions (one McpServer each) are
 * cheap views onto it for one tenant.
 */
export class DeepPowersService {
  readonly models: ReadonlyMap<string, ServedModel>;
  readonly keys: EvalKeyStorage;
  /** Tasks, the transparency log and where jobs run (in process, or on compute nodes through a queue). */
  readonly network: ServerNetwork;
  /** Rows each tenant has sent each model today, against `limits.queryBudget` and `limits.clientStepBudget`. */
  readonly budget: QueryBudget;
  private readonly byHash = new Map<string, ServedModel>();
  /** Loaded key sets in least-recently-used-first order (Map keeps insertion order). */
  private readonly loaded = new Map<string, LoadedKeySet>();
  private running = 0;
  private readonly runningByTenant = new Map<string, number>();
  /** Engine generation the current FheServer's contexts were made under (see FheBackend.engineStale). */
  private generation: number;
  private rebuilding: Promise<void> | undefined;

  private constructor(
    private readonly backend: FheBackend,
    models: readonly ServedModel[],
    private current: FheServer,
    dataDir: string,
    readonly limits: ServiceLimits,
    network: NetworkOptions,
    now: () => number,
  ) {
    this.budget = new QueryBudget({ queryRowsPerDay: limits.queryBudget ?? undefined, clientStepRowsPerDay: limits.clientStepBudget ?? undefined }, now);
    this.generation = backend.engineGeneration();
    this.models = new Map(models.map((m) => [m.name, m]));
    for (const m of models) this.byHash.set(m.server.modelHash.toLowerCase(), m);
    this.keys = new EvalKeyStorage(
      dataDir,
      { maxBytes: limits.maxKeyBytes, quota: { maxBytes: limits.tenantKeyBytes, maxBundles: limits.tenantKeyBundles, policy: limits.keyQuotaPolicy } },
      (bytes) => this.checkKeyBundle(bytes),
    );
    this.network = new ServerNetwork(
      dataDir,
      (request) => this.evaluateLocally(request),
      (tenant, keysId) => this.keys.read(tenant, keysId),
      network,
    );
  }

  static async create(
    backend: FheBackend,
    models: readonly ServedModel[],
    dataDir: string,
    limits: Partial<ServiceLimits> = {},
    network: NetworkOptions = {},
    /** The clock the query budgets count days by (milliseconds since the epoch). */
    now: () => number = Date.now,
  ): Promise<DeepPowersService> {
    if (models.length === 0) fail('BAD_ARGUMENT', 'no compiled models to serve');
    checkDistinctNames(models);
    refuseOverHeap(backend, models);
    const all = { ...DEFAULT_LIMITS, ...limits };
    if (all.floodBits !== null) for (const m of models) floodWidth(all.floodBits, m.noiseBound ?? NaN);
    if (all.modelConfidential) {
      const stepped = models.filter((m) => clientStepCount(m.server) > 0);
      if (stepped.length > 0) {
        fail(
          'BAD_ARGUMENT',
          `--model-confidential: ${stepped.map((m) => m.name).join(', ')} ${stepped.length === 1 ? 'has' : 'have'} client steps, where a dishonest client can read out the weights of the layers after the step; ` +
            'recompile without them (--refresh off, no --on-client; a max pool is a client step) or serve without --model-confidential',
        );
      }
    }
    const fhe = new FheServer(backend, { maxEvaluationsPerRequest: all.maxEvaluationsPerRequest });
    try {
      for (const m of models) await fhe.loadModel(m.server);
      return new DeepPowersService(backend, models, fhe, dataDir, all, network, now);
    } catch (e) {
      fhe.dispose();
      throw e;
    }
  }

  /** The SEAL server evaluations run on (a fresh one after a WebAssembly trap). */
  get fhe(): FheServer {
    return this.current;
  }

  /**
   * A slot for one prediction of `tenant`, or the reason there is none: `maxConcurrency` in flight
   * overall, or the tenant's own `maxConcurrencyPerTenant` (so one tenant cannot take every slot).
   */
  tryAcquire(tenant: string): { readonly release: () => void } | { readonly busy: string } {
    const mine = this.runningByTenant.get(tenant) ?? 0;
    const perTenant = Math.min(this.limits.maxConcurrencyPerTenant, this.limits.maxConcurrency);
    if (this.running >= this.limits.maxConcurrency) return { busy: `server busy: ${this.limits.maxConcurrency} encrypted predictions are already running; retry shortly` };
    if (mine >= perTenant) return { busy: `server busy for you: ${mine} of your encrypted predictions are already running (at most ${perTenant} per tenant); retry when one finishes` };
    this.running++;
    this.runningByTenant.set(tenant, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.running--;
        const left = (this.runningByTenant.get(tenant) ?? 1) - 1;
        if (left > 0) this.runningByTenant.set(tenant, left);
        else this.runningByTenant.delete(tenant);
      },
    };
  }

  /**
   * Make the tenant's key set `keysId` available to the SEAL server for the duration of `use`.
   * The tenant must have uploaded it: the shared in-memory copy is never a way around that.
   */
  async withKeys<T>(tenant: string, keysId: string, use: () => Promise<T>): Promise<T> {
    await this.freshEngine();
    if (!this.keys.has(tenant, keysId)) {
      fail('BAD_ARGUMENT', `unknown keys_id ${keysId}: upload the evaluation keys first (PUT /keys/<keys_id> or the upload_keys tool)`);
    }
    let entry = this.loaded.get(keysId);
    if (entry) {
      this.loaded.delete(keysId);
    } else {
      const id = this.fhe.loadKeys(this.keys.read(tenant, keysId));
      if (id !== keysId) fail('BAD_CIPHERTEXT', `stored keys ${keysId.slice(0, 12)}… hash to ${id.slice(0, 12)}…`);
      entry = { pins: 0 };
    }
    this.loaded.set(keysId, entry);
    entry.pins++;
    this.evictKeys();
    try {
      return await use();
    } catch (e) {
      // A fatal engine failure leaves its state suspect: the next call runs on a fresh engine.
      this.backend.noteFailure(e);
      throw e;
    } finally {
      entry.pins--;
      this.evictKeys();
    }
  }

  /** The model served under `modelHash`, if any. */
  modelByHash(modelHash: string): ServedModel | undefined {
    return this.byHash.get(modelHash.toLowerCase());
  }

  /** Evaluate a job in this process with the tenant's uploaded keys (the embedded runner). */
  private evaluateLocally(request: JobRequest): Promise<{ result: Uint8Array; evaluations: number }> {
    const model = this.modelByHash(request.model.modelHash);
    if (!model) fail('BAD_ARGUMENT', `no model ${request.model.modelHash.slice(0, 12)}… is served here`);
    const { floodBits } = this.limits;
    const last = (request.segment ?? 0) === clientStepCount(model.server);
    return this.withKeys(request.tenant, request.keysId, async () => {
      const outcome = await evaluateRequest(this.fhe, model, request.keysId, request.inputs, {
        signal: request.signal,
        maxEvaluations: this.limits.maxEvaluationsPerRequest,
        ...(request.segment ? { segment: request.segment } : {}),
        onProgress: request.onProgress,
      });
      // Flooded here, before the result is hashed into the log, so the receipt covers what the client gets.
      if (floodBits === null || !last) return outcome;
      return { ...outcome, result: await this.fhe.floodResult(model.server.modelHash, outcome.result, floodWidth(floodBits, model.noiseBound ?? NaN)) };
    });
  }

  /** Free SEAL objects and close the stores now (the runner is stopped in the background). */
  dispose(): void {
    if (this.generation === this.backend.engineGeneration()) this.current.dispose();
    this.loaded.clear();
    void this.network.runner.close().catch(() => {});
    this.network.closeStores();
  }

  /** Stop the runner (a queue runner finishes its connections), then free everything. */
  async close(): Promise<void> {
    await this.network.runner.close();
    this.dispose();
  }

  /**
   * After a fatal engine failure anywhere in this process (a WebAssembly trap in SEAL), the
   * engine is rebuilt and the models are loaded again into a new FheServer; key sets are reread
   * from disk on their next use. The old server's objects belong to the dropped engine and are
   * left to the garbage collector with it.
   */
  private async freshEngine(): Promise<void> {
    while (this.backend.engineStale(this.generation)) {
      this.rebuilding ??= (async () => {
        const generation = this.backend.engineGeneration();
        // The client steps waiting carry their own unmasking circuits: the new server answers them.
        const fhe = new FheServer(this.backend, { maxEvaluationsPerRequest: this.limits.maxEvaluationsPerRequest }, this.current.steps);
        for (const m of this.models.values()) await fhe.loadModel(m.server);
        this.current = fhe;
        this.generation = generation;
        this.loaded.clear();
      })().finally(() => (this.rebuilding = undefined));
      await this.rebuilding;
    }
  }

  /**
   * An uploaded bundle must be an intact evaluation-key envelope for a model served here, whose
   * keys SEAL loads: a valid envelope around garbage is refused now, not at the first predict.
   */
  private checkKeyBundle(bytes: Uint8Array): void {
    const model = this.byHash.get(peekEnvelopeModel(bytes));
    if (!model) fail('BAD_CIPHERTEXT', `evaluation keys are for model ${peekEnvelopeModel(bytes).slice(0, 12)}…, which this server does not serve`);
    readEnvelope(bytes, { kind: 'eval-keys', modelHash: model.server.modelHash, parameterId: model.server.parameters.parameterId, count: 2 });
    const id = sha256Hex(bytes);
    const wasLoaded = this.current.hasKeys(id);
    try {
      this.current.loadKeys(bytes);
    } catch (e) {
      this.backend.noteFailure(e);
      throw e;
    }
    if (!wasLoaded) this.current.unloadKeys(id);
  }

  private evictKeys(): void {
    for (const [id, entry] of this.loaded) {
      if (this.loaded.size <= this.limits.maxLoadedKeySets) return;
      if (entry.pins > 0) continue;
      this.fhe.unloadKeys(id);
      this.loaded.delete(id);
    }
  }
}
