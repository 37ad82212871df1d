import { describe, expect, test } from 'vitest';
import { QueryBudget } from '../../runtime/mcp/query-budget';

/**
 * The rows a tenant may send a model per UTC day: one tenant spending its budget leaves another
 * tenant's and another model's untouched; a request that would go past it is refused whole and
 * charges nothing (a smaller one still fits); the count starts again at 00:00 UTC, on the clock
 * given (no waiting).
 */
describe('QueryBudget', () => {
  test('per tenant, model and kind; refused requests charge nothing; a new UTC day starts over', () => {
    let now = Date.UTC(2026, 11, 7, 23, 59);
    const budget = new QueryBudget({ queryRowsPerDay: 10, clientStepRowsPerDay: 3 }, () => now);
    expect(budget.charge('mallory', 'cnn', 'query', 8)).toBeUndefined();
    expect(budget.charge('mallory', 'cnn', 'query', 3)).toMatch(/^query budget spent: this tenant has used 8 of its 10 query rows for cnn today \(UTC\), and this request needs 3/);
    expect(budget.charge('mallory', 'cnn', 'query', 2)).toBeUndefined();
    expect(budget.charge('mallory', 'cnn', 'query', 1)).toMatch(/used 10 of its 10/);
    // Another tenant, another model, the other kind: their own counts.
    expect(budget.charge('alice', 'cnn', 'query', 10)).toBeUndefined();
    expect(budget.charge('mallory', 'iris', 'query', 10)).toBeUndefined();
    expect(budget.charge('mallory', 'cnn', 'client-step', 3)).toBeUndefined();
    expect(budget.charge('mallory', 'cnn', 'client-step', 1)).toMatch(/^client-step budget spent: .* 3 of its 3 client-step rows .*--client-step-budget\)$/);
    now += 60_000; // 00:00 UTC
    expect(budget.charge('mallory', 'cnn', 'query', 10)).toBeUndefined();
    expect(budget.charge('mallory', 'cnn', 'client-step', 3)).toBeUndefined();
  });

  test('no limit set: nothing is counted or refused; a bad limit is refused at construction', () => {
    const budget = new QueryBudget({});
    expect(budget.charge('t', 'm', 'query', 1e9)).toBeUndefined();
    expect(() => new QueryBudget({ queryRowsPerDay: -1 })).toThrow(/queryRowsPerDay must be a non-negative integer, got -1/);
  });

  test('tenant and model names cannot be made to collide', () => {
    const budget = new QueryBudget({ queryRowsPerDay: 1 });
    expect(budget.charge('a\u0000b', 'c', 'query', 1)).toBeUndefined();
    expect(budget.charge('a', 'b\u0000c', 'query', 1)).toBeUndefined();
  });
});
