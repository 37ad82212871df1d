import { randomUUID } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import { fail } from '../../compiler/errors';
import type { JobOutcome } from '../network/job-runner';
import { decodeBase64, decodedLength, encodeBase64 } from './base64';
import { KEYS_ID } from './key-storage';
import { toolNameOf, type ServedModel } from './served-model';
import type { DeepPowersService } from './service';
import { errorResult, guarded, structuredResult } from './tool-result';

const keysIdSchema = z.string().describe('SHA-256 (64 hex digits) of the evaluation-key bundle, as uploaded');

export const predictOutputSchema = z.object({
  model: z.string(),
  keys_id: z.string(),
  job_id: z.string(),
  result: z.string().describe('base64 result envelope: the encrypted outputs, readable only with the secret key'),
  evaluations: z.number(),
  bytes_in: z.number(),
  bytes_out: z.number(),
  timings: z.object({ decode_ms: z.number(), evaluate_ms: z.number(), encode_ms: z.number(), total_ms: z.number() }),
  verification: z.object({ reviewers: z.number(), quorum: z.number(), agreeing: z.array(z.string()) }),
  log: z
    .object({
      index: z.number(),
      entry: z.string().describe('the log entry (canonical JSON, base64): hashes and attestations, no ciphertexts'),
      checkpoint: z.string().describe('signed checkpoint (C2SP signed note) of the log that includes the entry'),
      proof: z.array(z.string()).describe('inclusion proof, base64 hashes'),
      vkey: z.string().describe("the log's verifier key (C2SP vkey); clients pin it on first use"),
    })
    .describe("the result's transparency-log receipt"),
});

/**
 * `predict_<model>`: a task-capable tool (MCP tasks, taskSupport optional). Called as a task it
 * answers at once with a task id; the job runs in the background and its result — ciphertexts
 * and the log receipt only — waits in the task store until fetched or expired. Called plainly,
 * the SDK runs the same task and answers when it ends, so plain callers see no difference.
 */
export function registerPredict(server: McpServer, service: DeepPowersService, tenant: string, model: ServedModel, log: (line: string) => void): void {
  const { limits } = service;
  server.experimental.tasks.registerToolTask(
    toolNameOf(model.name),
    {
      title: `Encrypted ${model.name}`,
      description:
        `Evaluate ${model.name} (${model.description.task ?? 'model'}, hash ${model.server.modelHash.slice(0, 12)}…) on CKKS ciphertexts. ` +
        'Input: the keys_id of your uploaded evaluation keys and a base64 ciphertext envelope; output: the base64 encrypted result ' +
        'and its transparency-log receipt. ' +
        `At most ${limits.maxCiphertextBytes} bytes of ciphertexts per call. Progress is reported per circuit evaluation. ` +
        'May be called as an MCP task (poll tasks/get, fetch with tasks/result).',
      inputSchema: {
        keys_id: keysIdSchema,
        ciphertexts: z.string().describe('base64 ciphertext envelope made by the DeepPowers client for this model'),
      },
      outputSchema: predictOutputSchema,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
      execution: { taskSupport: 'optional' },
    },
    {
      async createTask({ keys_id, ciphertexts }, extra) {
        const task = await extra.taskStore.createTask({ ttl: extra.taskRequestedTtl });
        const abort = new AbortController();
        extra.signal.addEventListener('abort', () => abort.abort(), { once: true });
        const progressToken = extra._meta?.progressToken;
        const notify = async (done: number, total: number): Promise<void> => {
          if ((await extra.taskStore.getTask(task.taskId))?.status === 'cancelled') abort.abort();
          await extra.taskStore.updateTaskStatus(task.taskId, 'working', `evaluation ${done} of ${total}`).catch(() => {});
          if (progressToken === undefined) return;
          const notification = {
            method: 'notifications/progress' as const,
            params: { progressToken, progress: done, total, message: `${model.name}: evaluation ${done} of ${total}` },
          };
          // While a plain call is open its own stream carries progress; a task's creating request has ended, so the
          // session's standalone stream does.
          await extra.sendNotification(notification).catch(() => server.server.notification(notification).catch(() => {}));
        };
        void guarded(() => predict(service, tenant, model, task.taskId, keys_id, ciphertexts, abort.signal, notify), log)
          .then((result) => extra.taskStore.storeTaskResult(task.taskId, result.isError ? 'failed' : 'completed', result))
          .catch(() => {
            // The task was cancelled or expired meanwhile: its result has nowhere to go.
          });
        return { task };
      },
      getTask: async (_args, { taskId, taskStore }) => {
        const task = await taskStore.getTask(taskId);
        if (!task) fail('BAD_ARGUMENT', `task ${taskId} not found`);
        return task;
      },
      getTaskResult: async (_args, { taskId, taskStore }) => (await taskStore.getTaskResult(taskId)) as CallToolResult,
    },
  );
}

async function predict(
  service: DeepPowersService,
  tenant: string,
  model: ServedModel,
  jobId: string,
  keysId: string,
  ciphertexts: string,
  signal: AbortSignal,
  notify: (done: number, total: number) => Promise<void>,
): Promise<CallToolResult> {
  const { limits, network } = service;
  const t0 = performance.now();
  if (!KEYS_ID.test(keysId)) return errorResult('keys_id is 64 lowercase hex digits (the SHA-256 of the evaluation-key bundle)');
  if (decodedLength(ciphertexts.length) > limits.maxCiphertextBytes + 2) {
    return errorResult(`ciphertexts too large: about ${decodedLength(ciphertexts.length)} bytes, this server accepts at most ${limits.maxCiphertextBytes} per call`);
  }
  if (!service.keys.has(tenant, keysId)) {
    return errorResult(`unknown keys_id ${keysId}: upload the evaluation keys first (PUT /keys/<keys_id> or the upload_keys tool)`);
  }
  const slot = service.tryAcquire(tenant);
  if ('busy' in slot) return errorResult(slot.busy);
  const { release } = slot;
  try {
    const request = decodeBase64(ciphertexts, 'ciphertexts');
    const t1 = performance.now();
    const outcome: JobOutcome = await network.runner.run({
      jobId: jobId || randomUUID(),
      tenant,
      model: { name: model.name, modelHash: model.server.modelHash, parameterId: model.server.parameters.parameterId },
      keysId,
      inputs: request,
      signal,
      onProgress: ({ done, total }) => notify(done, total),
    });
    const t2 = performance.now();
    network.latency.record(t2 - t0);
    if (outcome.status === 'disputed') {
      return errorResult(
        `result disputed, not released: ${outcome.reason} (compute node ${outcome.computeNode}; agreeing ${outcome.agreeing.join(', ') || 'none'}; ` +
          `disagreeing ${outcome.disagreeing.join(', ') || 'none'})`,
      );
    }
    const result = encodeBase64(outcome.result);
    const t3 = performance.now();
    const out = {
      model: model.name,
      keys_id: keysId,
      job_id: jobId,
      result,
      evaluations: outcome.evaluations,
      bytes_in: request.length,
      bytes_out: outcome.result.length,
      timings: { decode_ms: round(t1 - t0), evaluate_ms: round(t2 - t1), encode_ms: round(t3 - t2), total_ms: round(t3 - t0) },
      verification: { reviewers: outcome.quorum.reviewers, quorum: outcome.quorum.quorum, agreeing: [...outcome.quorum.agreeing] },
      log: {
        index: outcome.receipt.index,
        entry: outcome.receipt.entry,
        checkpoint: outcome.receipt.checkpoint,
        proof: [...outcome.receipt.proof],
        vkey: network.log.vkey,
      },
    };
    // The text mirror leaves out the ciphertext: an LLM reading it gains nothing from 100 kB of base64.
    const { result: _omitted, log: receipt, ...summary } = out;
    return structuredResult(out, JSON.stringify({ ...summary, log_entry: receipt.index, result: `<${outcome.result.length} bytes, base64 in structuredContent>` }));
  } finally {
    release();
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
