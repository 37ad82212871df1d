import { randomBytes } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import { fail } from '../../compiler/errors';
import type { JobOutcome } from '../network/job-runner';
import type { StepFacts } from '../network/release';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { decodeBase64, decodedLength, encodeBase64 } from './base64';
import { bodyCircuits } from '../../compiler/artifact/segments';
import { describeClientSteps } from '../../compiler/client-steps/table';
import type { Circuit } from '../../compiler/circuit/ir';
import { samplesPerEvaluation } from '../../compiler/circuit/packing';
import { KEYS_ID } from './key-storage';
import { readEnvelope } from '../wire/envelope';
import { toolNameOf, type ServedModel } from './served-model';
import { describeDishonestClient } from '../../compiler/client-steps/dishonest-client';
import type { DeepPowersService } from './service';
import type { SessionLog } from './session-log';
import { errorResult, guarded, structuredResult } from './tool-result';

const keysIdSchema = z.string().describe('SHA-256 (64 hex digits) of the evaluation-key bundle, as uploaded');
const chainIdSchema = z
  .string()
  .regex(/^[0-9a-f]{32,64}$/)
  .optional()
  .describe('a fresh random nonce (32 to 64 hex digits) the client picks per prediction and names in every call of it; the log entry of each segment records it');

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
 * A model whose body has client steps answers each call with either the final `result` or a
 * `client_step`: the segment's result masked by the server, which the client decrypts, encrypts
 * again for the next segment and sends back with the step id.
 */
export const segmentedOutputSchema = predictOutputSchema.extend({
  result: predictOutputSchema.shape.result.optional(),
  segment: z.number().describe('the segment this call evaluated (1-based)'),
  segments: z.number().describe('segments in the body'),
  client_step: z
    .object({
      step_id: z.string().describe('name it in the next call, with the fresh ciphertexts'),
      masked: z.string().describe('base64 result envelope of this segment, every slot masked by the server: decrypt, encrypt again for the next segment'),
    })
    .optional()
    .describe('present until the last segment: the client step before the next segment'),
});

/**
 * `predict_<model>`: a task-capable tool (MCP tasks, taskSupport optional). Called as a task it
 * answers at once with a task id; the job runs in the background and its result — ciphertexts
 * and the log receipt only — waits in the task store until fetched or expired. Called plainly,
 * the SDK runs the same task and answers when it ends, so plain callers see no difference.
 */
export function registerPredict(
  server: McpServer,
  service: DeepPowersService,
  tenant: string,
  model: ServedModel,
  log: (line: string) => void,
  mcpLog: SessionLog,
): void {
  const { limits } = service;
  const segments = bodyCircuits(model.server).length;
  const stepped = segments > 1;
  server.experimental.tasks.registerToolTask(
    toolNameOf(model.name),
    {
      title: `Encrypted ${model.name}`,
      description:
        (model.description.description === undefined ? '' : `${model.description.description}. `) +
        `Evaluate ${model.name} (${model.description.task ?? 'model'}, hash ${model.server.modelHash.slice(0, 12)}…) on CKKS ciphertexts. ` +
        'Input: the keys_id of your uploaded evaluation keys and a base64 ciphertext envelope; output: the base64 encrypted result ' +
        'and its transparency-log receipt. ' +
        `At most ${limits.maxCiphertextBytes} bytes of ciphertexts per call. Progress is reported per circuit evaluation. ` +
        (stepped
          ? `The body runs as ${segments} segments with a client step between each two: until the last, the answer is a client_step (a masked result and a step_id); ` +
            'decrypt it, encrypt the values again for the next segment and call this tool with the same keys_id, the fresh ciphertexts and the step_id. ' +
            `What the client sees: ${describeClientSteps(model.server.refresh!)}. ` +
            `Model owner, note: ${describeDishonestClient(model.server.refresh!)}. `
          : '') +
        'May be called as an MCP task (poll tasks/get, fetch with tasks/result).',
      inputSchema: {
        keys_id: keysIdSchema,
        ciphertexts: z.string().describe('base64 ciphertext envelope made by the DeepPowers client for this model'),
        chain_id: chainIdSchema,
        ...(stepped ? { step_id: z.string().optional().describe('continue after a client step: the step_id of the previous answer (ciphertexts are then the fresh encryptions of its masked values)') } : {}),
      },
      outputSchema: stepped ? segmentedOutputSchema : predictOutputSchema,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
      execution: { taskSupport: 'optional' },
    },
    {
      async createTask(args, extra) {
        const { keys_id, ciphertexts } = args;
        const stepId = (args as { step_id?: string }).step_id;
        const chainId = (args as { chain_id?: string }).chain_id;
        const task = await extra.taskStore.createTask({ ttl: extra.taskRequestedTtl });
        const abort = new AbortController();
        extra.signal.addEventListener('abort', () => abort.abort(), { once: true });
        const progressToken = extra._meta?.progressToken;
        const tool = toolNameOf(model.name);
        // Progress must increase: the accepted-job notice is 0 (no total yet), evaluations count from there.
        let lastProgress = -1;
        const progress = async (done: number, total: number | undefined, message: string): Promise<void> => {
          if (progressToken === undefined || done <= lastProgress) return;
          lastProgress = done;
          const notification = {
            method: 'notifications/progress' as const,
            params: { progressToken, progress: done, ...(total === undefined ? {} : { total }), message: `${model.name}: ${message}` },
          };
          // While a plain call is open its own stream carries progress; a task's creating request has ended, so the
          // session's standalone stream does.
          await extra.sendNotification(notification).catch(() => server.server.notification(notification).catch(() => {}));
        };
        const notify = async (done: number, total: number, what?: string): Promise<void> => {
          if ((await extra.taskStore.getTask(task.taskId))?.status === 'cancelled') abort.abort();
          const status = `${what ? `${what}: ` : ''}evaluation ${done} of ${total}`;
          await extra.taskStore.updateTaskStatus(task.taskId, 'working', status).catch(() => {});
          await mcpLog.send('debug', `${tool} job ${task.taskId}: ${status}`, extra.sendNotification);
          await progress(done, total, status);
        };
        // At once, before the keys are read and the first evaluation runs (on a deep model that takes longer than a
        // client's default 60 s request timeout): a client that resets its timeout on progress waits on.
        await progress(0, undefined, 'accepted; loading the evaluation keys and running the first evaluation');
        await mcpLog.send('info', `${tool} job ${task.taskId} started${stepId === undefined ? '' : ' (after a client step)'}`, extra.sendNotification);
        void guarded(() => predict(service, tenant, model, keys_id, ciphertexts, stepId, chainId, abort.signal, notify), log)
          .then(async (result) => {
            const text = result.content?.[0]?.type === 'text' ? result.content[0].text : '';
            if (result.isError) await mcpLog.send('warning', `${tool} job ${task.taskId} refused or failed: ${text}`, extra.sendNotification);
            else await mcpLog.send('info', `${tool} job ${task.taskId} done: ${text.slice(0, 400)}`, extra.sendNotification);
            return result;
          })
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
  keysId: string,
  ciphertexts: string,
  stepId: string | undefined,
  chainId: string | undefined,
  signal: AbortSignal,
  /** `what` names the segment of a model with client steps. */
  notify: (done: number, total: number, what?: string) => Promise<void>,
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
    const owner = { tenant, model: model.name, keysId };
    const circuits = bodyCircuits(model.server);
    const segments = circuits.length;
    let segment = 0;
    let inputs = request;
    let step: StepFacts | undefined;
    // A malformed envelope is refused before a step is used up or a budget charged, so the client may send it again.
    const envelope = readEnvelope(request, { kind: 'ciphertexts', modelHash: model.server.modelHash, parameterId: model.server.parameters.parameterId });
    if (stepId !== undefined) {
      if (segments === 1) return errorResult(`${model.name} has no client steps: call it without step_id`);
      // Only this tenant, for this model, with these keys may answer the step (it keeps waiting until answered).
      const pending = service.fhe.pendingStep(stepId, owner);
      if (pending.chainId !== chainId) return errorResult(`client step ${stepId.slice(0, 12)}… belongs to another prediction (another chain_id); start the prediction again`);
      segment = pending.segment + 1;
      if (pending.maskedSha256 !== undefined) step = { masked_sha256: pending.maskedSha256, returned_sha256: sha256Hex(request) };
    }
    const refused = service.budget.charge(tenant, model.name, segment === 0 ? 'query' : 'client-step', requestRows(circuits[segment]!, envelope.parts.length));
    if (refused !== undefined) return errorResult(refused);
    if (stepId !== undefined) inputs = (await service.fhe.unmaskStep(stepId, request, owner)).bytes;
    const t1 = performance.now();
    // A job id of its own, never the MCP task id: the log is read by other tenants, and a task id is this tenant's handle on its result.
    const jobId = randomBytes(16).toString('hex');
    const outcome: JobOutcome = await network.runner.run({
      jobId,
      tenant,
      model: { name: model.name, modelHash: model.server.modelHash, parameterId: model.server.parameters.parameterId },
      keysId,
      inputs,
      ...(segment > 0 ? { segment } : {}),
      ...(chainId !== undefined ? { chainId } : {}),
      ...(step ? { step } : {}),
      signal,
      onProgress: ({ done, total }) => notify(done, total, segments > 1 ? `segment ${segment + 1} of ${segments}` : undefined),
    });
    const t2 = performance.now();
    network.latency.record(t2 - t0);
    if (outcome.status === 'disputed') {
      return errorResult(
        `result disputed, not released: ${outcome.reason} (compute node ${outcome.computeNode}; agreeing ${outcome.agreeing.join(', ') || 'none'}; ` +
          `disagreeing ${outcome.disagreeing.join(', ') || 'none'})`,
      );
    }
    // Before the last segment the client gets the result masked, never as it is.
    const masked = segment < segments - 1 ? await service.fhe.maskStep(model.server.modelHash, outcome.result, segment, owner, chainId) : null;
    const answer = masked ? { client_step: { step_id: masked.stepId, masked: encodeBase64(masked.bytes) } } : { result: encodeBase64(outcome.result) };
    const bytesOut = masked ? masked.bytes.length : outcome.result.length;
    const t3 = performance.now();
    const out = {
      model: model.name,
      keys_id: keysId,
      job_id: jobId,
      ...answer,
      ...(segments > 1 ? { segment: segment + 1, segments } : {}),
      evaluations: outcome.evaluations,
      bytes_in: request.length,
      bytes_out: bytesOut,
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
    const { log: receipt, ...rest } = out;
    const summary = Object.fromEntries(Object.entries(rest).filter(([k]) => k !== 'result' && k !== 'client_step'));
    const omitted = masked
      ? { client_step: { step_id: masked.stepId, masked: `<${bytesOut} bytes, base64 in structuredContent>` } }
      : { result: `<${bytesOut} bytes, base64 in structuredContent>` };
    return structuredResult(out, JSON.stringify({ ...summary, log_entry: receipt.index, ...omitted }));
  } finally {
    release();
  }
}

/** Rows a request could hold: its evaluations (rounded up) × the samples each packs, as the query budget counts them. */
function requestRows(circuit: Circuit, ciphertexts: number): number {
  return Math.ceil(ciphertexts / Math.max(1, circuit.inputs.length)) * samplesPerEvaluation(circuit);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
