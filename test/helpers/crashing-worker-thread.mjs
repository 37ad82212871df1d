// A stand-in for a worker thread (runtime/backends/workers/worker-thread.ts), speaking its protocol,
// for the backend's failure handling: it echoes a task's inputs as its outputs, except that a first
// input starting with 0xff kills the thread mid-task and one starting with 0xfe is answered as a
// failure inside the engine (no error code, as a WebAssembly trap would be). It loads nothing
// when told to load a circuit and keys, and answers at once. Given its part of a
// split evaluation, it dies, telling the other threads to stop waiting as the real worker's exit
// hook does (runtime/backends/workers/mesh.ts, abortEvaluation).
import { parentPort } from 'node:worker_threads';

let mesh;
parentPort.on('message', (task) => {
  if (task.kind === 'mesh') mesh = task.ends;
  if (task.kind === 'load') parentPort.postMessage({ id: task.id, ok: true, outputs: [] });
  if (task.kind === 'part') {
    const threads = mesh.outgoing.length;
    process.on('exit', () => {
      Atomics.store(mesh.signal, threads, task.evaluation);
      for (let t = 0; t < threads; t++) {
        Atomics.add(mesh.signal, t, 1);
        Atomics.notify(mesh.signal, t);
      }
    });
    process.exit(3);
  }
  if (task.kind !== 'execute') return;
  const first = task.inputs[0][0];
  if (first === 0xff) process.exit(3);
  if (first === 0xfe) parentPort.postMessage({ id: task.id, ok: false, code: null, message: 'memory access out of bounds' });
  else parentPort.postMessage({ id: task.id, ok: true, outputs: task.inputs });
});
parentPort.postMessage({ ready: true });
