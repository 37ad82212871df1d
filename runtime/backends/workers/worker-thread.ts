/**
 * One worker thread: its own node-seal instance, the contexts, circuits and
 * evaluation keys it was sent (kept until the backend drops them), and circuit evaluations on
 * serialized ciphertexts.
 */
import { parentPort } from 'node:worker_threads';
import { DeepPowersError } from '../../../compiler/errors';
import type { BackendContext, LoadedCircuit, LoadedEvaluationKeys } from '../backend';
import { sealBackend } from '../seal/backend';
import { loadSeal } from '../seal/seal-module';
import type { ExecuteTask, WorkerReply, WorkerTask } from './protocol';

const port = parentPort!;
const contexts = new Map<string, Promise<BackendContext>>();
const circuits = new Map<string, LoadedCircuit>();
const keys = new Map<string, { readonly circuitKey: string; readonly loaded: LoadedEvaluationKeys }>();

function dropKeys(keysKey: string): void {
  keys.get(keysKey)?.loaded.dispose();
  keys.delete(keysKey);
}

async function execute(task: ExecuteTask): Promise<Uint8Array[]> {
  let ctx = contexts.get(task.spec.parameterId);
  if (!ctx) {
    ctx = sealBackend.createContext(task.spec);
    contexts.set(task.spec.parameterId, ctx);
  }
  const context = await ctx;
  let circuit = circuits.get(task.circuitKey);
  if (!circuit) {
    if (!task.circuit) throw new Error(`worker has no circuit ${task.circuitKey}`);
    circuit = context.loadCircuit(task.circuit);
    circuits.set(task.circuitKey, circuit);
  }
  let loaded = keys.get(task.keysKey)?.loaded;
  if (!loaded) {
    if (!task.keys) throw new Error(`worker has no evaluation keys ${task.keysKey}`);
    loaded = circuit.loadEvaluationKeys(task.keys);
    keys.set(task.keysKey, { circuitKey: task.circuitKey, loaded });
  }
  return circuit.execute(task.inputs, loaded, task.firstInputIndex);
}

port.on('message', (task: WorkerTask) => {
  if (task.kind === 'drop') {
    if (task.keysKey !== undefined) dropKeys(task.keysKey);
    if (task.circuitKey !== undefined) {
      for (const [k, v] of keys) if (v.circuitKey === task.circuitKey) dropKeys(k);
      circuits.get(task.circuitKey)?.dispose();
      circuits.delete(task.circuitKey);
    }
    return;
  }
  execute(task).then(
    (outputs) => {
      const reply: WorkerReply = { id: task.id, ok: true, outputs: outputs.map((o) => o.slice()) };
      port.postMessage(reply);
    },
    (e: unknown) => {
      const reply: WorkerReply = { id: task.id, ok: false, code: e instanceof DeepPowersError ? e.code : null, message: e instanceof Error ? e.message : String(e) };
      port.postMessage(reply);
    },
  );
});

await loadSeal();
port.postMessage({ ready: true } satisfies WorkerReply);
