/**
 * Refresh cuts in a body that is a DAG (a transformer's residual sums, attention's two factors):
 * at a cut, every value an earlier stage made and a later stage reads is live, and all of them
 * cross the refresh together, concatenated, as the next segment's input. Each segment is then a
 * self-contained stage list, as a chain's segments are: its body input is the concatenation of
 * the values live where it starts, its last stage's output the concatenation of those live where
 * it ends (or the body's output, for the last segment). The client step between two segments is
 * the same refresh whatever the vector holds.
 *
 * A cut goes before stage k only when every stage from k on that reads a value made before k is
 * an affine map or a product, or is stage k itself: the live values enter the segment through
 * those maps' columns, at no cost, and a product's factor or stage k's input (the exps a
 * Softmax's normalisation reads) through a map that selects it from the segment input (one level;
 * none when it is the whole segment input). A segment whose live-out values are more than its last stage's output ends with one
 * gathering map (one level).
 */
import { BODY_INPUT, stageReads } from '../chain/stage-graph';
import { stageOutSize, type AffineStage, type ApproxStage } from '../chain/stages';
import { isStepStage } from '../chain/step-stages';
import { chebyshevDepth } from '../approx/evaluate';
import { rowDepth } from '../approx/row-plans';

/** Whether no stage reads anything but the stage before it (a chain: refresh-plan's own cuts apply). */
export function isChainBody(stages: readonly ApproxStage[]): boolean {
  return stages.every((s) => !('reads' in s) || s.reads === undefined);
}

/** Values made before `k` (−1: the body input) that stages from `k` on read, ascending. */
export function liveAt(stages: readonly ApproxStage[], k: number): number[] {
  const live = new Set<number>();
  for (let j = k; j < stages.length; j++) for (const r of stageReads(stages, j)) if (r < k) live.add(r);
  return [...live].sort((a, b) => a - b);
}

/**
 * Stage indices a DAG body can be cut before: after a polynomial or a row-wise stage, or between
 * an affine map and a row-wise stage (a LayerNorm is as deep as a segment; elsewhere a cut after
 * an affine map only moves its level; after a product it would carry every product across, not
 * their sums), where every later reader of a live value is an affine map or a product.
 */
export function dagCutPoints(stages: readonly ApproxStage[]): number[] {
  const out: number[] = [];
  for (let k = 1; k < stages.length; k++) {
    const before = stages[k - 1]!.kind;
    if (before !== 'poly' && before !== 'rowpoly' && !(before === 'affine' && stages[k]!.kind === 'rowpoly')) continue;
    let ok = true;
    for (let j = k; j < stages.length && ok; j++) {
      if (j > k && stageReads(stages, j).some((r) => r < k) && stages[j]!.kind !== 'affine' && stages[j]!.kind !== 'product') ok = false;
    }
    if (ok) out.push(k);
  }
  return out;
}

/**
 * Where stage `v`'s output sits in the vector of values live at `k` (liveAt: what crosses a cut
 * there, concatenated in ascending order). A client step at stage `s` (a Softmax, a LayerNorm)
 * works in place: the segment before it ends with the values live after it, the step's output
 * stood in for by its input (stepLiveOut), so its groups sit at liveOffset(stages, s + 1, s).
 */
export function liveOffset(stages: readonly ApproxStage[], k: number, v: number): number {
  const inputSize = bodyInputSize(stages);
  let offset = 0;
  for (const r of liveAt(stages, k)) {
    if (r === v) return offset;
    offset += r === BODY_INPUT ? inputSize : stageOutSize(stages[r]!);
  }
  throw new Error(`stage ${v} is not live at stage ${k}`);
}

/**
 * What the segment before a client step at stage `s` hands over: the values live after the step,
 * with the step's input in the place of its output (the client computes the step there). Its
 * input appears twice when a later stage reads it too (a pre-norm block's residual x beside LN(x)).
 */
function stepLiveOut(stages: readonly ApproxStage[], s: number): number[] {
  return liveAt(stages, s + 1).map((v) => (v === s ? s - 1 : v));
}

function bodyInputSize(stages: readonly ApproxStage[]): number {
  return stages[0] && stages[0].kind === 'affine' ? stages[0].inSize : stageOutSize(stages[0]!);
}

/**
 * The body cut before each of `cuts` (ascending, from dagCutPoints or client steps), each segment
 * self-contained. A cut at a client step (a Softmax, a LayerNorm) ends the segment before it with
 * the step's input among the live values and starts the next one after it, with the step's output
 * in the same place.
 */
export function splitDag(stages: readonly ApproxStage[], cuts: readonly number[]): ApproxStage[][] {
  const starts = [0, ...cuts.map((k) => (isStepStage(stages[k]!) ? k + 1 : k))];
  const ends = [...cuts, stages.length];
  const size = (r: number, input: number): number => (r === BODY_INPUT ? input : stageOutSize(stages[r]!));
  const inputSize = bodyInputSize(stages);
  const segments: ApproxStage[][] = [];
  for (let i = 0; i < starts.length; i++) {
    const [start, end] = [starts[i]!, ends[i]!];
    const liveIn = start === 0 ? [BODY_INPUT] : liveAt(stages, start);
    // Where each live-in value sits in this segment's input vector.
    const offsets = new Map<number, number>();
    let width = 0;
    for (const v of liveIn) {
      offsets.set(v, width);
      width += size(v, inputSize);
    }
    // Live values a product multiplies: selected from the segment input first, one map each.
    const factors = start === 0 ? [] : stages.slice(start, end).flatMap((s) => (s.kind === 'product' ? s.reads.filter((r) => r < start) : []));
    // A first stage that reads the stage before it (the exps a Softmax's normalisation reads)
    // finds that value right before it: selected last, unless it is the whole segment input.
    const first = stages[start]!;
    const readsBefore = start > 0 && first.kind !== 'affine' && first.kind !== 'product' && liveIn.length > 1;
    const selected = [...new Set(factors)].filter((v) => !readsBefore || v !== start - 1).concat(readsBefore ? [start - 1] : []);
    const segment: ApproxStage[] = selected.map((v) => select(offsets.get(v)!, size(v, inputSize), width));
    const local = (r: number): number => (r >= start ? r - start + selected.length : selected.includes(r) ? selected.indexOf(r) : BODY_INPUT);
    for (let j = start; j < end; j++) {
      const s = stages[j]!;
      const reads = stageReads(stages, j);
      if (start === 0 || reads.every((r) => r >= start) || s.kind === 'product' || (j === start && s.kind !== 'affine')) {
        segment.push(reads.length === 1 && !('reads' in s && s.reads) && selected.length === 0 ? s : withReads(s, reads.map(local)));
        continue;
      }
      // An affine map reading live values (cut points guarantee it): their columns move to where
      // those values sit in the segment input, and the segment's own stages follow.
      const a = s as AffineStage;
      const inner = reads.filter((r) => r >= start);
      const newReads = [BODY_INPUT, ...inner.map(local)];
      const innerOffset = new Map<number, number>();
      let at = width;
      for (const r of inner) {
        innerOffset.set(r, at);
        at += size(r, inputSize);
      }
      const weights = new Float64Array(a.outSize * at);
      let column = 0;
      for (const r of reads) {
        const n = size(r, inputSize);
        const to = r >= start ? innerOffset.get(r)! : offsets.get(r)!;
        for (let row = 0; row < a.outSize; row++) for (let c = 0; c < n; c++) weights[row * at + to + c] = a.weights[row * a.inSize + column + c]!;
        column += n;
      }
      segment.push({ ...a, inSize: at, weights, reads: newReads });
    }
    if (end < stages.length) {
      const liveOut = isStepStage(stages[end]!) ? stepLiveOut(stages, end) : liveAt(stages, end);
      if (!(liveOut.length === 1 && liveOut[0] === end - 1)) segment.push(gather(liveOut, start, offsets, width, size, inputSize, selected.length));
    }
    segments.push(segment);
  }
  return segments;
}

/**
 * `s` reading `reads` (segment-local). Affine maps and products say whom they read; the others
 * read the stage before them, which stays so when selectors are put in front.
 */
function withReads(s: ApproxStage, reads: number[]): ApproxStage {
  if (s.kind === 'product') return { ...s, reads: [reads[0]!, reads[1]!] };
  if (s.kind === 'affine') return { ...s, reads };
  return s;
}

/** The map that picks `n` values at `offset` out of a segment input of `width` (a product's factor or a first stage's input). */
function select(offset: number, n: number, width: number): AffineStage {
  const weights = new Float64Array(n * width);
  for (let i = 0; i < n; i++) weights[i * width + offset + i] = 1;
  return { kind: 'affine', sources: ['a value carried across the refresh'], inSize: width, outSize: n, weights, bias: new Float64Array(n), reads: [BODY_INPUT] };
}

/** The map that outputs the live values, in order: carried ones from the segment input, the others from the segment's stages. */
function gather(liveOut: readonly number[], start: number, offsets: ReadonlyMap<number, number>, width: number, size: (r: number, input: number) => number, inputSize: number, shift: number): AffineStage {
  const carried = liveOut.some((v) => v < start);
  // A value may be handed over twice (a client step's input, stepLiveOut): read once, output twice.
  const inner = [...new Set(liveOut.filter((v) => v >= start))];
  const reads = [...(carried ? [BODY_INPUT] : []), ...inner.map((r) => r - start + shift)];
  const inSize = (carried ? width : 0) + inner.reduce((n, r) => n + size(r, inputSize), 0);
  const outSize = liveOut.reduce((n, v) => n + size(v, inputSize), 0);
  const weights = new Float64Array(outSize * inSize);
  const innerAt = new Map<number, number>();
  let at = carried ? width : 0;
  for (const r of inner) {
    innerAt.set(r, at);
    at += size(r, inputSize);
  }
  let row = 0;
  for (const v of liveOut) {
    const from = v < start ? offsets.get(v)! : innerAt.get(v)!;
    for (let c = 0; c < size(v, inputSize); c++) weights[row++ * inSize + from + c] = 1;
  }
  return { kind: 'affine', sources: ['values carried across the refresh'], inSize, outSize, weights, bias: new Float64Array(outSize), reads };
}

/**
 * Levels from the body input to each stage's output, estimated from the stages alone (an affine
 * map or a product one, a polynomial its Chebyshev depth, a row-wise stage its plan's depth): the
 * greedy cut search uses it; the lowering then gives the exact depth.
 */
export function stageDepths(stages: readonly ApproxStage[]): number[] {
  const depth: number[] = [];
  stages.forEach((s, k) => {
    const before = Math.max(0, ...stageReads(stages, k).map((r) => (r === BODY_INPUT ? 0 : depth[r]!)));
    const own = s.kind === 'poly' ? chebyshevDepth(s.degree) : s.kind === 'rowpoly' ? rowDepth(s) : isStepStage(s) ? 0 : 1;
    depth.push(before + own);
  });
  return depth;
}

/** Cuts chosen greedily so that no segment spends more than `budget` levels (by stageDepths), latest cut point first. */
export function greedyCuts(stages: readonly ApproxStage[], points: readonly number[], budget: number): number[] {
  const depth = stageDepths(stages);
  const cuts: number[] = [];
  let base = 0;
  let last: number | null = null;
  for (let k = 0; k < stages.length; k++) {
    // A client step cuts the body whatever the greedy choice: every live value starts fresh after it.
    if (isStepStage(stages[k]!)) {
      base = depth[k]!;
      last = null;
      continue;
    }
    if (points.includes(k)) last = k;
    if (depth[k]! - base > budget && last !== null && last !== cuts[cuts.length - 1]) {
      cuts.push(last);
      base = depth[last - 1]!;
    }
  }
  return cuts;
}
