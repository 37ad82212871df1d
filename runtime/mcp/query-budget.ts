import { fail } from '../../compiler/errors';

/**
 * How many rows one tenant may send one model per day (UTC), as `deeppowers serve --query-budget`
 * and `--client-step-budget` set them. Every answer a client gets is one more point of the
 * model's input-output map (extraction by queries), and every client-step answer one more probe
 * of the layers after the step (a client that returns crafted values reads their weights out:
 * docs/compiling.md, MaxPool: "What the client learns"); a budget bounds both per tenant, not per call.
 *
 * A row is one sample the request could hold: evaluations × samples per evaluation (N/2 in batch
 * layout, whose slots the server cannot tell filled from empty). A request that would go past the
 * budget is refused whole and charges nothing. Counts live in memory: a restart forgets them.
 */
export type BudgetKind = 'query' | 'client-step';

export interface QueryBudgetLimits {
  /** Rows of new predictions (first segment) per tenant, model and UTC day; undefined: no limit. */
  readonly queryRowsPerDay?: number | undefined;
  /** Rows answered at client steps (every later segment) per tenant, model and UTC day; undefined: no limit. */
  readonly clientStepRowsPerDay?: number | undefined;
}

const DAY_MS = 86_400_000;

const FLAG: Record<BudgetKind, string> = { query: '--query-budget', 'client-step': '--client-step-budget' };

export class QueryBudget {
  private day = -1;
  private readonly used = new Map<string, number>();

  constructor(
    private readonly limits: QueryBudgetLimits,
    /** Milliseconds since the epoch; injectable so a test moves days without waiting. */
    private readonly now: () => number = Date.now,
  ) {
    for (const [name, v] of Object.entries(limits)) {
      if (v !== undefined && !(Number.isInteger(v) && v >= 0)) fail('BAD_ARGUMENT', `${name} must be a non-negative integer, got ${v}`);
    }
  }

  /** The limit of `kind`, or undefined when there is none. */
  limit(kind: BudgetKind): number | undefined {
    switch (kind) {
      case 'query':
        return this.limits.queryRowsPerDay;
      case 'client-step':
        return this.limits.clientStepRowsPerDay;
    }
  }

  /**
   * Charges `rows` to `tenant`'s `kind` budget for `model` today, or returns why not (one line,
   * naming what is left and when it resets) and charges nothing.
   */
  charge(tenant: string, model: string, kind: BudgetKind, rows: number): string | undefined {
    const limit = this.limit(kind);
    if (limit === undefined) return undefined;
    const today = Math.floor(this.now() / DAY_MS);
    if (today !== this.day) {
      this.day = today;
      this.used.clear();
    }
    const key = JSON.stringify([tenant, model, kind]);
    const used = this.used.get(key) ?? 0;
    if (used + rows > limit) {
      const what = kind === 'query' ? 'query' : 'client-step';
      return (
        `${what} budget spent: this tenant has used ${used} of its ${limit} ${what} rows for ${model} today (UTC), and this request needs ${rows}; ` +
        `it resets at 00:00 UTC (the server's ${FLAG[kind]})`
      );
    }
    this.used.set(key, used + rows);
    return undefined;
  }
}
