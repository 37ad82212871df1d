// A stand-in for a worker thread (runtime/backends/workers/worker-thread.ts), speaking its protocol,
// for the backend's failure handling: it echoes a task's inputs as its outputs, except that a first
// input starting with 0xff kills the thread mid-task and one starting with 0xfe is answered as a
// failure inside the engine (no error code, as a WebAssembly trap would be).
import { parentPort } from 'node:worker_threads';

parentPort.on('message', (task) => {
  if (task.kind !== 'execute') return;
  const first = task.inputs[0][0];
  if (first === 0xff) process.exit(3);
  if (first === 0xfe) parentPort.postMessage({ id: task.id, ok: false, code: null, message: 'memory access out of bounds' });
  else parentPort.postMessage({ id: task.id, ok: true, outputs: task.inputs });
});
parentPort.postMessage({ ready: true });
