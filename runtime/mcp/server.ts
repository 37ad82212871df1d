import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { decodeBase64, decodedLength } from './base64';
import { KEYS_ID } from './key-storage';
import { registerPredict } from './predict-tool';
import { toolNameOf, type ModelDescription, type ServedModel } from './served-model';
import { SessionLog } from './session-log';
import type { DeepPowersService } from './service';
import { errorResult, guarded, structuredResult } from './tool-result';

export const SERVER_NAME = 'deeppowers';

const tensorSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().nullable()),
  dtype: z.string(),
  features: z.array(z.string()).optional(),
});

const modelSummarySchema = z.object({
  model: z.string(),
  tool: z.string(),
  description: z.string().optional(),
  model_hash: z.string(),
  task: z.string().optional(),
  inputs: z.array(tensorSchema),
  outputs: z.array(tensorSchema),
  layout: z.enum(['vector', 'batch']),
});

const descriptionSchema = modelSummarySchema.extend({
  samples_per_evaluation: z.number(),
  ckks: z.object({
    poly_modulus_degree: z.number(),
    coeff_modulus_bits: z.array(z.number()),
    parameter_id: z.string(),
    security_bits: z.literal(128),
  }),
  rotation_steps: z.array(z.number()),
  needs_relin_keys: z.boolean(),
  precision: z.string().optional(),
  client_view: z.record(z.string(), z.unknown()),
});

const keysIdSchema = z.string().describe('SHA-256 (64 hex digits) of the evaluation-key bundle, as uploaded');

export interface SessionOptions {
  /** Where internal errors are logged (stdout is the protocol channel on stdio). */
  readonly log?: (line: string) => void;
  /** Whether this session's tenant sees every tenant's dispute evidence in `status` (an auditor, or the only user); default: its own only. */
  readonly auditor?: boolean;
}

/**
 * One MCP session's server for one tenant. The tools are views onto the shared service; the
 * tenant decides which uploaded keys the session may use.
 */
export function createMcpServer(service: DeepPowersService, tenant: string, options: SessionOptions = {}): McpServer {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const server = new McpServer(
    { name: SERVER_NAME, version: '0.1.0' },
    {
      capabilities: {
        tools: { listChanged: false },
        // Log messages: job progress (debug), jobs started and done, key uploads (info), refusals (warning), internal errors (error).
        logging: {},
        resources: { listChanged: false },
        tasks: { requests: { tools: { call: {} } }, list: {}, cancel: {} },
      },
      // Tasks belong to the tenant, not the session, so they outlive it and a restart.
      taskStore: service.network.tasks.forTenant(tenant),
      instructions:
        'Encrypted inference: each predict_<model> tool evaluates CKKS ciphertexts made by `deeppowers client` with its own keys. ' +
        'The server never sees plaintext. LLM hosts should use `deeppowers client` (a local MCP server) rather than calling these tools directly. ' +
        "Each model's card (deeppowers://models/<model>/card: inputs, outputs, what runs where, the precision promise, what each side learns) and client view are resources.",
      // Ciphertexts are single strings; a flood of tiny JSON members is never a legitimate request.
      maxToolInputElements: 64,
    },
  );
  const summaries = [...service.models.values()].map((m) => summaryOf(m.description));
  const mcpLog = new SessionLog(server, SERVER_NAME);
  for (const model of service.models.values()) registerModelResources(server, model);

  server.registerTool(
    'list_models',
    {
      title: 'List models',
      description: 'The compiled models this server evaluates, with input and output names and shapes.',
      outputSchema: z.object({ models: z.array(modelSummarySchema) }),
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    async () => structuredResult({ models: summaries }),
  );

  server.registerTool(
    'describe_model',
    {
      title: 'Describe a model',
      description: "A model's client view: input/output names and shapes, layout, CKKS parameters, rotation steps, model hash.",
      inputSchema: z.object({ model: z.string().describe('model name, as in list_models') }),
      outputSchema: descriptionSchema,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    async ({ model }) =>
      guarded(async () => {
        const m = service.models.get(model);
        if (!m) return errorResult(unknownModel(service, model));
        return structuredResult({ ...m.description }, `${m.name}: ${JSON.stringify(summaryOf(m.description))}`);
      }, log),
  );

  server.registerTool(
    'has_keys',
    {
      title: 'Check evaluation keys',
      description: 'Whether evaluation keys with this id were uploaded by you (the same check as HEAD /keys/<keys_id>).',
      inputSchema: z.object({ keys_id: keysIdSchema }),
      outputSchema: z.object({ keys_id: z.string(), present: z.boolean(), bytes: z.number() }),
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    async ({ keys_id }) =>
      guarded(async () => {
        // "present: false" for a malformed id would read as "not uploaded yet".
        if (!KEYS_ID.test(keys_id)) return errorResult('keys_id is 64 lowercase hex digits (the SHA-256 of the evaluation-key bundle)');
        const bytes = service.keys.sizeOf(tenant, keys_id);
        return structuredResult({ keys_id, present: bytes !== undefined, bytes: bytes ?? 0 });
      }, log),
  );

  server.registerTool(
    'upload_keys',
    {
      title: 'Upload evaluation keys (chunked)',
      description:
        `Upload an evaluation-key bundle in order, chunk 0 … count−1, each at most ${service.limits.maxChunkBytes} bytes before base64. ` +
        'The bundle is stored under its SHA-256 (keys_id) once the last chunk arrives and the hash matches. Over HTTP, PUT /keys/<keys_id> is faster.',
      inputSchema: z.object({
        keys_id: keysIdSchema,
        index: z.number().int().nonnegative(),
        count: z.number().int().positive(),
        data: z.string().describe('this chunk, base64'),
      }),
      outputSchema: z.object({ keys_id: z.string(), received: z.number(), count: z.number(), complete: z.boolean(), bytes: z.number() }),
      annotations: { readOnlyHint: false, idempotentHint: false, openWorldHint: false },
    },
    async ({ keys_id, index, count, data }) =>
      guarded(async () => {
        if (!KEYS_ID.test(keys_id)) return errorResult('keys_id is 64 lowercase hex digits (the SHA-256 of the bundle)');
        if (decodedLength(data.length) > service.limits.maxChunkBytes + 2) {
          return errorResult(`chunk too large: at most ${service.limits.maxChunkBytes} bytes per chunk before base64`);
        }
        const chunk = decodeBase64(data, 'data');
        const done = service.keys.putChunk(tenant, keys_id, index, count, chunk);
        if (done.complete) await mcpLog.send('info', `evaluation keys ${keys_id.slice(0, 12)}… stored (${done.bytes} bytes)`);
        return structuredResult({ keys_id, received: done.received, count, complete: done.complete, bytes: done.bytes });
      }, log),
  );

  server.registerTool(
    'status',
    {
      title: 'Server status',
      description:
        'Where jobs run (embedded or a queue), the listed compute and review nodes (id, role, public key, last heartbeat, jobs done, failures, disputes, review timeouts), ' +
        'the latest disputes of your jobs with both sides\' signed attestations, ' +
        'queue depth, tasks by state, job latency percentiles and the transparency log size.',
      annotations: { readOnlyHint: true, idempotentHint: false, openWorldHint: false },
    },
    async () => guarded(async () => structuredResult({ ...(await service.network.status({ tenant, all: options.auditor ?? false })) }), log),
  );

  for (const model of service.models.values()) registerPredict(server, service, tenant, model, log, mcpLog);
  return server;
}

/** The URIs of a model's resources: its card and its client view. */
export function modelResourceUris(model: string): { card: string; clientView: string } {
  return { card: `deeppowers://models/${model}/card`, clientView: `deeppowers://models/${model}/client-view` };
}

/**
 * Each model's card and client view as MCP resources, so a host can show them (resources/list,
 * resources/read) without a tool call. Both are public: the card says what the model is and
 * what each side learns, the client view is what describe_model returns.
 */
function registerModelResources(server: McpServer, model: ServedModel): void {
  const uris = modelResourceUris(model.name);
  const json = (uri: URL, value: unknown) => ({ contents: [{ uri: uri.href, mimeType: 'application/json', text: `${JSON.stringify(value, null, 2)}\n` }] });
  server.registerResource(
    `${model.name}-card`,
    uris.card,
    {
      title: `${model.name}: model card`,
      description:
        `${model.description.description ?? model.name}. Inputs, outputs, what runs on the client and what on the server, ` +
        `the precision promised and what the client and the server learn (tool ${model.description.tool}).`,
      mimeType: 'application/json',
    },
    async (uri) => json(uri, model.card),
  );
  server.registerResource(
    `${model.name}-client-view`,
    uris.clientView,
    {
      title: `${model.name}: client view`,
      description: `What a client needs to make keys, encrypt rows and decode results for ${model.description.tool} (as describe_model returns it).`,
      mimeType: 'application/json',
    },
    async (uri) => json(uri, model.description),
  );
}

function summaryOf(d: ModelDescription) {
  const { model, tool, description, model_hash, task, inputs, outputs, layout } = d;
  return {
    model,
    tool,
    ...(description === undefined ? {} : { description }),
    model_hash,
    ...(task === undefined ? {} : { task }),
    inputs: [...inputs],
    outputs: [...outputs],
    layout,
  };
}

function unknownModel(service: DeepPowersService, name: string): string {
  return `unknown model "${name}"; this server has: ${[...service.models.keys()].join(', ')}`;
}

/** Used by the stdio and HTTP front ends to name a model in logs. */
export function describeModels(service: DeepPowersService): string {
  return [...service.models.values()].map((m) => `${toolNameOf(m.name)} (${m.server.modelHash.slice(0, 12)}…)`).join(', ');
}
