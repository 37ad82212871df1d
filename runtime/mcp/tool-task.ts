import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, CreateTaskResultSchema, type CallToolResult, type Task } from '@modelcontextprotocol/sdk/types.js';
import { fail } from '../../compiler/errors';

/**
 * A tool call made as an MCP task (spec 2025-11-25, SEP-1686): `tools/call` with a `task`
 * parameter answers at once with a task id; the client then polls `tasks/get` at the interval
 * the server suggests and reads the result with `tasks/result` once the task has ended. No
 * request stays open for the length of the job, so a long prediction does not depend on one
 * connection (or one session: the server keeps tasks per tenant). Progress notifications, sent
 * by the server on the session's stream, still reach `onProgress`; aborting sends `tasks/cancel`.
 */
export interface TaskCall {
  /** Sends one request on the current session; the caller re-opens a session the server forgot and turns failures into one line. */
  readonly send: <T>(request: (client: Client) => Promise<T>) => Promise<T>;
  /** How long the task may go without progress or a change of status before the client cancels it and gives up. */
  readonly idleTimeoutMs: number;
  readonly onProgress?: (done: number, total: number | undefined) => void;
  readonly signal?: AbortSignal;
}

/** Poll interval when the server suggests none (the SDK's default). */
const DEFAULT_POLL_MS = 1000;

export async function callToolAsTask(name: string, args: Record<string, unknown>, call: TaskCall): Promise<CallToolResult> {
  if (call.signal?.aborted) return cancelled(name);
  // When the server last gave a sign of life (progress, or a change of the task's status).
  const heard = { at: Date.now() };
  const progress = progressRelay(call.onProgress, () => void (heard.at = Date.now()));
  const requestOptions = { timeout: call.idleTimeoutMs };
  try {
    // The creating request carries no signal: an abort while it is in flight is answered below with
    // tasks/cancel for the task it made, not by dropping the request and leaving that task running.
    const created = await call.send((client) =>
      client.request({ method: 'tools/call', params: { name, arguments: args } }, CreateTaskResultSchema, {
        ...requestOptions,
        task: {},
        onprogress: progress.handler,
      }),
    );
    return await followTask(name, created.task, call, heard, requestOptions);
  } finally {
    progress.stop();
  }
}

/** Polls the task until it ends and reads its result; cancels it on an abort, when it falls silent, or when polling fails. */
async function followTask(name: string, created: Task, call: TaskCall, heard: { at: number }, requestOptions: { timeout: number }): Promise<CallToolResult> {
  let task = created;
  const id = task.taskId;
  const cancel = async (): Promise<void> => {
    // Already ended (or gone) on the server, or the server unreachable: nothing more to do.
    await call.send((client) => client.experimental.tasks.cancelTask(id, requestOptions)).catch(() => {});
  };
  for (;;) {
    switch (task.status) {
      case 'working':
        break;
      case 'input_required':
        await cancel();
        return fail('BAD_ARGUMENT', `the server asked for input during ${name} (task ${short(id)}), which this client cannot give; the task was cancelled`);
      case 'completed':
      case 'failed':
        // A failed tool call is a result too (isError, its reason in the text), read like a completed one.
        return await resultOf(name, task, call.send, requestOptions);
      case 'cancelled':
        return fail('IO', `the server cancelled ${name} (task ${short(id)})${task.statusMessage ? `: ${task.statusMessage}` : ''}`);
      default: {
        const status: never = task.status;
        return fail('BAD_CIPHERTEXT', `the server says task ${short(id)} of ${name} is "${String(status)}", not a task status`);
      }
    }
    await pause(task.pollInterval ?? DEFAULT_POLL_MS, call.signal);
    if (call.signal?.aborted) {
      await cancel();
      return cancelled(name, id);
    }
    const before = task;
    try {
      task = await call.send((client) => client.experimental.tasks.getTask(id, requestOptions));
    } catch (e) {
      // The prediction fails here; its task need not run on.
      await cancel();
      throw e;
    }
    if (task.lastUpdatedAt !== before.lastUpdatedAt || task.status !== before.status || task.statusMessage !== before.statusMessage) heard.at = Date.now();
    if (task.status === 'working' && Date.now() - heard.at > call.idleTimeoutMs) {
      await cancel();
      return fail('IO', `the server reported nothing on ${name} (task ${short(id)}) for ${Math.round(call.idleTimeoutMs / 1000)} s; the task was cancelled`);
    }
  }
}

/**
 * The progress handler given to the SDK, which keeps it for the task's progress token after the
 * task is created and, on the client side, never drops it: once stopped it forwards nothing and
 * holds nothing of the call (the caller's callback would keep its ciphertexts alive). Progress
 * comes on two streams (the creating request's, then the session's), so it may arrive out of
 * order: only an advance is reported.
 */
function progressRelay(
  onProgress: TaskCall['onProgress'],
  onHeard: () => void,
): { handler: (p: { progress: number; total?: number }) => void; stop: () => void } {
  let target: { onProgress: TaskCall['onProgress']; onHeard: () => void } | undefined = { onProgress, onHeard };
  let last = -Infinity;
  return {
    handler: (p) => {
      if (!target || p.progress <= last) return;
      last = p.progress;
      target.onHeard();
      target.onProgress?.(p.progress, p.total);
    },
    stop: () => void (target = undefined),
  };
}

async function resultOf(name: string, task: Task, send: TaskCall['send'], options: { timeout: number }): Promise<CallToolResult> {
  try {
    return (await send((client) => client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema, options))) as CallToolResult;
  } catch (e) {
    // A task failed without a stored result (only a status) has its reason in the status message.
    if (task.status === 'failed' && task.statusMessage) return fail('IO', `${name} failed on the server (task ${short(task.taskId)}): ${task.statusMessage}`);
    throw e;
  }
}

function cancelled(name: string, taskId?: string): never {
  return fail('BAD_ARGUMENT', `${name} was cancelled${taskId ? ` (and its task ${short(taskId)} on the server)` : ''}`);
}

function short(id: string): string {
  return id.length > 12 ? `${id.slice(0, 12)}…` : id;
}

/** Waits `ms`, or less if `signal` aborts first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
