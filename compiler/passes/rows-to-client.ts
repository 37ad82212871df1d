/**
 * `compile --on-client softmax,layernorm`: the row-wise stages of the named functions become
 * exact client steps (chain/step-stages.ts; their records: compiler/client-steps/softmax.ts,
 * layer-norm.ts) instead of stages the server approximates. Each row of `rowLength` consecutive
 * values is one group: a Softmax's row (one query's scores, masked by one offset), a LayerNorm's
 * token (its features, masked by one positive scale and one offset). A LayerNorm's γ and β are
 * already the affine map after the row-wise stage (rowwise-ops.ts), so the step normalizes only
 * (γ = 1, β = 0). The one place that maps the option to stages: compile and the report's exact
 * chain both read it (pipeline/exact-chain.ts).
 *
 * Before → after (one attention row of 3 scores, 2 queries):
 *   rowwise softmax ×6 in rows of 3
 *   softmax 6→6 (client step, 2 rows of 3)
 */
import type { RowFunctionKind } from '../chain/rowwise';
import type { LayerNormStage, RowwiseStage, SoftmaxStage, Stage } from '../chain/stages';
import { fail } from '../errors';

/** The row-wise functions that have an exact client step, in the order the option lists them. */
export const CLIENT_ROW_FUNCTIONS: readonly RowFunctionKind[] = ['softmax', 'layernorm'];

/** `--on-client a,b`: the functions named, each once, or a one-line error. */
export function parseClientRowFunctions(text: string): RowFunctionKind[] {
  const names = text.split(',').map((s) => s.trim().toLowerCase());
  const out: RowFunctionKind[] = [];
  for (const n of names) {
    const kind = CLIENT_ROW_FUNCTIONS.find((k) => k === n);
    if (kind === undefined) fail('BAD_ARGUMENT', `--on-client takes ${CLIENT_ROW_FUNCTIONS.join(', ')} (comma-separated), got "${n}"`);
    if (!out.includes(kind)) out.push(kind);
  }
  return out;
}

/** The body with each row-wise stage of a function in `onClient` replaced by its client step. */
export function rowsToClient(body: readonly Stage[], onClient: readonly RowFunctionKind[]): Stage[] {
  if (onClient.length === 0) return [...body];
  return body.map((s) => (s.kind === 'rowwise' && onClient.includes(s.fn.kind) ? clientStep(s) : s));
}

function clientStep(s: RowwiseStage): SoftmaxStage | LayerNormStage {
  if (s.size % s.rowLength !== 0) fail('BAD_GRAPH', `${s.sources.join(', ')}: ${s.size} values are not rows of ${s.rowLength}`);
  const groups = Array.from({ length: s.size / s.rowLength }, (_v, r) => Array.from({ length: s.rowLength }, (_w, j) => r * s.rowLength + j));
  switch (s.fn.kind) {
    case 'softmax':
      return { kind: 'softmax', sources: s.sources, inSize: s.size, groups };
    case 'layernorm':
      return { kind: 'layernorm', sources: s.sources, inSize: s.size, groups, epsilon: s.fn.epsilon, gamma: new Array<number>(s.rowLength).fill(1), beta: new Array<number>(s.rowLength).fill(0) };
  }
}
