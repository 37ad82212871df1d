/**
 * Every core: SEAL on worker threads behind the same backend seam. The calling thread
 * keeps a SEAL context of its own for everything that is not an evaluation (client keys,
 * encryption, decryption, checking circuits and evaluation keys, so errors read the same), and
 * counts as one of the `threads`. An evaluation goes to an idle worker (one of `threads − 1`,
 * each with its own node-seal instance, started with the first context) once that worker has
 * loaded node-seal, else this thread runs it; a worker loads a circuit and its evaluation keys
 * the first time it runs them and keeps them until they are disposed. An evaluation alone,
 * with every worker free, is split over all the threads instead when its plan pays
 * (compiler/circuit/parallel-time.ts): each thread runs its share of the ops and the values
 * cross through the mesh (mesh.ts). SEAL's evaluation is deterministic, so results are
 * bit-identical to one thread.
 */
import { Worker } from 'node:worker_threads';
import { inputOps, type Circuit } from '../../../compiler/circuit/ir';
import { DeepPowersError, fail, type ErrorCode } from '../../../compiler/errors';
import type { BackendContext, ContextSpec, EvaluationKeyBytes, FheBackend, LoadedCircuit, LoadedEvaluationKeys } from '../backend';
import { planParallel, type ParallelPlan } from '../../../compiler/circuit/parallel-time';
import { createSealBackendContext, sealBackend, type PartLink, type SealBackendContext, type SealLoadedCircuit } from '../seal/backend';
import { abortEvaluation, createMesh, inputReader, isStopped, linkFor, portsOf, reportedPart, splitPlanOf, type MeshEnds, type PartReport } from './mesh';
import type { ExecuteTask, LoadTask, PartTask, WorkerReply, WorkerTask } from './protocol';

export interface WorkerThreadsBackend extends FheBackend {
  /** Resolves when every worker has loaded node-seal (starting them if need be) and what it was given to load ahead of an evaluation. */
  ready(): Promise<void>;
  /** Evaluations run so far: [this thread, worker 1, …]; an evaluation split over the threads counts in `splitEvaluations`. */
  evaluationCounts(): number[];
  /** Evaluations split over the threads so far, and what each thread did in the last one ([this thread, workers that had a part…]). */
  splitEvaluations(): { readonly count: number; readonly last: readonly PartReport[] | null };
  /** Ends the workers (a command's end does not wait for them: idle workers do not hold the process). */
  close(): Promise<void>;
}

interface WorkerState {
  readonly worker: Worker;
  /** node-seal loaded: tasks go to a worker only then, so a short run never waits for one to start. */
  ready: boolean;
  readonly whenReady: Promise<void>;
  evaluations: number;
  readonly pending: Map<number, { resolve: (done: { outputs: Uint8Array[]; part?: PartReport }) => void; reject: (e: Error) => void; readonly uses: readonly string[] }>;
  /** Circuit and key names this worker has been sent. */
  readonly known: Set<string>;
  /** Those it has loaded (it answered a task that used them). */
  readonly loaded: Set<string>;
}

type ExecuteRequest = Omit<ExecuteTask, 'kind' | 'id' | 'circuit' | 'keys'> & { readonly circuit: Circuit; readonly keys: EvaluationKeyBytes };

/** An evaluation the plan splits over the threads (plan.threads > 1). */
interface SplitRequest {
  readonly plan: ParallelPlan;
  /** This thread's part of it, on its own SEAL context, through `link`. */
  runHere(link: PartLink): (Uint8Array | null)[];
}

interface Queued {
  readonly request: ExecuteRequest;
  /** The same evaluation on this thread's own SEAL context. */
  readonly runHere: () => Promise<Uint8Array[]>;
  readonly split?: SplitRequest;
  resolve(outputs: Uint8Array[]): void;
  reject(e: unknown): void;
}

class WorkerThreads {
  private readonly workers: (WorkerState | undefined)[];
  private nextTask = 1;
  /** Evaluations this thread ran. */
  local = 0;
  /** Evaluations waiting for a worker or for this thread, first come first served. */
  private readonly queue: Queued[] = [];
  private localTurnScheduled = false;
  /** The mesh between this thread (0) and the workers (1…) for split evaluations, and the workers it links. */
  private mesh: { readonly here: MeshEnds; readonly workers: readonly WorkerState[] } | undefined;
  private nextEvaluation = 1;
  /** Loads sent to workers and not answered yet. */
  private readonly preloads = new Set<Promise<void>>();
  /** Split evaluations run so far, and what each thread did in the last one. */
  splits = 0;
  lastSplit: readonly PartReport[] | null = null;

  constructor(
    size: number,
    private readonly entry: URL,
  ) {
    this.workers = new Array<WorkerState | undefined>(size);
  }

  /** Starts the workers that are not running (each loads node-seal in the background). */
  warm(): void {
    for (let i = 0; i < this.workers.length; i++) if (!this.workers[i]) this.start(i);
  }

  /** A ready, idle worker's slot, or -1 (this thread evaluates then). */
  idleSlot(): number {
    this.warm();
    for (let i = 0; i < this.workers.length; i++) {
      const w = this.workers[i];
      if (w?.ready && w.pending.size === 0) return i;
    }
    return -1;
  }

  run(slot: number, request: ExecuteRequest): Promise<Uint8Array[]> {
    const w = this.workers[slot]!;
    const id = this.nextTask++;
    // Posting a view copies its whole buffer: a request's ciphertexts are views into its
    // envelope, so each is copied out first (else n evaluations would copy n envelopes).
    const own = (b: Uint8Array | null): Uint8Array | null => (b === null ? null : b.slice());
    const task: ExecuteTask = {
      kind: 'execute',
      id,
      spec: request.spec,
      circuitKey: request.circuitKey,
      keysKey: request.keysKey,
      inputs: request.inputs.map((b) => b.slice()),
      firstInputIndex: request.firstInputIndex,
      ...(w.known.has(request.circuitKey) ? {} : { circuit: request.circuit }),
      ...(w.known.has(request.keysKey) ? {} : { keys: { relin: own(request.keys.relin), galois: own(request.keys.galois) } }),
    };
    w.known.add(request.circuitKey).add(request.keysKey);
    w.evaluations++;
    return new Promise((resolve, reject) => {
      w.pending.set(id, { resolve: (done) => resolve(done.outputs), reject, uses: [request.circuitKey, request.keysKey] });
      w.worker.ref();
      w.worker.postMessage(task);
    });
  }

  /** Has worker `w` load the circuit and keys of `request` without evaluating (nothing waits for it). */
  private preload(w: WorkerState, request: ExecuteRequest): void {
    const id = this.nextTask++;
    const task: LoadTask = {
      kind: 'load',
      id,
      spec: request.spec,
      circuitKey: request.circuitKey,
      keysKey: request.keysKey,
      ...(w.known.has(request.circuitKey) ? {} : { circuit: request.circuit }),
      ...(w.known.has(request.keysKey) ? {} : { keys: { relin: request.keys.relin?.slice() ?? null, galois: request.keys.galois?.slice() ?? null } }),
    };
    w.known.add(request.circuitKey).add(request.keysKey);
    // A failure here shows again, with its message, when an evaluation needs what failed to load.
    const done = new Promise<void>((resolve) => w.pending.set(id, { resolve: () => resolve(), reject: () => resolve(), uses: [request.circuitKey, request.keysKey] }));
    this.preloads.add(done);
    void done.then(() => this.preloads.delete(done));
    w.worker.postMessage(task);
  }

  /** Every worker has loaded node-seal and is idle: a split evaluation can have them all. */
  private allIdle(): boolean {
    this.warm();
    return this.workers.length > 0 && this.workers.every((w) => w?.ready && w.pending.size === 0);
  }

  /** The mesh for the current workers, made (and sent to them) when a worker is new. */
  private meshHere(): MeshEnds {
    const workers = this.workers.map((w) => w!);
    if (this.mesh && this.mesh.workers.every((w, i) => w === workers[i])) return this.mesh.here;
    for (const p of this.mesh ? portsOf(this.mesh.here) : []) p.close();
    const ends = createMesh(workers.length + 1);
    workers.forEach((w, i) => w.worker.postMessage({ kind: 'mesh', ends: ends[i + 1]! } satisfies WorkerTask, portsOf(ends[i + 1]!)));
    for (const p of portsOf(ends[0]!)) p.unref();
    this.mesh = { here: ends[0]!, workers };
    return ends[0]!;
  }

  /**
   * One evaluation on every thread of the plan: each worker is sent its part, then this thread
   * runs its own (blocking until it has its outputs, which the plan keeps here); the workers'
   * replies say they finished. When a part fails the others are told to stop, and the error
   * reported is the failing part's, not the "stopped" of the ones that waited for it.
   */
  private runSplit(q: Queued, split: SplitRequest): void {
    const { plan } = split;
    const { circuit } = q.request;
    const here = this.meshHere();
    const evaluation = this.nextEvaluation++;
    const patienceMs = 60_000 + 20 * plan.serialMs;
    const splitPlan = splitPlanOf(circuit, plan.order, plan.threadOf);
    const parts: Promise<{ outputs: Uint8Array[]; part?: PartReport }>[] = [];
    const reports: PartReport[] = [];
    const inputOp = inputOps(circuit);
    for (let t = 1; t <= this.workers.length; t++) {
      if (!plan.threadOf.includes(t)) continue;
      const w = this.workers[t - 1]!;
      const reads = inputReader(circuit, plan.threadOf, t);
      const id = this.nextTask++;
      const task: PartTask = {
        kind: 'part',
        id,
        evaluation,
        spec: q.request.spec,
        circuitKey: q.request.circuitKey,
        keysKey: q.request.keysKey,
        firstInputIndex: q.request.firstInputIndex,
        order: plan.order,
        threadOf: plan.threadOf,
        inputs: q.request.inputs.map((b, k) => (reads(inputOp[k] ?? -1) ? b.slice() : null)),
        patienceMs,
        ...(w.known.has(q.request.circuitKey) ? {} : { circuit }),
        ...(w.known.has(q.request.keysKey) ? {} : { keys: { relin: q.request.keys.relin?.slice() ?? null, galois: q.request.keys.galois?.slice() ?? null } }),
      };
      w.known.add(q.request.circuitKey).add(q.request.keysKey);
      parts.push(
        new Promise((resolve, reject) => {
          w.pending.set(id, { resolve, reject, uses: [q.request.circuitKey, q.request.keysKey] });
          w.worker.ref();
          w.worker.postMessage(task);
        }),
      );
    }
    this.splits++;
    const link = linkFor(here, evaluation, splitPlan, inputReader(circuit, plan.threadOf, 0), patienceMs);
    let outputs: (Uint8Array | null)[] = [];
    let failure: unknown;
    try {
      const done = reportedPart(link, () => split.runHere(link));
      outputs = done.value;
      reports.push(done.report);
    } catch (e) {
      abortEvaluation(here, evaluation);
      failure = e;
    }
    void Promise.allSettled(parts).then((settled) => {
      const workerFailure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !isStopped(r.reason));
      if (failure !== undefined && !(isStopped(failure) && workerFailure)) return q.reject(failure);
      if (workerFailure) return q.reject(workerFailure.reason);
      const stopped = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (stopped) return q.reject(stopped.reason);
      for (const r of settled) if (r.status === 'fulfilled' && r.value.part) reports.push(r.value.part);
      this.lastSplit = reports;
      const missing = circuit.outputs.findIndex((_, k) => !outputs[k]);
      if (missing >= 0) return q.reject(new DeepPowersError('IO', `the split evaluation did not produce output ${missing}`));
      q.resolve(outputs as Uint8Array[]);
    });
  }

  drop(task: Omit<Extract<WorkerTask, { kind: 'drop' }>, 'kind'>): void {
    for (const w of this.workers) {
      if (!w) continue;
      const name = task.keysKey ?? task.circuitKey!;
      w.loaded.delete(name);
      if (!w.known.delete(name)) continue;
      w.worker.postMessage({ kind: 'drop', ...task } satisfies WorkerTask);
    }
  }

  async ready(): Promise<void> {
    this.warm();
    // Someone waits for them: the workers hold the process until they are up.
    await Promise.all(
      this.workers.map(async (w) => {
        if (!w) return;
        w.worker.ref();
        await w.whenReady;
        if (w.pending.size === 0) w.worker.unref();
      }),
    );
    // And until the circuits and keys they were given to load are loaded.
    await Promise.all(this.preloads);
  }

  /**
   * One evaluation: to an idle, ready worker when there is one, else to this thread, which takes
   * one queued evaluation per turn of the event loop. Between two, the workers' replies are read
   * and each freed worker is given the next evaluation first: evaluating here blocks this thread,
   * so without the turn a worker's reply would wait behind it and the worker would idle.
   */
  submit(request: ExecuteRequest, runHere: () => Promise<Uint8Array[]>, split?: SplitRequest): Promise<Uint8Array[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, runHere, ...(split ? { split } : {}), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    this.toWorkers();
    if (this.queue.length === 0 || this.localTurnScheduled) return;
    this.localTurnScheduled = true;
    setImmediate(() => {
      this.localTurnScheduled = false;
      // A lone evaluation with a plan over the threads, every worker free: split it.
      const head = this.queue[0];
      if (this.queue.length === 1 && head?.split && this.allIdle()) {
        const { circuitKey, keysKey } = head.request;
        const unloaded = this.workers.filter((w) => !w!.loaded.has(circuitKey) || !w!.loaded.has(keysKey));
        if (unloaded.length === 0) {
          this.queue.shift();
          this.runSplit(head, head.split);
          this.pump();
          return;
        }
        // Loading a model's keys in a worker can take longer than a split saves: this one runs
        // here, whole, while the workers load them, so that the next evaluation alone splits.
        for (const w of unloaded) this.preload(w!, head.request);
      }
      this.toWorkers();
      const q = this.queue.shift();
      if (q) {
        this.local++;
        q.runHere().then(q.resolve, q.reject);
      }
      this.pump();
    });
  }

  private toWorkers(): void {
    // A lone splittable evaluation waits for this thread's turn, where it is split (or, when
    // more evaluations have come by then, goes to a thread whole like them).
    if (this.queue.length === 1 && this.queue[0]!.split && this.allIdle()) return;
    while (this.queue.length > 0) {
      const slot = this.idleSlot();
      if (slot < 0) return;
      const q = this.queue.shift()!;
      this.run(slot, q.request).then(q.resolve, q.reject);
    }
  }

  counts(): number[] {
    return [this.local, ...this.workers.map((w) => w?.evaluations ?? 0)];
  }

  async close(): Promise<void> {
    for (const p of this.mesh ? portsOf(this.mesh.here) : []) p.close();
    this.mesh = undefined;
    await Promise.all(this.workers.map((w) => w?.worker.terminate()));
    this.workers.fill(undefined);
  }

  private start(slot: number): WorkerState {
    const worker = new Worker(this.entry);
    let markReady = () => {};
    const whenReady = new Promise<void>((resolve) => (markReady = resolve));
    const w: WorkerState = { worker, ready: false, whenReady, evaluations: 0, pending: new Map(), known: new Set(), loaded: new Set() };
    worker.on('message', (reply: WorkerReply) => {
      if ('ready' in reply) {
        w.ready = true;
        markReady();
        return;
      }
      const p = w.pending.get(reply.id);
      if (!p) return;
      w.pending.delete(reply.id);
      if (w.pending.size === 0) worker.unref();
      queueMicrotask(() => this.pump());
      if (reply.ok) for (const name of p.uses) w.loaded.add(name);
      if (reply.ok) p.resolve({ outputs: reply.outputs.map((o) => new Uint8Array(o)), ...(reply.part ? { part: reply.part } : {}) });
      else if (reply.code) p.reject(new DeepPowersError(reply.code as ErrorCode, reply.message));
      else {
        // Not a refusal but a failure inside the engine (a WebAssembly trap leaves its heap
        // suspect): the worker is replaced rather than trusted again. Its slot is freed now, not
        // when the thread has exited, or the next evaluation could be handed to the dying worker.
        w.ready = false;
        if (this.workers[slot] === w) this.workers[slot] = undefined;
        p.reject(new DeepPowersError('IO', `the encryption library failed on an evaluation thread (${reply.message}); the thread was replaced, so later evaluations work`));
        void worker.terminate();
      }
    });
    // A worker that dies takes its tasks with it: they fail with one line, and the slot starts a
    // fresh worker (which is sent circuits and keys again) the next time it is used.
    const lost = (why: string) => {
      markReady();
      if (this.workers[slot] === w) this.workers[slot] = undefined;
      for (const p of w.pending.values()) p.reject(new DeepPowersError('IO', `an evaluation thread stopped (${why}); the evaluation was not finished`));
      w.pending.clear();
      this.pump();
    };
    worker.on('error', (e) => lost(e.message));
    worker.on('exit', (code) => lost(`exit code ${code}`));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
    this.workers[slot] = w;
    return w;
  }
}

let nextName = 1;

/**
 * SEAL on `threads` threads: this one and `threads − 1` workers. `workerEntry` is the workers'
 * script (worker-thread.ts through worker-entry.mjs; tests substitute a stand-in that crashes).
 */
export function workerThreadsBackend(threads: number, options: { readonly workerEntry?: URL } = {}): WorkerThreadsBackend {
  if (!Number.isInteger(threads) || threads < 1) fail('BAD_ARGUMENT', `threads must be a positive integer, got ${threads}`);
  const workers = new WorkerThreads(threads - 1, options.workerEntry ?? new URL('./worker-entry.mjs', import.meta.url));
  return {
    name: 'seal',
    concurrency: threads,
    wasmHeap: true,
    async createContext(spec) {
      // Workers load node-seal while this thread makes keys and encrypts.
      workers.warm();
      return threadedContext(await createSealBackendContext(spec), workers, threads);
    },
    engineGeneration: sealBackend.engineGeneration,
    noteFailure: sealBackend.noteFailure,
    engineStale: sealBackend.engineStale,
    ready: () => workers.ready(),
    evaluationCounts: () => workers.counts(),
    splitEvaluations: () => ({ count: workers.splits, last: workers.lastSplit }),
    close: () => workers.close(),
  };
}

function threadedContext(ctx: SealBackendContext, workers: WorkerThreads, threads: number): BackendContext {
  return { ...ctx, loadCircuit: (circuit) => threadedCircuit(ctx.spec, circuit, ctx.loadCircuit(circuit), workers, threads) };
}

function threadedCircuit(spec: ContextSpec, circuit: Circuit, local: SealLoadedCircuit, workers: WorkerThreads, threads: number): LoadedCircuit {
  const circuitKey = `circuit ${nextName++}`;
  // How one evaluation spreads over the threads, planned once, when first needed.
  let plan: ParallelPlan | undefined;
  const handles = new WeakMap<LoadedEvaluationKeys, { readonly local: LoadedEvaluationKeys; readonly bytes: EvaluationKeyBytes; readonly keysKey: string }>();
  return {
    needs: local.needs,
    loadEvaluationKeys(bytes) {
      const loaded = local.loadEvaluationKeys(bytes);
      const keysKey = `keys ${nextName++}`;
      const handle: LoadedEvaluationKeys = {
        dispose() {
          loaded.dispose();
          workers.drop({ keysKey });
        },
      };
      handles.set(handle, { local: loaded, bytes, keysKey });
      return handle;
    },
    async execute(inputs, keys, firstInputIndex = 0) {
      const h = handles.get(keys);
      if (!h) fail('BAD_ARGUMENT', 'these evaluation keys were loaded for another circuit');
      plan ??= planParallel(circuit, threads);
      const p = plan;
      const split =
        p.threads > 1
          ? // This thread checks every input, so a bad request is refused as on one thread.
            { plan: p, runHere: (link: PartLink) => local.executePart(inputs, h.local, link, firstInputIndex) }
          : undefined;
      return workers.submit({ spec, circuitKey, circuit, keysKey: h.keysKey, keys: h.bytes, inputs, firstInputIndex }, () => local.execute(inputs, h.local, firstInputIndex), split);
    },
    dispose() {
      local.dispose();
      workers.drop({ circuitKey });
    },
  };
}
