import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ensurePrivateFile } from './private-file';
import { isTerminal, type CreateTaskOptions, type TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks';
import type { Request, RequestId, Result, Task } from '@modelcontextprotocol/sdk/types.js';
import { fail } from '../../compiler/errors';

/**
 * MCP tasks kept in SQLite (`<data-dir>/tasks.sqlite`), so a task and its encrypted result outlive
 * the HTTP session and a server restart. Tasks belong to a tenant (the bearer token's name), not
 * to an MCP session: sessions end with restarts, tenants do not. A task expires `ttl` ms after it
 * reaches a terminal state (or after creation if it never does); results are the tool results,
 * which hold ciphertexts and hashes only.
 */

export const TASKS_FILE = 'tasks.sqlite';
const PAGE = 10;

interface Row {
  task_id: string;
  tenant: string;
  status: Task['status'];
  status_message: string | null;
  ttl: number | null;
  poll_interval: number;
  created_at: string;
  updated_at: string;
  expires_at: number | null;
  result: string | null;
}

export interface TaskStoreOptions {
  /** TTL when the client asks for none, ms. */
  readonly defaultTtlMs: number;
  /** Longest TTL granted, ms. */
  readonly maxTtlMs: number;
  /** Poll interval suggested to clients, ms. */
  readonly pollIntervalMs: number;
  /** The clock TTLs are measured on (ms since the epoch); tests pass one they move. */
  readonly now?: () => number;
}

export class SqliteTaskStore {
  private readonly db: DatabaseSync;
  private readonly now: () => number;

  constructor(
    dataDir: string,
    readonly options: TaskStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    // Encrypted results and tenants' task ids: readable by the server's user alone.
    ensurePrivateFile(join(dataDir, TASKS_FILE));
    this.db = new DatabaseSync(join(dataDir, TASKS_FILE));
    this.db.exec('PRAGMA journal_mode = WAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS tasks(
      task_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, status TEXT NOT NULL, status_message TEXT, ttl INTEGER, poll_interval INTEGER NOT NULL,
      created_at TEXT NOT NULL, updated_at TEXT NOT NULL, expires_at INTEGER, result TEXT) STRICT`);
  }

  /** Tasks left `working` by a process that stopped: their job is gone with it. */
  failInterrupted(message: string): number {
    const rows = this.db.prepare("SELECT task_id FROM tasks WHERE status IN ('working', 'input_required')").all() as { task_id: string }[];
    for (const r of rows) {
      this.finish(r.task_id, 'failed', message, { content: [{ type: 'text', text: message }], isError: true });
    }
    return rows.length;
  }

  /** The TaskStore the SDK sees for one tenant's sessions. */
  forTenant(tenant: string): TaskStore {
    return {
      createTask: async (params: CreateTaskOptions, _id: RequestId, _req: Request) => this.create(tenant, params),
      getTask: async (taskId: string) => this.get(tenant, taskId),
      storeTaskResult: async (taskId: string, status: 'completed' | 'failed', result: Result) => this.storeResult(tenant, taskId, status, result),
      getTaskResult: async (taskId: string) => this.result(tenant, taskId),
      updateTaskStatus: async (taskId: string, status: Task['status'], message?: string) => this.update(tenant, taskId, status, message),
      listTasks: async (cursor?: string) => this.list(tenant, cursor),
    };
  }

  countsByStatus(): Record<Task['status'], number> {
    this.sweep();
    const counts: Record<Task['status'], number> = { working: 0, input_required: 0, completed: 0, failed: 0, cancelled: 0 };
    for (const r of this.db.prepare('SELECT status, COUNT(*) AS n FROM tasks GROUP BY status').all() as { status: Task['status']; n: number }[]) counts[r.status] = r.n;
    return counts;
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private create(tenant: string, params: CreateTaskOptions): Task {
    this.sweep();
    const taskId = randomBytes(16).toString('hex');
    const ttl = params.ttl === undefined || params.ttl === null ? this.options.defaultTtlMs : Math.min(Math.max(0, params.ttl), this.options.maxTtlMs);
    const now = new Date(this.now());
    const poll = params.pollInterval ?? this.options.pollIntervalMs;
    this.db
      .prepare('INSERT INTO tasks(task_id, tenant, status, ttl, poll_interval, created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(taskId, tenant, 'working', ttl, poll, now.toISOString(), now.toISOString(), now.getTime() + ttl);
    return this.get(tenant, taskId)!;
  }

  private row(tenant: string, taskId: string): Row | undefined {
    const r = this.db.prepare('SELECT * FROM tasks WHERE task_id = ? AND tenant = ?').get(taskId, tenant) as Row | undefined;
    if (r && r.expires_at !== null && r.expires_at <= this.now()) return undefined;
    return r;
  }

  private get(tenant: string, taskId: string): Task | null {
    const r = this.row(tenant, taskId);
    return r ? taskOf(r) : null;
  }

  private storeResult(tenant: string, taskId: string, status: 'completed' | 'failed', result: Result): void {
    const r = this.row(tenant, taskId);
    if (!r) fail('BAD_ARGUMENT', `task ${taskId} not found`);
    if (isTerminal(r.status)) fail('BAD_ARGUMENT', `task ${taskId} is already ${r.status}; its result can only be stored once`);
    this.finish(taskId, status, r.status_message, result);
  }

  private finish(taskId: string, status: Task['status'], message: string | null, result: Result | null): void {
    const now = new Date(this.now());
    const ttl = (this.db.prepare('SELECT ttl FROM tasks WHERE task_id = ?').get(taskId) as { ttl: number | null }).ttl;
    this.db
      .prepare('UPDATE tasks SET status = ?, status_message = ?, result = ?, updated_at = ?, expires_at = ? WHERE task_id = ?')
      .run(status, message, result === null ? null : JSON.stringify(result), now.toISOString(), ttl === null ? null : now.getTime() + ttl, taskId);
  }

  private result(tenant: string, taskId: string): Result {
    const r = this.row(tenant, taskId);
    if (!r) fail('BAD_ARGUMENT', `task ${taskId} not found`);
    if (r.result === null) fail('BAD_ARGUMENT', `task ${taskId} has no result yet (${r.status})`);
    return JSON.parse(r.result) as Result;
  }

  private update(tenant: string, taskId: string, status: Task['status'], message: string | undefined): void {
    const r = this.row(tenant, taskId);
    if (!r) fail('BAD_ARGUMENT', `task ${taskId} not found`);
    if (isTerminal(r.status)) fail('BAD_ARGUMENT', `task ${taskId} is already ${r.status}`);
    if (isTerminal(status)) this.finish(taskId, status, message ?? r.status_message, null);
    else this.db.prepare('UPDATE tasks SET status = ?, status_message = ?, updated_at = ? WHERE task_id = ?').run(status, message ?? r.status_message, new Date(this.now()).toISOString(), taskId);
  }

  private list(tenant: string, cursor: string | undefined): { tasks: Task[]; nextCursor?: string } {
    this.sweep();
    // The cursor is looked up among this tenant's tasks only: another tenant's task id is as invalid as a made-up one.
    const after =
      cursor === undefined ? '' : (this.db.prepare('SELECT created_at || task_id AS k FROM tasks WHERE task_id = ? AND tenant = ?').get(cursor, tenant) as { k: string } | undefined)?.k;
    if (after === undefined) fail('BAD_ARGUMENT', `invalid cursor ${cursor}`);
    const rows = this.db
      .prepare('SELECT * FROM tasks WHERE tenant = ? AND created_at || task_id > ? ORDER BY created_at, task_id LIMIT ?')
      .all(tenant, after, PAGE + 1) as unknown as Row[];
    const page = rows.slice(0, PAGE);
    return { tasks: page.map(taskOf), ...(rows.length > PAGE ? { nextCursor: page.at(-1)!.task_id } : {}) };
  }

  private sweep(): void {
    this.db.prepare('DELETE FROM tasks WHERE expires_at IS NOT NULL AND expires_at <= ?').run(this.now());
  }
}

function taskOf(r: Row): Task {
  return {
    taskId: r.task_id,
    status: r.status,
    ttl: r.ttl,
    createdAt: r.created_at,
    lastUpdatedAt: r.updated_at,
    pollInterval: r.poll_interval,
    ...(r.status_message === null ? {} : { statusMessage: r.status_message }),
  };
}
