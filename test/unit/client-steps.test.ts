import { describe, expect, test } from 'vitest';
import { ClientSteps } from '../../runtime/mcp/client-steps';

/** The client steps `deeppowers serve` waits on: answered once, by their tenant, model and keys only; they expire and are bounded. */

const KEYS = 'a'.repeat(64);
const step = { tenant: 'alice', model: 'digits', keysId: KEYS, next: 1 };

describe('ClientSteps', () => {
  test('a step is taken once, by its tenant, for its model, with its keys; a refusal leaves it waiting', () => {
    const steps = new ClientSteps();
    steps.put('s1', step);
    expect(() => steps.take('s1', 'bob', 'digits', KEYS)).toThrow(/^no client step s1… is waiting/);
    expect(() => steps.take('s1', 'alice', 'iris', KEYS)).toThrow(/belongs to model digits, not iris/);
    expect(() => steps.take('s1', 'alice', 'digits', 'b'.repeat(64))).toThrow(/was made with evaluation keys a{12}…, not b{12}…/);
    expect(steps.take('s1', 'alice', 'digits', KEYS).next).toBe(1);
    expect(() => steps.take('s1', 'alice', 'digits', KEYS)).toThrow(/no client step s1… is waiting/);
  });

  test('a step expires after its time, and at most maxSteps wait (the oldest goes first)', () => {
    let now = 1000;
    const dropped: string[] = [];
    const steps = new ClientSteps(500, 2, () => now, (id) => dropped.push(id));
    steps.put('old', step);
    now = 1499;
    steps.put('s2', step);
    now = 1500;
    expect(() => steps.take('old', 'alice', 'digits', KEYS)).toThrow(/expired \(after 1 s\)/);
    steps.put('s3', step);
    steps.put('s4', step);
    expect(steps.size).toBe(2);
    expect(() => steps.take('s2', 'alice', 'digits', KEYS)).toThrow(/no client step/);
    expect(steps.take('s3', 'alice', 'digits', KEYS).tenant).toBe('alice');
    // Unanswered steps are handed back so their masks are freed: 'old' expired, 's2' pushed out; taken ones are not.
    expect(dropped).toEqual(['old', 's2']);
  });
});
