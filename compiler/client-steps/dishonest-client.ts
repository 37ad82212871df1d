/**
 * What a dishonest client can learn from a model's client steps, in words: one text for
 * `compile`, `report` and the served tool's description (README "What the client learns").
 *
 * The masks hide the values the client decrypts; they do not stop it from returning values of
 * its own. At a max pool it can send back a window's max plus t: the next segment then computes
 * on max + t/a_w (the server divides by the window's a_w), so the change in the logits is
 * W[:, w]·t/a_w where W is the affine map after the pool, its column w up to a positive factor,
 * one column per query (test/e2e/client-step-probe.test.ts). Every kind in CLIENT_STEP_KINDS must
 * be counted here (the Record type makes a new kind a compile error). At a refresh step it can send back
 * y + δ and the next segment runs on exactly that, with no unknown factor. Each probe looks like
 * an ordinary prediction.
 */
import type { SegmentedBody } from '../artifact/types';
import type { ClientStepKind } from './kind';
import { clientStepsOf } from './table';

export function describeDishonestClient(plan: Pick<SegmentedBody, 'segments'>): string {
  const count: Record<ClientStepKind, number> = { refresh: 0, maxpool: 0 };
  for (const step of clientStepsOf(plan)) count[step.kind]++;
  const pools = count.maxpool;
  const refreshes = count.refresh;
  const parts: string[] = [];
  if (pools > 0) {
    parts.push(
      `at ${pools === 1 ? 'its max pool' : `each of its ${pools} max pools`}, returning a window's max plus t moves the outputs by W[:, w]·t/a_w: one query per input reads a column of the affine map after the pool, up to a positive factor`,
    );
  }
  if (refreshes > 0) {
    parts.push(`at ${refreshes === 1 ? 'its refresh step' : `each of its ${refreshes} refresh steps`}, returning y + δ runs the next segment on y + δ exactly, so queries map out the layers after the step`);
  }
  return (
    `a dishonest client can read out the weights after a client step (the masks hide what it decrypts, not what it sends back): ${parts.join('; ')}. ` +
    'Each probe looks like an ordinary prediction; `serve --client-step-budget N` bounds them per tenant and day, `serve --model-confidential` refuses the model'
  );
}
