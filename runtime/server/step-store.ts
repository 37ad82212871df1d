/**
 * The client steps a server is waiting on (bodies with client steps, compiler/client-steps/):
 * after masking a segment's result the server keeps, under a fresh random id, who may answer
 * (tenant, model, evaluation keys), which segment the answer feeds and the circuits that unmask
 * it. A step is answered once, within `ttlMs`; at most `maxSteps` wait, the oldest dropped first
 * (its answer then fails with a clear error). One store: the MCP tool's binding to a tenant and
 * the server's masks are the same record.
 */
import { randomBytes } from 'node:crypto';
import type { CoefficientMask } from '../../compiler/client-steps/kind';
import type { StepCircuit } from '../../compiler/client-steps/step-circuits';
import { fail } from '../../compiler/errors';

/** One evaluation's unmasking: circuits over its fresh ciphertexts, and coefficient masks to take off (input k gets `coefficients[k]`). */
export interface Unmasking {
  readonly circuits: readonly StepCircuit[];
  readonly coefficients: readonly CoefficientMask[];
}

/** Who may answer a step. */
export interface StepOwner {
  readonly tenant: string;
  /** The model's name as its caller knows it (the served name over MCP). */
  readonly model: string;
  readonly keysId: string;
}

/** A caller in this process that answers its own steps (predict --mode fhe, tests): no tenant, no keys to bind. */
export const IN_PROCESS: StepOwner = { tenant: '', model: '', keysId: '' };

export interface PendingStep {
  readonly owner: StepOwner;
  /** The model's id on the server (its hash). */
  readonly modelId: string;
  /** The segment whose result was masked; the fresh ciphertexts feed segment + 1. */
  readonly segment: number;
  /** Per evaluation, in order: what unmasks its fresh ciphertexts (the inputs of segment + 1). */
  readonly unmask: readonly Unmasking[];
  /** The prediction's chain id, which the answer must name too (absent: the caller named none). */
  readonly chainId?: string;
  /** SHA-256 of the masked result the client was given, logged with the next segment. */
  readonly maskedSha256?: string;
}

export interface StepStoreOptions {
  readonly ttlMs?: number;
  readonly maxSteps?: number;
  /** The clock expiry reads (injectable for tests). */
  readonly now?: () => number;
}

export const DEFAULT_STEP_TTL_MS = 10 * 60_000;
export const DEFAULT_MAX_STEPS = 1024;

export class StepStore {
  private readonly pending = new Map<string, PendingStep & { readonly expires: number }>();
  private readonly ttlMs: number;
  private readonly maxSteps: number;
  private readonly now: () => number;

  constructor(options: StepStoreOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_STEP_TTL_MS;
    this.maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
    this.now = options.now ?? Date.now;
  }

  /** Records a step under a fresh random id. */
  put(step: PendingStep): string {
    this.prune();
    const id = randomBytes(16).toString('hex');
    this.pending.set(id, { ...step, expires: this.now() + this.ttlMs });
    while (this.pending.size > this.maxSteps) this.pending.delete(this.pending.keys().next().value!);
    return id;
  }

  /**
   * The step `stepId` if `owner` may answer it, left waiting (check the answer, then `take`).
   * Another tenant's step reads as unknown: its existence is not theirs to learn.
   */
  get(stepId: string, owner: StepOwner): PendingStep {
    this.prune();
    const step = this.pending.get(stepId);
    if (!step || step.owner.tenant !== owner.tenant) {
      fail('BAD_ARGUMENT', `no client step ${stepId.slice(0, 12)}… is waiting: it was answered already, expired (after ${Math.round(this.ttlMs / 1000)} s) or never made; start the prediction again`);
    }
    if (step.owner.model !== owner.model) fail('BAD_ARGUMENT', `client step ${stepId.slice(0, 12)}… belongs to model ${step.owner.model}, not ${owner.model}`);
    if (step.owner.keysId !== owner.keysId) fail('BAD_ARGUMENT', `client step ${stepId.slice(0, 12)}… was made with evaluation keys ${step.owner.keysId.slice(0, 12)}…, not ${owner.keysId.slice(0, 12)}…`);
    return step;
  }

  /** The step, taken: a step is answered once. */
  take(stepId: string, owner: StepOwner): PendingStep {
    const step = this.get(stepId, owner);
    this.pending.delete(stepId);
    return step;
  }

  /** Steps waiting, all tenants together. */
  get size(): number {
    this.prune();
    return this.pending.size;
  }

  clear(): void {
    this.pending.clear();
  }

  private prune(): void {
    const t = this.now();
    for (const [id, s] of this.pending) if (s.expires <= t) this.pending.delete(id);
  }
}
