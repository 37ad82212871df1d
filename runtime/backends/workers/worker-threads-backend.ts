/**
 * Every core: SEAL on worker threads behind the same backend seam. The calling thread
 * keeps a SEAL context of its own for everything that is not an evaluation (client keys,
 * encryption, decryption, checking circuits and evaluation keys, so errors read the same), and
 * counts as one of the `threads`. An evaluation goes to an idle worker (one of `threads − 1`,
 * each with its own node-seal instance, started with the first context) once that worker has
 * loaded node-seal, else this thread runs it; a worker loads a circuit and its evaluation keys
 * the first time it runs them and keeps them until they are disposed. SEAL's
 * evaluation is deterministic, so results are bit-identical to one thread.
 */
import { Worker } from 'node:worker_threads';
import type { Circuit } from '../../../compiler/circuit/ir';
import { DeepPowersError, fail, type ErrorCode } from '../../../compiler/errors';
import type { BackendContext, ContextSpec, EvaluationKeyBytes, FheBackend, LoadedCircuit, LoadedEvaluationKeys } from '../backend';
import { sealBackend } from '../seal/backend';
import type { ExecuteTask, WorkerReply, WorkerTask } from './protocol';

export interface WorkerThreadsBackend extends FheBackend {
  /** Resolves when every worker has loaded node-seal (starting them if need be). */
  ready(): Promise<void>;
  /** Evaluations run so far: [this thread, worker 1, …]. */
  evaluationCounts(): number[];
  /** Ends the workers (a command's end does not wait for them: idle workers do not hold the process). */
  close(): Promise<void>;
}

interface WorkerState {
  readonly worker: Worker;
  /** node-seal loaded: tasks go to a worker only then, so a short run never waits for one to start. */
  ready: boolean;
  readonly whenReady: Promise<void>;
  evaluations: number;
  readonly pending: Map<number, { resolve: (outputs: Uint8Array[]) => void; reject: (e: Error) => void }>;
  /** Circuit and key names this worker has been sent. */
  readonly known: Set<string>;
}

type ExecuteRequest = Omit<ExecuteTask, 'kind' | 'id' | 'circuit' | 'keys'> & { readonly circuit: Circuit; readonly keys: EvaluationKeyBytes };

interface Queued {
  readonly request: ExecuteRequest;
  /** The same evaluation on this thread's own SEAL context. */
  readonly runHere: () => Promise<Uint8Array[]>;
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
      w.pending.set(id, { resolve, reject });
      w.worker.ref();
      w.worker.postMessage(task);
    });
  }

  drop(task: Omit<Extract<WorkerTask, { kind: 'drop' }>, 'kind'>): void {
    for (const w of this.workers) {
      if (!w) continue;
      const name = task.keysKey ?? task.circuitKey!;
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
  }

  /**
   * One evaluation: to an idle, ready worker when there is one, else to this thread, which takes
   * one queued evaluation per turn of the event loop. Between two, the workers' replies are read
   * and each freed worker is given the next evaluation first: evaluating here blocks this thread,
   * so without the turn a worker's reply would wait behind it and the worker would idle.
   */
  submit(request: ExecuteRequest, runHere: () => Promise<Uint8Array[]>): Promise<Uint8Array[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, runHere, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    this.toWorkers();
    if (this.queue.length === 0 || this.localTurnScheduled) return;
    this.localTurnScheduled = true;
    setImmediate(() => {
      this.localTurnScheduled = false;
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
    await Promise.all(this.workers.map((w) => w?.worker.terminate()));
    this.workers.fill(undefined);
  }

  private start(slot: number): WorkerState {
    const worker = new Worker(this.entry);
    let markReady = () => {};
    const whenReady = new Promise<void>((resolve) => (markReady = resolve));
    const w: WorkerState = { worker, ready: false, whenReady, evaluations: 0, pending: new Map(), known: new Set() };
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
      if (reply.ok) p.resolve(reply.outputs.map((o) => new Uint8Array(o)));
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
    async createContext(spec) {
      // Workers load node-seal while this thread makes keys and encrypts.
      workers.warm();
      return threadedContext(await sealBackend.createContext(spec), workers);
    },
    engineGeneration: sealBackend.engineGeneration,
    noteFailure: sealBackend.noteFailure,
    engineStale: sealBackend.engineStale,
    ready: () => workers.ready(),
    evaluationCounts: () => workers.counts(),
    close: () => workers.close(),
  };
}

function threadedContext(ctx: BackendContext, workers: WorkerThreads): BackendContext {
  return { ...ctx, loadCircuit: (circuit) => threadedCircuit(ctx.spec, circuit, ctx.loadCircuit(circuit), workers) };
}

function threadedCircuit(spec: ContextSpec, circuit: Circuit, local: LoadedCircuit, workers: WorkerThreads): LoadedCircuit {
  const circuitKey = `circuit ${nextName++}`;
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
      return workers.submit({ spec, circuitKey, circuit, keysKey: h.keysKey, keys: h.bytes, inputs, firstInputIndex }, () => local.execute(inputs, h.local, firstInputIndex));
    },
    dispose() {
      local.dispose();
      workers.drop({ circuitKey });
    },
  };
}
