/**
 * Evaluations per second of SEAL on 1, 2, … threads (`--threads`: this thread and N − 1 worker
 * threads), with the process's CPU time per evaluation over all threads: whether more threads
 * turn into more throughput on this machine, and what a thread costs. One request of one row
 * (zeros: evaluation time does not depend on the values), evaluated again and again with the same
 * keys, N at a time, after the workers are up and one untimed round has loaded keys and constants.
 *
 *   npx node --import tsx test/tools/thread-scaling.ts <compiled-dir> [rounds] [threads,…] [--all-at-once]
 *   npx node --import tsx test/tools/thread-scaling.ts .deeppowers/digits.compiled 4 1,2
 */
import { performance } from 'node:perf_hooks';
import { readCompiledModel } from '../../compiler/artifact/files';
import { workerThreadsBackend } from '../../runtime/backends/workers/worker-threads-backend';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { clientModelOf } from '../../runtime/client/client-model';
import { FheClient } from '../../runtime/client/fhe-client';
import { inLanes } from '../../runtime/backends/lanes';
import { FheServer, serverModelOf } from '../../runtime/server/fhe-server';

const allAtOnce = process.argv.includes('--all-at-once');
const [dir, roundsArg = '4', threadsArg = '1,2'] = process.argv.slice(2).filter((a) => a !== '--all-at-once');
if (!dir) throw new Error('usage: thread-scaling.ts <compiled-dir> [rounds] [threads,…]');
const model = readCompiledModel(dir);
const rounds = Number(roundsArg);
const clientModel = clientModelOf(model.circuit, model.parameters, model.modelHash);
const client = await FheClient.create(sealBackend, clientModel);
const keys = client.evaluationKeys().bytes;
const request = client.encrypt([new Float64Array(clientModel.inputSize)]).bytes;
for (const threads of threadsArg.split(',').map(Number)) {
  const workers = threads === 1 ? undefined : workerThreadsBackend(threads);
  const server = new FheServer(workers ?? sealBackend);
  const id = await server.loadModel(serverModelOf(model.circuit, model.parameters, model.modelHash));
  const keysId = server.loadKeys(keys);
  await workers?.ready();
  // `threads` evaluations in flight at a time, as a request's evaluation lanes keep them; with
  // --all-at-once every evaluation is started together, as independent requests arrive.
  const round = (count: number) =>
    allAtOnce ? Promise.all(Array.from({ length: count }, () => server.evaluate(id, keysId, request))) : inLanes(count, threads, () => server.evaluate(id, keysId, request));
  await round(threads);
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  await round(threads * rounds);
  const wall = performance.now() - t;
  const cpu = process.cpuUsage(cpu0);
  const n = threads * rounds;
  console.log(
    `${threads} thread${threads === 1 ? '' : 's'}: ${n} evaluations, ${((n * 1000) / wall).toFixed(2)} evaluations/s, ` +
      `${(wall / n).toFixed(0)} ms wall and ${((cpu.user + cpu.system) / 1000 / n).toFixed(0)} ms CPU per evaluation` +
      (workers ? ` (by thread: ${workers.evaluationCounts().join(', ')})` : ''),
  );
  server.dispose();
  await workers?.close();
}
client.dispose();
