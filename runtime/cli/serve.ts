import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { fail } from '../../compiler/errors';
import { isLoopbackHost, startHttpServer, type RunningHttpServer } from '../mcp/http';
import { loadServedModel } from '../service/load-served-model';
import { loadUi } from '../mcp/static-ui';
import { RANGE_EXPOSURES, type RangeExposure } from '../service/client-view-exposure';
import { createMcpServer, describeModels } from '../mcp/server';
import { DEFAULT_LIMITS, DeepPowersService, LOCAL_TENANT } from '../mcp/service';
import { runOnStdio } from '../mcp/stdio';
import { TokenTable } from '../mcp/tokens';
import { NodeList, TrustedNodes } from '../network/node-list';
import { parseRedisUrl } from '../network/queue';
import { QueueRunner } from '../network/queue-runner';
import { DEFAULT_TASK_OPTIONS, type RunnerContext } from '../network/server-network';
import { sealOnThreads } from '../backends/workers/seal-on-threads';
import { parseThreads, THREADS_HELP } from './threads';
import { DEFAULT_LOG_KEY_LABEL, DEFAULT_SERVER_NODE_KEY_LABEL, tokenIdentity } from '../keys/token-identity';
import { addPkcs11Options, tokenRefOf, type Pkcs11CliOptions } from './pkcs11-options';

export interface ServeOptions extends Pkcs11CliOptions {
  readonly nodeKeyLabel?: string;
  readonly logKeyLabel?: string;
  readonly http?: { host: string; port: number };
  /** Serve the browser page at / (needs --http). */
  readonly ui?: boolean;
  readonly threads?: number;
  readonly stdio?: boolean;
  readonly tokenFile?: string;
  readonly dataDir: string;
  readonly insecureNoAuth?: boolean;
  readonly maxConcurrency: number;
  readonly maxKeyMb: number;
  readonly taskTtl: number;
  readonly queue?: string;
  readonly redisCa?: string;
  readonly nodes?: string;
  readonly reviewTimeout?: number;
  readonly reviewers: number;
  readonly quorum?: number;
  readonly maxConcurrencyPerTenant: number;
  readonly tenantKeyMb: number;
  readonly mbInFlightPerTenant: number;
  readonly tenantKeyBundles: number;
  readonly keyQuota: 'evict' | 'refuse';
  readonly maxSessionsPerTenant: number;
  readonly logAuditors?: string;
  readonly queryBudget?: number;
  readonly clientStepBudget?: number;
  readonly modelConfidential?: boolean;
  readonly clientRanges: RangeExposure;
  readonly floodBits?: number;
}

export const DEFAULT_DATA_DIR = join(homedir(), '.deeppowers', 'serve');

/** `HOST:PORT`, `[v6]:PORT` or a bare `PORT` (then 127.0.0.1). */
export function parseHostPort(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`expected HOST:PORT (e.g. 127.0.0.1:8750), got "${value}"`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

export async function serve(dirs: readonly string[], opts: ServeOptions): Promise<void> {
  if (!opts.http && !opts.stdio) fail('BAD_ARGUMENT', 'give --http HOST:PORT, --stdio, or both');
  if (opts.http && !opts.tokenFile && !opts.insecureNoAuth) {
    fail('BAD_ARGUMENT', '--http needs --token-file (one token per line, optionally name:token) or, on a loopback address only, --insecure-no-auth');
  }
  if (opts.tokenFile && opts.insecureNoAuth) fail('BAD_ARGUMENT', 'give --token-file or --insecure-no-auth, not both');
  if (opts.insecureNoAuth && opts.http && !isLoopbackHost(opts.http.host)) {
    fail('BAD_ARGUMENT', `--insecure-no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost), not ${opts.http.host}`);
  }
  if (opts.ui && !opts.http) fail('BAD_ARGUMENT', '--ui serves the page over HTTP: give --http HOST:PORT too');
  const ui = opts.ui ? loadUi() : undefined;
  const auth = opts.tokenFile ? TokenTable.readFile(opts.tokenFile) : 'insecure-no-auth';
  const logAuditors = new Set((opts.logAuditors ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''));
  if (logAuditors.size > 0 && auth === 'insecure-no-auth') fail('BAD_ARGUMENT', '--log-auditors names tenants of --token-file; without tokens the one local user sees everything');
  if (auth !== 'insecure-no-auth') {
    for (const name of logAuditors) if (!auth.hasTenant(name)) fail('BAD_ARGUMENT', `--log-auditors: no token in ${opts.tokenFile} is for tenant "${name}"`);
  }
  const log = (line: string) => process.stderr.write(`deeppowers serve: ${line}\n`);

  if (!opts.queue && opts.reviewers > 0) fail('BAD_ARGUMENT', '--reviewers needs --queue redis://HOST:PORT (review nodes are workers on the queue)');
  if (opts.floodBits !== undefined && opts.queue) {
    fail('BAD_ARGUMENT', '--flood-bits works with jobs run in this process only, not --queue: compute and review nodes would each draw different noise and disagree');
  }
  if (!opts.queue && opts.nodes !== undefined) fail('BAD_ARGUMENT', '--nodes needs --queue redis://HOST:PORT (the list says which queue workers count)');
  if (opts.queue && opts.nodes === undefined) {
    fail('BAD_ARGUMENT', '--queue needs --nodes FILE: the nodes you trust, one line each as `deeppowers worker --print-id --role compute|review` prints it');
  }
  if (!opts.queue && opts.redisCa !== undefined) fail('BAD_ARGUMENT', '--redis-ca needs --queue rediss://HOST:PORT');
  const queue = opts.queue === undefined ? undefined : parseRedisUrl(opts.queue, opts.redisCa === undefined ? {} : { caFile: opts.redisCa });
  const trusted = opts.nodes === undefined ? undefined : new TrustedNodes(NodeList.readFile(opts.nodes));
  const quorum = opts.quorum ?? opts.reviewers;
  if (quorum > opts.reviewers) fail('BAD_ARGUMENT', `--quorum ${quorum} exceeds --reviewers ${opts.reviewers}`);

  const models = dirs.map((dir) => loadServedModel(dir, opts.clientRanges));
  const token = tokenRefOf(opts);
  const identities = token
    ? { node: await tokenIdentity(token, opts.nodeKeyLabel ?? DEFAULT_SERVER_NODE_KEY_LABEL), log: await tokenIdentity(token, opts.logKeyLabel ?? DEFAULT_LOG_KEY_LABEL) }
    : undefined;
  const backend = sealOnThreads(opts.threads);
  const service = await DeepPowersService.create(
    backend,
    models,
    opts.dataDir,
    {
      maxConcurrency: opts.maxConcurrency,
      maxConcurrencyPerTenant: opts.maxConcurrencyPerTenant,
      maxKeyBytes: opts.maxKeyMb * 1024 * 1024,
      tenantKeyBytes: opts.tenantKeyMb * 1024 * 1024,
      maxBytesInFlightPerTenant: opts.mbInFlightPerTenant * 1024 * 1024,
      tenantKeyBundles: opts.tenantKeyBundles,
      keyQuotaPolicy: opts.keyQuota,
      queryBudget: opts.queryBudget ?? null,
      clientStepBudget: opts.clientStepBudget ?? null,
      modelConfidential: opts.modelConfidential === true,
      floodBits: opts.floodBits ?? null,
    },
    {
      ...(identities ? { identities } : {}),
      tasks: { defaultTtlMs: opts.taskTtl * 1000, maxTtlMs: Math.max(opts.taskTtl * 1000, DEFAULT_TASK_OPTIONS.maxTtlMs) },
      ...(queue && trusted
        ? {
            runner: (ctx: RunnerContext) =>
              new QueueRunner({
                queue,
                reviewers: opts.reviewers,
                quorum,
                nodes: trusted,
                log: ctx.log,
                logger: ctx.logger,
                readKeys: ctx.readKeys,
                ...(opts.reviewTimeout !== undefined ? { reviewTimeoutMs: opts.reviewTimeout * 1000 } : {}),
              }),
          }
        : {}),
    },
  );
  let http: RunningHttpServer | undefined;
  try {
    if (opts.http) {
      http = await startHttpServer(service, { ...opts.http, auth, log, maxSessionsPerTenant: opts.maxSessionsPerTenant, logAuditors, ...(ui ? { ui } : {}) });
      const who = auth === 'insecure-no-auth' ? 'no authentication (loopback only)' : `${auth.size} bearer token${auth.size === 1 ? '' : 's'}`;
      log(`listening on ${http.url} (${who}); evaluation keys at ${http.url.replace(/mcp$/, 'keys/<sha256>')}`);
      if (ui) log(`the page is at ${http.url.replace(/mcp$/, '')}`);
    }
    log(`serving ${describeModels(service)}; data dir ${opts.dataDir}; evaluating on ${backend.concurrency} thread${backend.concurrency === 1 ? "" : "s"}`);
    log(
      queue
        ? `jobs go to compute nodes on ${queue.url}; ${opts.reviewers} reviewer${opts.reviewers === 1 ? '' : 's'}, quorum ${quorum}`
        : 'jobs run in this process (embedded); results are logged and signed by this server alone',
    );
    log(`transparency log ${service.network.log.origin}, key ${service.network.log.vkey}${token ? ` (log and node keys in token "${token.label}")` : ''}`);
    if (trusted && opts.nodes) {
      log(describeNodes(trusted.current, opts.nodes));
      // SIGHUP re-reads the list; a bad file is reported and the list in force stays.
      process.on('SIGHUP', () => {
        try {
          trusted.replace(NodeList.readFile(opts.nodes!));
          log(`reloaded: ${describeNodes(trusted.current, opts.nodes!)}`);
        } catch (e) {
          log(`nodes file not reloaded, the previous list stays in force: ${(e as Error).message}`);
        }
      });
    }
    const perDay = (n: number | undefined) => (n === undefined ? 'no limit' : `${n} rows per tenant, model and UTC day`);
    log(`query budget ${perDay(opts.queryBudget)}; client-step budget ${perDay(opts.clientStepBudget)}; client views show ${opts.clientRanges} calibration ranges`);
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    if (opts.stdio) {
      const stdioServer = createMcpServer(service, LOCAL_TENANT, { log, auditor: true });
      // With HTTP too, the process lives on after the stdio side hangs up.
      await Promise.race([runOnStdio(stdioServer, service.limits.maxMessageBytes).then(() => (http ? stopped : undefined)), stopped]);
      // Stopped by a signal while the host still holds stdin open: an open stdin would keep the process alive.
      process.stdin.destroy();
    } else {
      await stopped;
    }
  } finally {
    await http?.close();
    await service.close();
  }
}

function describeNodes(list: NodeList, file: string): string {
  const n = (role: 'compute' | 'review') => list.withRole(role).length;
  return `trusted nodes from ${file}: ${n('compute')} compute, ${n('review')} review (kill -HUP ${process.pid} re-reads it)`;
}

export function registerServe(program: Command): void {
  const command = program
    .command('serve')
    .description('serve compiled models as MCP tools (predict_<model>) that evaluate ciphertexts: Streamable HTTP at /mcp, and/or stdio')
    .argument('<compiled-dir...>', 'compiled model directories (from `deeppowers compile`); the tool is named after the directory')
    .addOption(new Option('--http <host:port>', 'listen for MCP over Streamable HTTP at http://HOST:PORT/mcp (port 0: any free port)').argParser(parseHostPort))
    .option('--threads <n>', THREADS_HELP, parseThreads)
    .option('--ui', 'serve the browser page at / (needs --http): keys, encryption, decryption and verification run in the page')
    .option('--stdio', 'serve MCP on stdin/stdout (one local user; keys via the upload_keys tool)')
    .option('--token-file <file>', 'bearer tokens, one per line, optionally name:token (the name is the tenant whose keys the token uses)')
    .option('--data-dir <dir>', 'where uploaded evaluation keys, MCP tasks, the transparency log and the server keys are stored', DEFAULT_DATA_DIR)
    .option('--log-auditors <tenants>', "comma-separated tenants (token names) that read every log entry and every dispute's evidence; any other tenant sees its own entries and only the leaf hashes of the rest")
    .option('--insecure-no-auth', 'accept HTTP requests without a token (refused unless the host is a loopback address)')
    .addOption(new Option('--max-concurrency <k>', 'encrypted predictions in flight at once; more get a "server busy" tool error').default(DEFAULT_LIMITS.maxConcurrency).argParser(positiveInt))
    .addOption(new Option('--max-key-mb <m>', 'largest evaluation-key bundle accepted, in MiB').default(DEFAULT_LIMITS.maxKeyBytes / 1024 / 1024).argParser(positiveInt))
    .addOption(
      new Option('--max-concurrency-per-tenant <k>', 'encrypted predictions one tenant may have in flight (keep it below --max-concurrency)')
        .default(DEFAULT_LIMITS.maxConcurrencyPerTenant)
        .argParser(positiveInt),
    )
    .addOption(new Option('--max-sessions-per-tenant <n>', "open MCP sessions per tenant; a tenant's least recently used one is closed beyond this").default(16).argParser(positiveInt))
    .addOption(
      new Option('--mb-in-flight-per-tenant <m>', 'MiB of MCP request bodies one tenant may have unanswered at once; more get "server busy"')
        .default(DEFAULT_LIMITS.maxBytesInFlightPerTenant / 1024 / 1024)
        .argParser(positiveInt),
    )
    .addOption(new Option('--tenant-key-mb <m>', 'evaluation keys one tenant may store, in MiB').default(DEFAULT_LIMITS.tenantKeyBytes / 1024 / 1024).argParser(positiveInt))
    .addOption(new Option('--tenant-key-bundles <n>', 'evaluation-key bundles one tenant may store').default(DEFAULT_LIMITS.tenantKeyBundles).argParser(positiveInt))
    .addOption(new Option('--key-quota <policy>', 'beyond a tenant\'s quota: evict its least recently used bundles, or refuse the upload').choices(['evict', 'refuse']).default(DEFAULT_LIMITS.keyQuotaPolicy))
    .addOption(
      new Option('--task-ttl <seconds>', 'how long a finished MCP task and its encrypted result are kept when the client asks for no TTL')
        .default(DEFAULT_TASK_OPTIONS.defaultTtlMs / 1000)
        .argParser(positiveInt),
    )
    .addOption(
      new Option('--query-budget <rows>', 'rows one tenant may send one model per UTC day (evaluations × samples each packs); beyond it a prediction is refused. Bounds extraction by queries; default: no limit').argParser(
        nonNegativeInt,
      ),
    )
    .addOption(
      new Option(
        '--client-step-budget <rows>',
        "rows one tenant may send back at one model's client steps per UTC day; beyond it the step is refused. Each answered step is a probe of the layers after it (docs/compiling.md, MaxPool: what the client learns); default: no limit",
      ).argParser(nonNegativeInt),
    )
    .addOption(
      new Option('--client-ranges <exposure>', "how much of the calibration's per-feature min/max (the owner's data) each client view shows: exact, coarse (rounded outward to powers of two) or none (clients skip the range check)")
        .choices([...RANGE_EXPOSURES])
        .default('exact'),
    )
    .addOption(
      new Option('--flood-bits <s>', "add noise uniform in ±2^s × the model's CKKS noise bound to every released result, so decrypted outputs do not carry the evaluation noise (costs up to that much precision; not with --queue)").argParser(
        nonNegativeInt,
      ),
    )
    .option('--model-confidential', 'refuse to serve models with client steps (compile --refresh auto, max pools): a dishonest client can read out the weights after a step')
    .option(
      '--queue <redis-url>',
      'send evaluations to `deeppowers worker` nodes through a BullMQ queue in Redis instead of running them here: redis://[[USER]:PASSWORD@]HOST:PORT, or rediss://… for TLS',
    )
    .option('--redis-ca <file>', 'with a rediss:// queue: the PEM certificate of the CA that signed the Redis server\'s certificate (default: the system\'s CAs)')
    .option('--nodes <file>', 'the nodes this server trusts (needed with --queue), one line each as `deeppowers worker --print-id` prints it: NODE_ID compute|review PUBLIC_KEY; re-read on SIGHUP')
    .addOption(new Option('--review-timeout <seconds>', "each assigned reviewer's deadline; a reviewer that misses it is named and counted against (default: 3 × the compute node's time, at least 60)").argParser(positiveInt))
    .addOption(new Option('--reviewers <k>', 'review nodes that re-execute each job (needs --queue)').default(0).argParser(nonNegativeInt))
    .addOption(new Option('--quorum <q>', 'reviewers that must attest the same result before it is released (default: all of --reviewers)').argParser(nonNegativeInt))
    .option('--node-key-label <label>', "with --pkcs11: the label of the server's node key in the token", DEFAULT_SERVER_NODE_KEY_LABEL)
    .option('--log-key-label <label>', "with --pkcs11: the label of the log's checkpoint key in the token", DEFAULT_LOG_KEY_LABEL);
  addPkcs11Options(command, "the log's checkpoint key and the server's node key are Ed25519 keys in the token (CKM_EDDSA), used for every signature").action(
    async (dirs: string[], opts: ServeOptions) => serve(dirs, opts),
  );
}
