/**
 * The body as a DAG: which earlier outputs each stage reads, evaluation of any per-stage function
 * over it, and who reads a stage. A chain is the special case in which every stage reads the one
 * before it; these helpers treat both alike, so passes written with them need no chain case.
 */
import { fail } from '../errors';

/** The stage-output index the body input has in `reads`. */
export const BODY_INPUT = -1;

interface StageLike {
  readonly kind: string;
  readonly reads?: readonly number[];
}

/** Outputs (stage indices, −1 for the body input) stage `k` reads, in column order. */
export function stageReads(stages: readonly StageLike[], k: number): readonly number[] {
  return stages[k]!.reads ?? [k - 1];
}

/** Whether any stage reads something other than the stage right before it. */
export function isChain(stages: readonly StageLike[]): boolean {
  return stages.every((s) => s.reads === undefined);
}

/** Per stage k, the stages reading k's output and the column offset of k's block in their input. */
export function readersOf(stages: readonly StageLike[], sizeOf: (k: number) => number): { stage: number; offset: number }[][] {
  const readers: { stage: number; offset: number }[][] = stages.map(() => []);
  stages.forEach((_s, r) => {
    let offset = 0;
    for (const k of stageReads(stages, r)) {
      if (k >= r || k < BODY_INPUT) fail('BAD_GRAPH', `stage ${r} reads stage ${k}, which does not come before it`);
      if (k >= 0) readers[k]!.push({ stage: r, offset });
      offset += sizeOf(k);
    }
  });
  return readers;
}

/**
 * Runs `apply` over the stages for one input vector: each stage gets its input (its reads
 * concatenated) and returns its output. Returns every stage's output; the last is the body's.
 */
export function evaluateStages<S extends StageLike>(stages: readonly S[], input: Float64Array, apply: (s: S, x: Float64Array, k: number) => Float64Array): Float64Array[] {
  const outputs: Float64Array[] = [];
  stages.forEach((s, k) => outputs.push(apply(s, stageInput(stages, k, input, outputs), k)));
  return outputs;
}

/** Stage k's input vector, given the body input and the outputs of the stages before k. */
export function stageInput(stages: readonly StageLike[], k: number, input: Float64Array, outputs: readonly Float64Array[]): Float64Array {
  const reads = stageReads(stages, k);
  const output = (r: number): Float64Array => (r === BODY_INPUT ? input : outputs[r]!);
  if (reads.length === 1) return output(reads[0]!);
  const x = new Float64Array(reads.reduce((n, r) => n + output(r).length, 0));
  let at = 0;
  for (const r of reads) {
    x.set(output(r), at);
    at += output(r).length;
  }
  return x;
}

/** The body's output for one input vector (the input itself for an empty body). */
export function finalOutput(outputs: readonly Float64Array[], input: Float64Array): Float64Array {
  return outputs.length > 0 ? outputs[outputs.length - 1]! : input;
}
