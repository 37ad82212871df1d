import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { fail } from '../../compiler/errors';
import { loadServedModel } from '../mcp/load-served-model';
import { loadOrCreateIdentity } from '../network/identity';
import { createLogger } from '../network/logger';
import { parseRedisUrl } from '../network/queue';
import { startWorker } from '../network/worker';
import { printJson } from './output';
import { parseThreads, sealOnThreads, THREADS_HELP } from './threads';

interface WorkerCliOptions {
  readonly queue?: string;
  readonly dataDir: string;
  readonly role: 'compute' | 'review';
  readonly printId?: boolean;
  readonly lockMs: number;
  readonly threads?: number;
  readonly json?: boolean;
}

export const DEFAULT_WORKER_DIR = join(homedir(), '.deeppowers', 'worker');

export async function runWorker(dirs: readonly string[], opts: WorkerCliOptions): Promise<void> {
  if (opts.printId) {
    const id = loadOrCreateIdentity(opts.dataDir, 'node');
    if (opts.json) printJson({ node_id: id.id, public_key: id.publicKey.toString('base64') });
    else process.stdout.write(`node id ${id.id}\npublic key ${id.publicKey.toString('base64')}\n`);
    return;
  }
  if (!opts.queue) fail('BAD_ARGUMENT', 'give --queue redis://HOST:PORT (the queue `deeppowers serve --queue` uses)');
  if (dirs.length === 0) fail('BAD_ARGUMENT', 'give the compiled model directories this node evaluates (the same ones the server serves)');
  const queue = parseRedisUrl(opts.queue);
  const models = dirs.map((dir) => loadServedModel(dir));
  const logger = createLogger('deeppowers-worker');
  const worker = await startWorker({ models, backend: sealOnThreads(opts.threads), queue, dataDir: opts.dataDir, role: opts.role, logger, lockMs: opts.lockMs });
  process.stderr.write(`deeppowers worker: ${opts.role} node ${worker.identity.id} on ${queue.url}; ${models.map((m) => m.name).join(', ')}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await worker.close();
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('a compute or review node: pull encrypted evaluations from the server\'s Redis queue, evaluate them with evaluation keys only, sign an attestation')
    .argument('[compiled-dir...]', 'compiled model directories, the same ones `deeppowers serve` serves')
    .option('--queue <redis-url>', 'the queue, redis://HOST:PORT (as given to serve --queue)')
    .option('--data-dir <dir>', "this node's identity (node.key), key cache and witness state", DEFAULT_WORKER_DIR)
    .addOption(new Option('--role <role>', 'compute: take evaluations; review: re-execute jobs for the quorum and cosign log checkpoints').choices(['compute', 'review']).default('compute'))
    .option('--threads <n>', THREADS_HELP, parseThreads)
    .option('--print-id', "print this node's id and Ed25519 public key (made on first use) and exit")
    .addOption(new Option('--lock-ms <ms>', 'how long a job stays locked to a node that stops answering before another node retries it').default(30_000).argParser(positiveInt))
    .option('--json', 'with --print-id: print JSON')
    .action(async (dirs: string[], opts: WorkerCliOptions) => runWorker(dirs, opts));
}
