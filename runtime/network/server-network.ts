import { loadOrCreateIdentity, type Identity } from './identity';
import { EmbeddedRunner, type JobRunner, type LocalEvaluator, type RunnerStatus } from './job-runner';
import { createLogger, type Logger } from './logger';
import { LatencyWindow, type LatencySummary } from './status';
import { SqliteTaskStore, type TaskStoreOptions } from './task-store';
import { TransparencyLog } from './transparency-log';

/**
 * The server's side of the compute network, all under its data dir: the transparency log (with
 * its key), the MCP task store, the server's own node identity, and the runner that executes
 * jobs — embedded unless a queue runner is given.
 */

export interface NetworkOptions {
  readonly tasks?: Partial<TaskStoreOptions>;
  /** Build a runner other than the embedded one (the Redis queue); it gets the log to append released results to. */
  readonly runner?: (context: RunnerContext) => JobRunner;
  readonly logger?: Logger;
  /** Keys held elsewhere (a PKCS#11 token) instead of the data dir's key files: the server's node identity and the log key. */
  readonly identities?: { readonly node?: Identity; readonly log?: Identity };
}

export interface RunnerContext {
  readonly log: TransparencyLog;
  /** A tenant's uploaded evaluation-key bundle. */
  readonly readKeys: (tenant: string, keysId: string) => Uint8Array;
  readonly identity: Identity;
  readonly logger: Logger;
}

export const DEFAULT_TASK_OPTIONS: TaskStoreOptions = { defaultTtlMs: 60 * 60_000, maxTtlMs: 24 * 60 * 60_000, pollIntervalMs: 100 };

export interface NetworkStatus extends RunnerStatus {
  readonly tasks: Record<string, number>;
  readonly latency: LatencySummary;
  readonly log: { readonly size: number; readonly origin: string };
}

export class ServerNetwork {
  readonly log: TransparencyLog;
  readonly tasks: SqliteTaskStore;
  readonly identity: Identity;
  readonly runner: JobRunner;
  readonly logger: Logger;
  readonly latency = new LatencyWindow();

  constructor(dataDir: string, evaluate: LocalEvaluator, readKeys: RunnerContext['readKeys'], options: NetworkOptions = {}) {
    this.logger = options.logger ?? createLogger('deeppowers-serve');
    this.identity = options.identities?.node ?? loadOrCreateIdentity(dataDir, 'node');
    this.log = TransparencyLog.open(dataDir, options.identities?.log);
    this.tasks = new SqliteTaskStore(dataDir, { ...DEFAULT_TASK_OPTIONS, ...options.tasks });
    const interrupted = this.tasks.failInterrupted('the server restarted while this task was running; submit it again');
    if (interrupted > 0) this.logger.warn({ event: 'tasks.interrupted', count: interrupted }, 'tasks left running by a previous server marked failed');
    const context: RunnerContext = { log: this.log, readKeys, identity: this.identity, logger: this.logger };
    this.runner = options.runner ? options.runner(context) : new EmbeddedRunner(evaluate, this.identity, this.log, this.logger);
  }

  /** The network's figures as `viewer` may see them: dispute evidence of its own jobs only, unless it sees everything (`all`). */
  async status(viewer?: { readonly tenant: string; readonly all: boolean }): Promise<NetworkStatus> {
    const runner = await this.runner.status();
    const disputes = runner.disputes?.filter((d) => viewer === undefined || viewer.all || d.tenant === viewer.tenant);
    return {
      ...runner,
      ...(disputes ? { disputes } : {}),
      tasks: this.tasks.countsByStatus(),
      latency: this.latency.summary(),
      log: { size: this.log.store.size, origin: this.log.origin },
    };
  }

  /** Stop the runner (finishing what it holds), then close the databases. */
  async close(): Promise<void> {
    await this.runner.close();
    this.closeStores();
  }

  closeStores(): void {
    this.tasks.close();
    this.log.close();
  }
}
