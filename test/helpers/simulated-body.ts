import { clientSplitOf } from '../../compiler/artifact/client-split';
import { bodyCircuits } from '../../compiler/artifact/segments';
import type { CompiledModel } from '../../compiler/artifact/types';
import { runPrologue } from '../../compiler/chain/run';
import { bodySteps } from '../../compiler/client-steps/table';
import type { ClientStep } from '../../compiler/client-steps/kind';
import type { NumericTensor } from '../../compiler/graph/tensor';
import { simulationBackend } from '../../runtime/backends/simulation-backend';
import type { FheBackend } from '../../runtime/backends/backend';
import { clientModelOfBody } from '../../runtime/client/client-model';
import { FheClient } from '../../runtime/client/fhe-client';
import { FheServer, serverModelOf } from '../../runtime/server/fhe-server';

/**
 * A body with client steps taken apart on the simulation backend: a server with `model` loaded
 * and the client's keys, and the first segment run on the first row of `input` (after the
 * prologue); on SEAL when `backend` says so. The caller takes the steps from there and disposes of `client` and `server`.
 */
export async function firstSegmentOnSimulation(model: CompiledModel, input: NumericTensor, steps: readonly ClientStep[] = bodySteps(model), backend: FheBackend = simulationBackend()) {
  const server = new FheServer(backend);
  const circuits = bodyCircuits(model);
  const client = await FheClient.create(backend, clientModelOfBody(circuits, model.parameters, model.modelHash, steps));
  const served = serverModelOf(model.circuit, model.parameters, model.modelHash, model.refresh);
  const modelId = await server.loadModel(served);
  const keysId = server.loadKeys(client.evaluationKeys().bytes);
  const sample = runPrologue(clientSplitOf(model), input)[0]!;
  const result = await server.evaluate(modelId, keysId, client.encrypt([sample]).bytes);
  return { server, client, circuits, served, modelId, keysId, sample, result };
}
