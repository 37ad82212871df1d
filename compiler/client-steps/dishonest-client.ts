/**
 * What a dishonest client can learn from a model's client steps, in words: one text for
 * `compile`, `report`, the served tool's description and the model card (docs/security.md "Who sees what").
 * The masks hide the values the client decrypts; they do not stop it from returning values of
 * its own, and each probe looks like an ordinary prediction. Each step kind says what returning a
 * value of one's own does at it (its record's `dishonestClient`); this composes them in the
 * order the steps come, one clause per kind.
 */
import type { SegmentedBody } from '../artifact/types';
import type { ClientStepKind } from './kind';
import { clientStepsOf, isRefresh, stepKind } from './table';

export function describeDishonestClient(plan: Pick<SegmentedBody, 'segments'>): string {
  // A refresh is a refresh to the client whichever way it is masked: one clause for both.
  const counts = new Map<ClientStepKind, number>();
  for (const step of clientStepsOf(plan)) {
    const kind = isRefresh(step) ? 'refresh' : step.kind;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const clauses = [...counts].map(([kind, n]) => `at ${n === 1 ? `its ${kind} step` : `each of its ${n} ${kind} steps`}, ${stepKind(kind).dishonestClient}`);
  return (
    `a dishonest client can read out the weights after a client step (the masks hide what it decrypts, not what it sends back): ${clauses.join('; ')}. ` +
    'Each probe looks like an ordinary prediction; `serve --client-step-budget N` bounds them per tenant and day, `serve --model-confidential` refuses the model'
  );
}
