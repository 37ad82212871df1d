import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { fail } from '../../compiler/errors';
import { loadServedModel } from '../service/load-served-model';
import { loadOrCreateIdentity, type Identity } from '../network/identity';
import { DEFAULT_WORKER_KEY_LABEL, tokenIdentity } from '../keys/token-identity';
import { addPkcs11Options, tokenRefOf, type Pkcs11CliOptions } from './pkcs11-options';
import { createLogger } from '../network/logger';
import { nodeListLine } from '../network/node-list';
import { nodeAclLine } from '../network/redis-acl';
import { parseRedisUrl } from '../network/queue';
import { startWorker } from '../network/worker';
import { printJson } from './output';
import { sealOnThreads } from '../backends/workers/seal-on-threads';
import { parseThreads, THREADS_HELP } from './threads';

interface WorkerCliOptions extends Pkcs11CliOptions {
  readonly nodeKeyLabel: string;
  readonly queue?: string;
  readonly redisCa?: string;
  readonly dataDir: string;
  readonly role: 'compute' | 'review';
  readonly printId?: boolean;
  readonly printAcl?: boolean;
  readonly lockMs: number;
  readonly threads?: number;
  readonly json?: boolean;
}

export const DEFAULT_WORKER_DIR = join(homedir(), '.deeppowers', 'worker');

/** The node's identity: a key object in the PKCS#11 token with --pkcs11, else node.key in the data dir. */
async function nodeIdentity(opts: WorkerCliOptions): Promise<Identity> {
  const token = tokenRefOf(opts);
  return token ? tokenIdentity(token, opts.nodeKeyLabel) : loadOrCreateIdentity(opts.dataDir, 'node');
}

export async function runWorker(dirs: readonly string[], opts: WorkerCliOptions): Promise<void> {
  if (opts.printId) {
    const id = await nodeIdentity(opts);
    const line = nodeListLine(id, opts.role);
    if (opts.json) printJson({ node_id: id.id, role: opts.role, public_key: id.publicKey.toString('base64'), line });
    else process.stdout.write(`${line}\n`);
    return;
  }
  if (opts.printAcl) {
    if (!opts.queue) fail('BAD_ARGUMENT', '--print-acl needs --queue redis://node-NAME:PASSWORD@HOST:PORT (this node\'s own Redis user)');
    const id = await nodeIdentity(opts);
    process.stdout.write(`${nodeAclLine(id.id, opts.role, parseRedisUrl(opts.queue))}\n`);
    return;
  }
  if (!opts.queue) fail('BAD_ARGUMENT', 'give --queue redis://HOST:PORT (the queue `deeppowers serve --queue` uses)');
  if (dirs.length === 0) fail('BAD_ARGUMENT', 'give the compiled model directories this node evaluates (the same ones the server serves)');
  const queue = parseRedisUrl(opts.queue, opts.redisCa === undefined ? {} : { caFile: opts.redisCa });
  const models = dirs.map((dir) => loadServedModel(dir));
  const identity = await nodeIdentity(opts);
  const logger = createLogger('deeppowers-worker');
  const worker = await startWorker({ models, backend: sealOnThreads(opts.threads), queue, dataDir: opts.dataDir, role: opts.role, logger, lockMs: opts.lockMs, identity });
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
  const command = program
    .command('worker')
    .description('a compute or review node: pull encrypted evaluations from the server\'s Redis queue, evaluate them with evaluation keys only, sign an attestation')
    .argument('[compiled-dir...]', 'compiled model directories, the same ones `deeppowers serve` serves')
    .option('--queue <redis-url>', "the queue, redis://[[USER]:PASSWORD@]HOST:PORT or rediss://… (as given to serve --queue, with this node's own ACL user where Redis has one per node)")
    .option('--redis-ca <file>', "with a rediss:// queue: the PEM certificate of the CA that signed the Redis server's certificate")
    .option('--data-dir <dir>', "this node's identity (node.key), key cache and witness state", DEFAULT_WORKER_DIR)
    .addOption(new Option('--role <role>', 'compute: take evaluations; review: re-execute jobs for the quorum and cosign log checkpoints').choices(['compute', 'review']).default('compute'))
    .option('--threads <n>', THREADS_HELP, parseThreads)
    .option('--print-id', "print this node's line for the server's --nodes file (node id, --role, Ed25519 public key; the key is made on first use) and exit")
    .option('--print-acl', "print the Redis ACL line (aclfile syntax) for this node's user in --queue, allowing only what its --role needs (the password as its SHA-256), and exit")
    .addOption(new Option('--lock-ms <ms>', 'how long a job stays locked to a node that stops answering before another node retries it').default(30_000).argParser(positiveInt))
    .option('--json', 'with --print-id: print JSON')
    .option('--node-key-label <label>', "with --pkcs11: the label of the node's Ed25519 key in the token (made there on first use)", DEFAULT_WORKER_KEY_LABEL);
  addPkcs11Options(command, "the node's Ed25519 identity is a key in the token (CKM_EDDSA), which signs every attestation and cosignature").action(async (dirs: string[], opts: WorkerCliOptions) =>
    runWorker(dirs, opts),
  );
}
