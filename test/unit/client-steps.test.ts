import { describe, expect, test } from 'vitest';
import { StepStore, type PendingStep } from '../../runtime/server/step-store';

/** The client steps a server waits on: answered once, by their tenant, model and keys only; they expire and are bounded. */

const KEYS = 'a'.repeat(64);
const owner = { tenant: 'alice', model: 'digits', keysId: KEYS };
const step: PendingStep = { owner, modelId: 'f'.repeat(64), segment: 0, unmask: [] };

describe('StepStore', () => {
  test('a step is taken once, by its tenant, for its model, with its keys; a refusal leaves it waiting', () => {
    const steps = new StepStore();
    const id = steps.put(step);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    const short = id.slice(0, 12);
    expect(() => steps.take(id, { ...owner, tenant: 'bob' })).toThrow(new RegExp(`^no client step ${short}… is waiting`));
    expect(() => steps.take(id, { ...owner, model: 'iris' })).toThrow(/belongs to model digits, not iris/);
    expect(() => steps.take(id, { ...owner, keysId: 'b'.repeat(64) })).toThrow(/was made with evaluation keys a{12}…, not b{12}…/);
    expect(steps.get(id, owner).segment).toBe(0);
    expect(steps.take(id, owner).owner.tenant).toBe('alice');
    expect(() => steps.take(id, owner)).toThrow(/no client step .* is waiting/);
  });

  test('a step expires after its time, and at most maxSteps wait (the oldest goes first)', () => {
    let now = 1000;
    const steps = new StepStore({ ttlMs: 500, maxSteps: 2, now: () => now });
    const old = steps.put(step);
    now = 1499;
    const s2 = steps.put(step);
    now = 1500;
    expect(() => steps.take(old, owner)).toThrow(/expired \(after 1 s\)/);
    const s3 = steps.put(step);
    steps.put(step);
    expect(steps.size).toBe(2);
    expect(() => steps.take(s2, owner)).toThrow(/no client step/);
    expect(steps.take(s3, owner).owner.tenant).toBe('alice');
    expect(steps.size).toBe(1);
  });
});
