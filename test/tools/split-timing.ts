/**
 * One evaluation on one thread against the same evaluation split over N threads (`--threads`;
 * compiler/circuit/parallel-time.ts plans the split), taken in turns so that other load on the
 * machine hits both alike: wall ms of each, the CPU ms of the one thread and of each thread of
 * the split, the values that crossed between threads, and what the model predicted. One request
 * of one row (zeros: evaluation time does not depend on the values), the same keys, after one
 * untimed evaluation of each has loaded keys and constants.
 *
 *   npx node --import tsx test/tools/split-timing.ts <compiled-dir> [rounds] [threads]
 *   npx node --import tsx test/tools/split-timing.ts .deeppowers/digits.compiled 3 2
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { readCompiledModel } from '../../compiler/artifact/files';
import { planParallel } from '../../compiler/circuit/parallel-time';
import { sealBackend } from '../../runtime/backends/seal/backend';
import { workerThreadsBackend } from '../../runtime/backends/workers/worker-threads-backend';
import { clientModelOf } from '../../runtime/client/client-model';
import { FheClient } from '../../runtime/client/fhe-client';
import { FheServer, serverModelOf } from '../../runtime/server/fhe-server';

const [dir, roundsArg = '3', threadsArg = '2'] = process.argv.slice(2);
if (!dir) throw new Error('usage: split-timing.ts <compiled-dir> [rounds] [threads]');
const model = readCompiledModel(dir);
const rounds = Number(roundsArg);
const threads = Number(threadsArg);
const plan = planParallel(model.circuit, threads);
const clientModel = clientModelOf(model.circuit, model.parameters, model.modelHash);
const client = await FheClient.create(sealBackend, clientModel);
const keys = client.evaluationKeys().bytes;
const request = client.encrypt([new Float64Array(clientModel.inputSize)]).bytes;
const workers = workerThreadsBackend(threads);
const servers = await Promise.all(
  [sealBackend, workers].map(async (backend) => {
    const server = new FheServer(backend);
    const id = await server.loadModel(serverModelOf(model.circuit, model.parameters, model.modelHash));
    return { server, id, keysId: server.loadKeys(keys) };
  }),
);
await workers.ready();
const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.threadCpuUsage(since);
  return (used.user + used.system) / 1000;
};
const one = async (k: 0 | 1) => {
  const { server, id, keysId } = servers[k]!;
  const t = performance.now();
  const cpu = process.threadCpuUsage();
  await server.evaluate(id, keysId, request);
  return { ms: performance.now() - t, cpuMs: cpuMs(cpu) };
};
await one(0);
// The first evaluation on the threads runs on this one while the workers load the circuit and keys.
await one(1);
await workers.ready();
await one(1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const serial: number[] = [];
const serialCpu: number[] = [];
const split: number[] = [];
for (let r = 0; r < rounds; r++) {
  const s = await one(0);
  serial.push(s.ms);
  serialCpu.push(s.cpuMs);
  split.push((await one(1)).ms);
}
const last = workers.splitEvaluations().last;
console.log(`${dir}: N=${model.parameters.polyModulusDegree}, ${model.circuit.ops.length} ops; load average ${loadavg()[0]!.toFixed(1)} on ${threads} threads' machine`);
console.log(`  model: ${plan.serialMs.toFixed(0)} ms on 1 thread, ${plan.parallelMs.toFixed(0)} ms on ${plan.threads} (${(plan.serialMs / plan.parallelMs).toFixed(2)}x)`);
console.log(`  1 thread: wall ${serial.map((x) => x.toFixed(0)).join(', ')} ms (median ${median(serial).toFixed(0)}), CPU median ${median(serialCpu).toFixed(0)} ms`);
console.log(`  split over ${threads}: wall ${split.map((x) => x.toFixed(0)).join(', ')} ms (median ${median(split).toFixed(0)}); splits ${workers.splitEvaluations().count}`);
if (last) {
  console.log(`  last split, per thread: CPU ${last.map((p) => p.cpuMs.toFixed(0)).join(' + ')} ms, receiving ${last.map((p) => p.waitMs.toFixed(0)).join(' + ')} ms, values received ${last.map((p) => p.received).join(' + ')}`);
  console.log(`  wall speed-up ${(median(serial) / median(split)).toFixed(2)}x; CPU of one thread over the busiest split thread ${(median(serialCpu) / Math.max(...last.map((p) => p.cpuMs))).toFixed(2)}x`);
}
servers.forEach((s) => s.server.dispose());
client.dispose();
await workers.close();
