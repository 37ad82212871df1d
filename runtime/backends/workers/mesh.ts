/**
 * The links between the threads of the worker threads for one evaluation split over them
 * (compiler/circuit/parallel-time.ts plans it): a MessagePort for each ordered pair of threads
 * and one shared counter per thread. A thread runs its part of the circuit without returning to
 * its event loop, so it reads its ports with receiveMessageOnPort and sleeps on its counter
 * (Atomics.wait) until a sender bumps it; a value crosses as a transferred buffer, not a copy.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { operandsOf, type Circuit } from '../../../compiler/circuit/ir';
import { receiversOf } from '../../../compiler/circuit/parallel-time';
import { DeepPowersError } from '../../../compiler/errors';
import type { PartLink } from '../seal/backend';

/** What one thread holds of the mesh (sent to a worker once, its ports transferred). */
export interface MeshEnds {
  readonly self: number;
  /** outgoing[t]: the port to send to thread t (null for itself). */
  readonly outgoing: readonly (MessagePort | null)[];
  /** incoming[t]: the port thread t sends to this one on. */
  readonly incoming: readonly (MessagePort | null)[];
  /** Over a SharedArrayBuffer: one message counter per thread, then the last aborted evaluation. */
  readonly signal: Int32Array;
}

/** The ends of a mesh of `threads` threads, indexed by thread (0 is the backend's own). */
export function createMesh(threads: number): MeshEnds[] {
  const signal = new Int32Array(new SharedArrayBuffer(4 * (threads + 1)));
  const outgoing = Array.from({ length: threads }, () => new Array<MessagePort | null>(threads).fill(null));
  const incoming = Array.from({ length: threads }, () => new Array<MessagePort | null>(threads).fill(null));
  for (let s = 0; s < threads; s++) {
    for (let r = 0; r < threads; r++) {
      if (s === r) continue;
      const { port1, port2 } = new MessageChannel();
      outgoing[s]![r] = port1;
      incoming[r]![s] = port2;
    }
  }
  return outgoing.map((out, self) => ({ self, outgoing: out, incoming: incoming[self]!, signal }));
}

/** The ports of a thread's ends, for postMessage's transfer list. */
export function portsOf(ends: MeshEnds): MessagePort[] {
  return [...ends.outgoing, ...ends.incoming].filter((p): p is MessagePort => p !== null);
}

/** The plan of a split evaluation as every thread gets it. */
export interface SplitPlan {
  readonly order: Int32Array;
  /** Thread of each op; -1 for inputs (each thread that reads one loads it from the request). */
  readonly threadOf: Int32Array;
  /** Per op, the other threads that read it. */
  readonly receivers: readonly (readonly number[])[];
}

/** The plan of `circuit` with its receivers worked out (each thread does it for itself). */
export function splitPlanOf(circuit: Circuit, order: Int32Array, threadOf: Int32Array): SplitPlan {
  return { order, threadOf, receivers: receiversOf(circuit, threadOf) };
}

/** Whether thread `self` reads each input op (it loads that input from the request). */
export function inputReader(circuit: Circuit, threadOf: Int32Array, self: number): (i: number) => boolean {
  const reads = new Uint8Array(circuit.ops.length);
  circuit.ops.forEach((op, j) => {
    if (threadOf[j] === self) for (const v of operandsOf(op)) if (threadOf[v] === -1) reads[v] = 1;
  });
  return (i) => reads[i] === 1;
}

const STOPPED = 'another evaluation thread failed; this evaluation was stopped';

/** Whether `e` is a part's "stopped because another part failed" (the error to report is that other part's). */
export function isStopped(e: unknown): boolean {
  return e instanceof Error && e.message === STOPPED;
}

interface ValueMessage {
  readonly evaluation: number;
  readonly value: number;
  readonly bytes: Uint8Array;
}

export interface ThreadLink extends PartLink {
  /** Tells every thread to stop waiting: this thread's part failed. */
  abort(): void;
  /** The ops this thread ran, in order. */
  readonly ran: readonly number[];
  /** Values received and sent, and the time spent receiving (waiting included). */
  readonly stats: { readonly waitMs: number; readonly received: number; readonly sent: number };
}

/** What one thread did in a split evaluation: its ops, its CPU time, and its transfers. */
export interface PartReport {
  readonly ran: readonly number[];
  /** CPU time of the thread during its part (the time its share took, contention aside). */
  readonly cpuMs: number;
  /** Time spent waiting for values from other threads. */
  readonly waitMs: number;
  readonly received: number;
  readonly sent: number;
}

/** Runs a thread's part through `link` and reports it. */
export function reportedPart<T>(link: ThreadLink, run: () => T): { readonly value: T; readonly report: PartReport } {
  const cpu = process.threadCpuUsage();
  const value = run();
  const used = process.threadCpuUsage(cpu);
  return { value, report: { ran: link.ran, cpuMs: (used.user + used.system) / 1000, ...link.stats } };
}

/**
 * This thread's link for evaluation `evaluation` (a number the backend never reuses). A wait longer
 * than `patienceMs` fails with one line, so a thread that died mid-evaluation cannot hang the
 * others forever.
 */
export function linkFor(ends: MeshEnds, evaluation: number, plan: SplitPlan, readsInput: (i: number) => boolean, patienceMs: number): ThreadLink {
  const { self, signal } = ends;
  const abortSlot = ends.outgoing.length;
  const arrived = new Map<number, Uint8Array>();
  const ran: number[] = [];
  const stats = { waitMs: 0, received: 0, sent: 0 };
  const bump = (t: number) => {
    Atomics.add(signal, t, 1);
    Atomics.notify(signal, t);
  };
  const drain = (): void => {
    for (const port of ends.incoming) {
      if (!port) continue;
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
        const msg = m.message as ValueMessage;
        // A value of an evaluation that was aborted earlier: nobody will read it.
        if (msg.evaluation === evaluation) arrived.set(msg.value, msg.bytes);
      }
    }
  };
  return {
    order: plan.order,
    ran,
    runs: (i) => (plan.threadOf[i] === -1 ? readsInput(i) : plan.threadOf[i] === self),
    computed(i) {
      ran.push(i);
      return plan.receivers[i]!.length > 0;
    },
    send(i, bytes) {
      stats.sent++;
      const to = plan.receivers[i]!;
      to.forEach((r, k) => {
        const last = k === to.length - 1;
        // The buffer moves to the last receiver; the others get copies.
        const message: ValueMessage = { evaluation, value: i, bytes: last ? bytes : bytes.slice() };
        ends.outgoing[r]!.postMessage(message, last ? [bytes.buffer] : []);
        bump(r);
      });
    },
    receive(v) {
      const t0 = performance.now();
      try {
        return receiveNow(v);
      } finally {
        stats.waitMs += performance.now() - t0;
        stats.received++;
      }
    },
    stats,
    abort: () => abortEvaluation(ends, evaluation),
  };
  function receiveNow(v: number): Uint8Array {
    const deadline = performance.now() + patienceMs;
    for (;;) {
      // Read the counter before the ports: a message posted after the read bumps it, so the wait below returns at once.
      const seen = Atomics.load(signal, self);
      drain();
      const bytes = arrived.get(v);
      if (bytes) {
        arrived.delete(v);
        return bytes;
      }
      if (Atomics.load(signal, abortSlot) === evaluation) throw new DeepPowersError('IO', STOPPED);
      const left = deadline - performance.now();
      if (left <= 0) throw new DeepPowersError('IO', `value ${v} from evaluation thread ${plan.threadOf[v]} did not arrive within ${Math.round(patienceMs / 1000)} s; the evaluation was stopped`);
      Atomics.wait(signal, self, seen, Math.min(left, 1000));
    }
  }
}

/** Tells every thread waiting in evaluation `evaluation` to stop: a part of it failed. */
export function abortEvaluation(ends: MeshEnds, evaluation: number): void {
  const threads = ends.outgoing.length;
  Atomics.store(ends.signal, threads, evaluation);
  for (let t = 0; t < threads; t++) {
    Atomics.add(ends.signal, t, 1);
    Atomics.notify(ends.signal, t);
  }
}
