/**
 * One worker thread: its own node-seal instance, the contexts, circuits and
 * evaluation keys it was sent (kept until the backend drops them), and circuit evaluations on
 * serialized ciphertexts: whole ones, or its part of one split over the backend's threads.
 */
import { parentPort } from 'node:worker_threads';
import type { Circuit } from '../../../compiler/circuit/ir';
import { DeepPowersError } from '../../../compiler/errors';
import type { LoadedEvaluationKeys } from '../backend';
import { createSealBackendContext, type SealBackendContext, type SealLoadedCircuit } from '../seal/backend';
import { loadSeal } from '../seal/seal-module';
import { abortEvaluation, inputReader, linkFor, reportedPart, splitPlanOf, type MeshEnds, type PartReport } from './mesh';
import type { ExecuteTask, LoadTask, PartTask, WorkerReply, WorkerTask } from './protocol';

const port = parentPort!;
const contexts = new Map<string, Promise<SealBackendContext>>();
const circuits = new Map<string, { readonly circuit: Circuit; readonly loaded: SealLoadedCircuit }>();
const keys = new Map<string, { readonly circuitKey: string; readonly loaded: LoadedEvaluationKeys }>();
let mesh: MeshEnds | undefined;
/** The split evaluation whose part this thread is running: if the thread exits in it, the others stop waiting for it. */
let inEvaluation: number | undefined;
process.on('exit', () => {
  if (mesh && inEvaluation !== undefined) abortEvaluation(mesh, inEvaluation);
});

function dropKeys(keysKey: string): void {
  keys.get(keysKey)?.loaded.dispose();
  keys.delete(keysKey);
}

async function prepare(task: ExecuteTask | PartTask | LoadTask): Promise<{ readonly circuit: Circuit; readonly loaded: SealLoadedCircuit; readonly keys: LoadedEvaluationKeys }> {
  let ctx = contexts.get(task.spec.parameterId);
  if (!ctx) {
    ctx = createSealBackendContext(task.spec);
    contexts.set(task.spec.parameterId, ctx);
  }
  const context = await ctx;
  let circuit = circuits.get(task.circuitKey);
  if (!circuit) {
    if (!task.circuit) throw new Error(`worker has no circuit ${task.circuitKey}`);
    circuit = { circuit: task.circuit, loaded: context.loadCircuit(task.circuit) };
    circuits.set(task.circuitKey, circuit);
  }
  let loaded = keys.get(task.keysKey)?.loaded;
  if (!loaded) {
    if (!task.keys) throw new Error(`worker has no evaluation keys ${task.keysKey}`);
    loaded = circuit.loaded.loadEvaluationKeys(task.keys);
    keys.set(task.keysKey, { circuitKey: task.circuitKey, loaded });
  }
  return { ...circuit, keys: loaded };
}

async function execute(task: ExecuteTask): Promise<{ outputs: Uint8Array[]; part?: PartReport }> {
  const { loaded, keys } = await prepare(task);
  return { outputs: await loaded.execute(task.inputs, keys, task.firstInputIndex) };
}

/** Loads what a task names and evaluates nothing. */
async function load(task: LoadTask): Promise<{ outputs: Uint8Array[]; part?: PartReport }> {
  await prepare(task);
  return { outputs: [] };
}

/** This worker's part of a split evaluation; on failure the other threads are told to stop waiting. */
async function part(task: PartTask): Promise<{ outputs: Uint8Array[]; part?: PartReport }> {
  if (!mesh) throw new Error('worker has no mesh');
  const ends = mesh;
  inEvaluation = task.evaluation;
  try {
    const { circuit, loaded, keys } = await prepare(task);
    const link = linkFor(ends, task.evaluation, splitPlanOf(circuit, task.order, task.threadOf), inputReader(circuit, task.threadOf, ends.self), task.patienceMs);
    const { report } = reportedPart(link, () => loaded.executePart(task.inputs, keys, link, task.firstInputIndex));
    return { outputs: [], part: report };
  } catch (e) {
    abortEvaluation(ends, task.evaluation);
    throw e;
  } finally {
    inEvaluation = undefined;
  }
}

port.on('message', (task: WorkerTask) => {
  switch (task.kind) {
    case 'mesh':
      // A new mesh replaces the old one when a worker was replaced.
      for (const p of mesh ? [...mesh.incoming, ...mesh.outgoing] : []) p?.close();
      mesh = task.ends;
      for (const p of [...mesh.incoming, ...mesh.outgoing]) p?.unref();
      return;
    case 'drop':
      if (task.keysKey !== undefined) dropKeys(task.keysKey);
      if (task.circuitKey !== undefined) {
        for (const [k, v] of keys) if (v.circuitKey === task.circuitKey) dropKeys(k);
        circuits.get(task.circuitKey)?.loaded.dispose();
        circuits.delete(task.circuitKey);
      }
      return;
    case 'execute':
    case 'part':
    case 'load':
      (task.kind === 'execute' ? execute(task) : task.kind === 'part' ? part(task) : load(task)).then(
        (done) => {
          const reply: WorkerReply = { id: task.id, ok: true, outputs: done.outputs.map((o) => o.slice()), ...(done.part ? { part: done.part } : {}) };
          port.postMessage(reply);
        },
        (e: unknown) => {
          const reply: WorkerReply = { id: task.id, ok: false, code: e instanceof DeepPowersError ? e.code : null, message: e instanceof Error ? e.message : String(e) };
          port.postMessage(reply);
        },
      );
      return;
  }
});

await loadSeal();
port.postMessage({ ready: true } satisfies WorkerReply);
