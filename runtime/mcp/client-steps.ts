/**
 * The client steps `deeppowers serve` is waiting on: after a segment of a body with client steps,
 * `predict_<model>` answers with a masked result and a step id, and the same tool called with that
 * id and the client's fresh ciphertexts runs the next segment. The masks themselves stay in the
 * FHE server (runtime/server/refresh-masks.ts); this records who may answer a step, with which
 * keys and for which model, and forgets it after one answer or `ttlMs`.
 */
import { fail } from '../../compiler/errors';

export interface PendingStep {
  readonly tenant: string;
  readonly model: string;
  readonly keysId: string;
  /** The segment the fresh ciphertexts feed. */
  readonly next: number;
  /** The prediction's chain id, which the answer must name too (absent: the caller named none). */
  readonly chainId?: string;
  /** SHA-256 of the masked result the client was given, logged with the next segment. */
  readonly maskedSha256?: string;
}

export const DEFAULT_STEP_TTL_MS = 10 * 60_000;
export const DEFAULT_MAX_STEPS = 1024;

export class ClientSteps {
  private readonly pending = new Map<string, PendingStep & { readonly expires: number }>();

  constructor(
    private readonly ttlMs = DEFAULT_STEP_TTL_MS,
    private readonly maxSteps = DEFAULT_MAX_STEPS,
    private readonly now: () => number = Date.now,
    /** Called with each step dropped unanswered (expired or pushed out), so its mask can be freed. */
    private readonly onDrop: (stepId: string) => void = () => {},
  ) {}

  put(stepId: string, step: PendingStep): void {
    this.prune();
    this.pending.set(stepId, { ...step, expires: this.now() + this.ttlMs });
    while (this.pending.size > this.maxSteps) this.drop(this.pending.keys().next().value!);
  }

  /**
   * The step `stepId`, taken (a step is answered once), if `tenant` may answer it for `model` with
   * `keysId`. Another tenant's step reads as unknown: its existence is not theirs to learn.
   */
  take(stepId: string, tenant: string, model: string, keysId: string): PendingStep {
    this.prune();
    const step = this.pending.get(stepId);
    if (!step || step.tenant !== tenant) {
      fail('BAD_ARGUMENT', `no client step ${stepId.slice(0, 12)}… is waiting: it was answered already, expired (after ${Math.round(this.ttlMs / 1000)} s) or never made; start the prediction again`);
    }
    if (step.model !== model) fail('BAD_ARGUMENT', `client step ${stepId.slice(0, 12)}… belongs to model ${step.model}, not ${model}`);
    if (step.keysId !== keysId) fail('BAD_ARGUMENT', `client step ${stepId.slice(0, 12)}… was made with evaluation keys ${step.keysId.slice(0, 12)}…, not ${keysId.slice(0, 12)}…`);
    this.pending.delete(stepId);
    return step;
  }

  get size(): number {
    this.prune();
    return this.pending.size;
  }

  private prune(): void {
    const t = this.now();
    for (const [id, s] of this.pending) if (s.expires <= t) this.drop(id);
  }

  private drop(stepId: string): void {
    this.pending.delete(stepId);
    this.onDrop(stepId);
  }
}
