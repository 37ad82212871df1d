/**
 * One evaluation on several threads: which thread runs each op of a circuit, and the time the
 * cost model predicts for it. Each thread has its own SEAL instance, so a value computed on one
 * thread and read on another is serialized, posted and loaded there; that transfer is charged
 * to both threads, and a plan whose gain is small next to it runs on one thread.
 *
 * The plan is a list schedule (listSchedule): an op is taken once its operands are placed — the
 * one with the longest chain of work after it, or the one that can start first; both are tried
 * and the faster kept — and goes to the thread where it would finish first, counting the
 * transfers of its operands. The ops sorted by planned start are one order for every thread;
 * each thread runs its own ops in that order and sends each value the moment it is computed to
 * the other threads that read it, so the plan cannot deadlock, and `parallelMs` is that execution
 * replayed with the same costs. Independent operations — the baby-step rotations and diagonal
 * products of a matrix-vector product, the powers of a polynomial, the ciphertexts of a batch or
 * the channels of a convolution — land on different threads because the circuit does not order
 * them; nothing here knows which layer an op came from.
 *
 * Kept apart from the serial estimate (count.ts), which plans parameters: this is only about
 * spreading one circuit over threads.
 */
import { costedLevel, costMicros, costsFor, type OpCosts } from './count';
import { operandsOf, type Circuit, type Level, type Op } from './ir';
import { opInfo } from './op-table';

/**
 * Moving one ciphertext between threads, in additions at its level (serializing, posting the
 * buffer as a transferable, loading): `npx tsx runtime/bench/transfer-cost.ts` measured 7–10
 * additions in all at N = 8192 and 16384 on the 2-core EPYC (save about 5, post 1–2, load 1–3).
 * The sender pays the save and the post, the receiver the load. An input ciphertext is loaded
 * from the request by every thread that reads it, at the receiving side's cost.
 */
export const SEND_ADDS = 6;
export const RECEIVE_ADDS = 4;

/** Beyond this many ops the 'earliest-start' schedule (quadratic in the ops that are ready at once) is not tried. */
const EARLIEST_START_MAX_OPS = 5000;

/** A plan that saves less than this fraction of the one-thread time runs on one thread. */
export const MIN_GAIN = 0.1;

export interface ParallelPlan {
  /** Threads the plan uses; 1 means the evaluation runs in one piece, as without threads. */
  readonly threads: number;
  /** The order every thread runs its ops in (a topological order of the circuit; op order when `threads` is 1). */
  readonly order: Int32Array;
  /** Thread of each op (0 is the thread that holds the request); -1 for inputs, loaded by each thread that reads them. Outputs are on thread 0. */
  readonly threadOf: Int32Array;
  /** Predicted time of one evaluation on one thread and on `threads`, in ms (inputs loaded, outputs not saved). */
  readonly serialMs: number;
  readonly parallelMs: number;
}

/** The plan for one evaluation of `circuit` on at most `threads` threads. */
export function planParallel(circuit: Circuit, threads: number, costs: OpCosts = costsFor(2 * circuit.slots)): ParallelPlan {
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
  const ops = circuit.ops;
  const cost = ops.map((op) => {
    const kind = opInfo(op).cost;
    return kind === null ? 0 : costMicros(kind, costedLevel(op), costs);
  });
  const adds = (level: Level, n: number): number => n * costMicros('add', level, costs);
  const send = (v: number): number => adds(ops[v]!.level, SEND_ADDS);
  const receive = (v: number): number => adds(ops[v]!.level, RECEIVE_ADDS);

  const serialOrder = Int32Array.from(ops.keys());
  const serialThreadOf = Int32Array.from(ops, (op) => (op.op === 'input' ? -1 : 0));
  const serialMs = replay(circuit, serialOrder, serialThreadOf, 1, cost, send, receive);
  const serial: ParallelPlan = { threads: 1, order: serialOrder, threadOf: serialThreadOf, serialMs, parallelMs: serialMs };
  if (threads === 1) return serial;

  const T = threads;
  const n = ops.length;
  const readers: number[][] = ops.map(() => []);
  ops.forEach((op, i) => {
    for (const v of new Set(operandsOf(op))) readers[v]!.push(i);
  });
  // Priority: the longest chain of work from an op to the end (its "bottom level").
  const bottom = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) bottom[i] = cost[i]! + Math.max(0, ...readers[i]!.map((r) => bottom[r]!));

  // Two ways to pick the next op, each suited to some circuits; the plan is the faster replay.
  let best: { readonly order: Int32Array; readonly threadOf: Int32Array; readonly ms: number } | undefined;
  for (const pick of ['longest-path', 'earliest-start'] as const) {
    if (pick === 'earliest-start' && n > EARLIEST_START_MAX_OPS) continue;
    const { order, threadOf } = listSchedule(ops, T, pick, cost, bottom, readers, send, receive);
    const ms = replay(circuit, order, threadOf, T, cost, send, receive);
    if (!best || ms < best.ms) best = { order, threadOf, ms };
  }
  const { order, threadOf } = best!;
  const parallelMs = improve(circuit, order, threadOf, T, cost, send, receive, best!.ms);
  const used = new Set(threadOf.filter((t) => t >= 0)).size;
  if (used < 2 || parallelMs > serialMs * (1 - MIN_GAIN)) return serial;
  return { threads: used, order, threadOf, serialMs, parallelMs };
}

/**
 * A list schedule: ops are taken when their operands are scheduled — the one with the longest
 * chain of work after it ('longest-path'), or the one that can start first, ties to the longer
 * chain ('earliest-start') — and each goes to the thread where it finishes first. Returns the
 * thread of each op and one order for every thread.
 */
function listSchedule(
  ops: readonly Op[],
  T: number,
  pick: 'longest-path' | 'earliest-start',
  cost: readonly number[],
  bottom: Float64Array,
  readers: readonly (readonly number[])[],
  send: (v: number) => number,
  receive: (v: number) => number,
): { order: Int32Array; threadOf: Int32Array } {
  const n = ops.length;
  const threadOf = new Int32Array(n);
  const start = new Float64Array(n);
  const finish = new Float64Array(n);
  const sequence = new Int32Array(n);
  // Time each thread is free, and when each value is available on each thread (Infinity: not there).
  const ready = new Float64Array(T);
  const availableAt = new Float64Array(n * T).fill(Infinity);
  const waiting = Int32Array.from(ops, (op) => new Set(operandsOf(op)).size);
  const queue = new MaxHeap((i) => bottom[i]!, (i) => -i);
  const candidates: number[] = [];
  const take = (i: number) => (pick === 'longest-path' ? queue.push(i) : candidates.push(i));
  ops.forEach((op, i) => {
    if (waiting[i] === 0) take(i);
  });
  /** Where op i would run now: the thread it finishes first on, its start and how many operands move. */
  const place = (i: number) => {
    const op = ops[i]!;
    const operands = [...new Set(operandsOf(op))];
    let best = -1;
    let bestStart = Infinity;
    let bestFinish = Infinity;
    let bestMoves = Infinity;
    for (let t = 0; t < (op.op === 'output' ? 1 : T); t++) {
      let begin = ready[t]!;
      let moves = 0;
      for (const v of operands) {
        const here = availableAt[v * T + t]!;
        if (here < Infinity) begin = Math.max(begin, here);
        else if (threadOf[v] === -1) begin += receive(v);
        else {
          begin = Math.max(begin, finish[v]! + send(v)) + receive(v);
          moves++;
        }
      }
      const end = begin + cost[i]!;
      // Ties (cheap ops, idle threads) go to the thread that already holds the operands.
      if (end < bestFinish || (end === bestFinish && moves < bestMoves)) {
        best = t;
        bestStart = begin;
        bestFinish = end;
        bestMoves = moves;
      }
    }
    return { operands, best, bestStart, bestFinish };
  };
  for (let seq = 0; queue.size > 0 || candidates.length > 0; seq++) {
    let i: number;
    if (pick === 'longest-path') i = queue.pop();
    else {
      let k = 0;
      let kStart = Infinity;
      candidates.forEach((c, j) => {
        const at = ops[c]!.op === 'input' ? -1 : place(c).bestStart;
        if (at < kStart || (at === kStart && bottom[c]! > bottom[candidates[k]!]!)) {
          k = j;
          kStart = at;
        }
      });
      i = candidates[k]!;
      candidates[k] = candidates.at(-1)!;
      candidates.pop();
    }
    const op = ops[i]!;
    sequence[i] = seq;
    for (const r of readers[i]!) if (--waiting[r]! === 0) take(r);
    if (op.op === 'input') {
      threadOf[i] = -1;
      continue;
    }
    const { operands, best, bestStart, bestFinish } = place(i);
    for (const v of operands) {
      if (availableAt[v * T + best]! < Infinity) continue;
      availableAt[v * T + best] = bestStart;
      if (threadOf[v] !== -1) ready[threadOf[v]!]! += send(v);
    }
    threadOf[i] = best;
    start[i] = bestStart;
    finish[i] = bestFinish;
    ready[best] = bestFinish;
    availableAt[i * T + best] = bestFinish;
  }
  // One order for every thread: by start time, ties in scheduling order, which puts every
  // operand before its readers and keeps each thread's ops in the order it was given them.
  const order = Int32Array.from(ops.keys()).sort((a, b) => start[a]! - start[b]! || sequence[a]! - sequence[b]!);

  return { order, threadOf };
}

/** The predicted time of one evaluation on `threads` threads, in ms: the plan's, or one thread's when splitting does not pay. */
export function parallelTimeMs(circuit: Circuit, threads: number, costs?: OpCosts): number {
  return planParallel(circuit, threads, costs).parallelMs;
}

/**
 * For each op, the other threads that read its value, in ascending order: where a thread sends
 * the value once it has computed it. Inputs are not sent (each reader loads its own).
 */
export function receiversOf(circuit: Circuit, threadOf: Int32Array): readonly (readonly number[])[] {
  const sets = circuit.ops.map(() => new Set<number>());
  circuit.ops.forEach((op, i) => {
    for (const v of operandsOf(op)) if (threadOf[v] !== -1 && threadOf[v] !== threadOf[i]) sets[v]!.add(threadOf[i]!);
  });
  return sets.map((s) => [...s].sort((a, b) => a - b));
}

/** Beyond this many op moves × op count, `improve` is skipped (it replays the whole plan for every move it tries). */
const IMPROVE_MAX_WORK = 2e6;

/**
 * One pass of local search over the schedule: each op in turn (outputs stay on thread 0) is
 * tried on every other thread, keeping the order, and stays where the replayed time is least.
 * Any order that puts operands first serves every thread, so no move can deadlock. Updates
 * `threadOf` in place; returns the replayed time.
 */
function improve(circuit: Circuit, order: Int32Array, threadOf: Int32Array, T: number, cost: readonly number[], send: (v: number) => number, receive: (v: number) => number, ms: number): number {
  const n = circuit.ops.length;
  if (n * n * (T - 1) > IMPROVE_MAX_WORK) return ms;
  let bestMs = ms;
  for (const i of order) {
    const op = circuit.ops[i]!;
    if (op.op === 'input' || op.op === 'output') continue;
    const was = threadOf[i]!;
    let keep = was;
    for (let t = 0; t < T; t++) {
      if (t === was) continue;
      threadOf[i] = t;
      const tried = replay(circuit, order, threadOf, T, cost, send, receive);
      if (tried < bestMs) {
        bestMs = tried;
        keep = t;
      }
    }
    threadOf[i] = keep;
  }
  return bestMs;
}

/**
 * The execution the runtime performs for a plan, with the model's costs: each thread runs its
 * ops in op order, loads an input or receives a value the first time it reads it (waiting for
 * the sender), and sends each value it computes to its receivers right away. Returns ms.
 */
function replay(circuit: Circuit, order: Int32Array, threadOf: Int32Array, T: number, cost: readonly number[], send: (v: number) => number, receive: (v: number) => number): number {
  const ops = circuit.ops;
  const receivers = receiversOf(circuit, threadOf);
  const time = new Float64Array(T);
  const arrives = new Float64Array(ops.length * T).fill(Infinity);
  const held = new Uint8Array(ops.length * T);
  for (const i of order) {
    const op = ops[i]!;
    const t = threadOf[i]!;
    if (t === -1) continue;
    let now = time[t]!;
    for (const v of new Set(operandsOf(op))) {
      if (held[v * T + t]) continue;
      held[v * T + t] = 1;
      if (threadOf[v] === -1) now += receive(v);
      else now = Math.max(now, arrives[v * T + t]!) + receive(v);
    }
    now += cost[i]!;
    held[i * T + t] = 1;
    for (const r of receivers[i]!) {
      now += send(i);
      arrives[i * T + r] = now;
    }
    time[t] = now;
  }
  return Math.max(...time) / 1000;
}

/** A binary max-heap of op indices by `key`, ties by `tie` (larger first). */
class MaxHeap {
  private readonly items: number[] = [];
  constructor(
    private readonly key: (i: number) => number,
    private readonly tie: (i: number) => number,
  ) {}
  get size(): number {
    return this.items.length;
  }
  private above(a: number, b: number): boolean {
    const d = this.key(a) - this.key(b);
    return d > 0 || (d === 0 && this.tie(a) > this.tie(b));
  }
  push(x: number): void {
    const h = this.items;
    h.push(x);
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.above(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): number {
    const h = this.items;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.above(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.above(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
