import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { fail } from '../../compiler/errors';
import type { FheBackend } from '../backends/backend';
import type { Keystore } from '../client/keystore';
import { DEFAULT_OUT_OF_RANGE, OUT_OF_RANGE_POLICIES, type OutOfRangePolicy } from '../data/input-range';
import { MAX_ROWS_PER_CALL, PrivateModel } from './private-model';
import { RemoteServer, type RemoteOptions } from './remote';
import { StagedProgress, type OnStage } from './staged-progress';
import type { TrustPolicy } from '../network/verify-result';
import { guarded, structuredResult } from './tool-result';

export interface PrivateClientOptions {
  /** What encrypts and decrypts (SEAL for real use). */
  readonly backend: FheBackend;
  readonly remote: RemoteOptions;
  readonly keystore: Keystore;
  readonly log?: (line: string) => void;
  /** What private_predict does with a row outside a model's calibrated input range when the call does not say (default clamp). */
  readonly outOfRange?: OutOfRangePolicy;
  /** What the client requires beyond the server's own claims (`--min-quorum`). */
  readonly trust?: TrustPolicy;
}

const rowSchema = z.union([z.array(z.unknown()), z.record(z.string(), z.unknown())]);

/**
 * `deeppowers client`: the MCP server an LLM host starts locally. Its tools take and return
 * plaintext; behind them it holds the secret keys (in the encrypted keystore), encrypts, calls
 * the remote `deeppowers serve` as an MCP client, decrypts and runs the epilogue. The host never
 * sees a ciphertext or a key, the remote server never sees a row or a result.
 */
export function createPrivateClientServer(options: PrivateClientOptions): { server: McpServer; close(): Promise<void> } {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let remote: Promise<RemoteServer> | undefined;
  /** Set by close(): the host has gone, and calls still running lose their connection to the server. */
  let closing = false;
  /** Open models with the SEAL generation their keys and contexts were made under. */
  const models = new Map<string, { readonly model: Promise<PrivateModel>; readonly generation: number }>();

  // Connect on first use, so a host can start us before the server is up; a failed attempt is retried next call.
  const connected = (): Promise<RemoteServer> => {
    remote ??= RemoteServer.connect(options.remote).catch((e: unknown) => {
      remote = undefined;
      throw e;
    });
    return remote;
  };
  const privateModel = (name: string, onStage?: OnStage): Promise<PrivateModel> => {
    const open = models.get(name);
    // Models made by an engine that has since failed fatally are dropped whole (their objects live
    // on its possibly corrupt heap; freeing them there could fail again) and reopened.
    if (open && !options.backend.engineStale(open.generation)) return open.model;
    const generation = options.backend.engineGeneration();
    const m = connected().then((r) => PrivateModel.open(options.backend, r, options.keystore, name, log, options.trust, onStage));
    m.catch(() => models.delete(name));
    models.set(name, { model: m, generation });
    return m;
  };
  /** After a fatal engine failure (a WebAssembly trap in SEAL): a fresh engine for the next call, and a clean error for this one. */
  const recoverFromTrap = (e: unknown): never => {
    if (!options.backend.noteFailure(e)) throw e;
    return fail('IO', `the encryption library (${options.backend.name}) failed on this call (${(e as Error).message ?? String(e)}); it was restarted, so later calls work`);
  };

  const server = new McpServer(
    { name: 'deeppowers-client', version: '0.1.0' },
    {
      capabilities: { tools: { listChanged: false } },
      instructions:
        'Private predictions with models hosted on a DeepPowers server. Call list_models to see the models and their input features, ' +
        'then private_predict with rows of feature values. Rows are encrypted on this machine; the server computes on ciphertexts and never sees them.',
    },
  );

  server.registerTool(
    'list_models',
    {
      title: 'List private models',
      description: 'The models on the DeepPowers server, with their input features (names and shape), outputs and task.',
      outputSchema: z.object({
        server: z.string(),
        models: z.array(
          z.object({
            model: z.string(),
            description: z.string().optional().describe("the server operator's words for the model"),
            task: z.string().optional(),
            input: z.object({ name: z.string(), shape: z.array(z.number().nullable()), dtype: z.string(), features: z.array(z.string()).optional() }),
            outputs: z.array(z.object({ name: z.string(), shape: z.array(z.number().nullable()), dtype: z.string() })),
          }),
        ),
      }),
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: true },
    },
    async () =>
      guarded(async () => {
        const list = await (await connected()).listModels();
        const out = {
          server: options.remote.url,
          models: list.map((m) => ({
            model: m.model,
            ...(m.description === undefined ? {} : { description: m.description }),
            ...(m.task === undefined ? {} : { task: m.task }),
            input: strip(m.inputs[0]!),
            outputs: m.outputs.map(({ name, shape, dtype }) => ({ name, shape: [...shape], dtype })),
          })),
        };
        return structuredResult(out);
      }, log),
  );

  server.registerTool(
    'private_predict',
    {
      title: 'Predict privately',
      description:
        `Run a model on rows of features without revealing them: each row is a list of numbers in the model's feature order ` +
        `(or nested in its input shape, or an object {feature: value} when the model names its features), at most ${MAX_ROWS_PER_CALL} rows. ` +
        'Returns the outputs keyed by output name, one entry per row (labels, probabilities or values). ' +
        'A row with a value outside the range the model was calibrated on is clamped into it by default (out_of_range: "refuse" answers it with a reason instead, ' +
        '"allow" runs it as given); every such row is listed in out_of_range with the values moved.',
      inputSchema: z.object({
        model: z.string().describe('model name from list_models'),
        rows: z.array(rowSchema).min(1).describe('feature rows'),
        out_of_range: z
          .enum(OUT_OF_RANGE_POLICIES)
          .optional()
          .describe(`a row with a value outside the calibrated input range: clamp (run it with the value moved to the range's edge), refuse (null outputs and a reason for that row), allow (run as given; may be wrong). Default: ${options.outOfRange ?? DEFAULT_OUT_OF_RANGE}`),
      }),
      outputSchema: z.object({
        model: z.string(),
        rows: z.number(),
        verification: z.string().describe('what the transparency log and the nodes\' attestations vouch for, e.g. "verified: 2 of 2 reviewers, log entry 7"'),
        outputs: z.record(z.string(), z.array(z.unknown())),
        out_of_range: z
          .array(
            z.object({
              row: z.number().describe('1-based'),
              action: z.enum(['clamped', 'refused', 'allowed']),
              reason: z.string(),
              values: z.array(
                z.object({
                  column: z.number(),
                  feature: z.string(),
                  value: z.number(),
                  ran_with: z.number().nullable(),
                  allowed: z.array(z.number()),
                  calibrated: z.array(z.number()),
                }),
              ),
            }),
          )
          .describe('every row with a value outside the calibrated input range, and what was done with it (a refused row\'s outputs are null)'),
        evaluations: z.number(),
        timings: z.object({ encrypt_ms: z.number(), server_ms: z.number(), decrypt_ms: z.number(), total_ms: z.number() }),
        client_steps: z
          .object({ count: z.number(), ms: z.number(), bytes: z.number() })
          .optional()
          .describe('a model with client steps: round trips made (the server masked each intermediate result; this client decrypted it and encrypted it again), their time here and bytes'),
      }),
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: true },
    },
    async ({ model, rows, out_of_range }, extra) =>
      guarded(async () => {
        const progressToken = extra._meta?.progressToken;
        // Steps before the first evaluation (keys on first use: a minute at N = 32768) are announced as they start.
        const progress = new StagedProgress(async (progress, total, message) => {
          if (progressToken === undefined) return;
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress, ...(total === undefined ? {} : { total }), message: `${model}: ${message}` },
          });
        });
        const result = await (async () => {
          try {
            const m = await privateModel(model, progress.stage).catch(recoverFromTrap);
            return await m.predict(rows, {
              signal: extra.signal,
              outOfRange: out_of_range ?? options.outOfRange ?? DEFAULT_OUT_OF_RANGE,
              onStage: progress.stage,
              // The server's 0-of-n at the start of each request repeats the previous count; StagedProgress drops it.
              onProgress: ({ done, total }) => progress.evaluations(done, total, `${done} of ${total} encrypted evaluations`),
            }).catch(recoverFromTrap);
          } catch (e) {
            // Not a fault: the host ended the session (a time limit, a user who quit) and close() cut the
            // server connection under this call. One line, no stack; its answer has nobody to go to.
            if (!closing) throw e;
            log(`private_predict ${model}: abandoned, the host ended the session before it finished`);
            return fail('IO', `private_predict ${model} was abandoned: the host ended the session before it finished`);
          } finally {
            progress.stop();
          }
        })();
        const out = {
          model,
          rows: rows.length,
          verification: result.verification,
          outputs: result.outputs,
          out_of_range: result.outOfRange.map((r) => ({ ...r, values: r.values.map((v) => ({ ...v, allowed: [...v.allowed], calibrated: [...v.calibrated] })) })),
          evaluations: result.evaluations,
          timings: result.timings,
          ...(result.client_steps ? { client_steps: result.client_steps } : {}),
        };
        return structuredResult(out);
      }, log),
  );

  return {
    server,
    close: async () => {
      closing = true;
      for (const { model: m, generation } of models.values()) {
        if (generation === options.backend.engineGeneration()) await m.then((x) => x.dispose()).catch(() => {});
      }
      models.clear();
      const r = remote;
      remote = undefined;
      await r?.then((x) => x.close()).catch(() => {});
    },
  };
}

function strip(t: { name: string; shape: readonly (number | null)[]; dtype: string; features?: readonly string[] }) {
  return { name: t.name, shape: [...t.shape], dtype: t.dtype, ...(t.features ? { features: [...t.features] } : {}) };
}
