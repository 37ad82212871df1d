import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import type { JsonSchemaType, JsonSchemaValidator, jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { DeepPowersError, fail } from '../../compiler/errors';
import type { ReleaseReceipt } from '../network/verify-result';
import { decodeBase64, encodeBase64 } from './base64';
import { toolNameOf, type ModelDescription } from '../service/served-model';
import { callToolAsTask } from './tool-task';

/** A model as `list_models` lists it: the head of its description. */
export type RemoteModelSummary = Pick<ModelDescription, 'model' | 'tool' | 'description' | 'model_hash' | 'task' | 'inputs' | 'outputs' | 'layout'>;

export interface RemoteOptions {
  /** The MCP endpoint, e.g. http://127.0.0.1:8750/mcp. */
  readonly url: string;
  readonly token?: string;
  /** Per-call limit while no progress arrives (default 10 minutes). */
  readonly idleTimeoutMs?: number;
  /** How tool results are checked against their schemas (default: the SDK's Ajv, which compiles code; a page whose policy forbids eval passes another). */
  readonly jsonSchemaValidator?: jsonSchemaValidator;
}

export interface PredictCall {
  readonly onProgress?: (done: number, total: number | undefined) => void;
  readonly signal?: AbortSignal;
  /** The prediction's nonce, named in every call of it (`chain_id`); the log entries must record it. */
  readonly chainId?: string;
}

/** The server does not know this keys_id (never uploaded under this token, or its data dir was wiped). */
/** What one call of a segmented model's tool returned: the result, or a client step before the next segment. */
export interface SegmentAnswer {
  /** The segment evaluated (0-based) and how many the body has. */
  readonly segment: number;
  readonly segments: number;
  readonly receipt: ReleaseReceipt;
  readonly result?: Uint8Array;
  readonly step?: { readonly stepId: string; readonly masked: Uint8Array };
}

interface ToolInfo {
  /** Set when the tool may be called as an MCP task. */
  readonly taskSupport?: 'optional' | 'required';
  readonly validate?: JsonSchemaValidator<unknown>;
}

/** Errors of a request written to a connection the server had already closed. */
const STALE_SOCKET = new Set(['EPIPE', 'ECONNRESET', 'UND_ERR_SOCKET']);

export class UnknownKeysError extends DeepPowersError {
  constructor(message: string) {
    super('BAD_ARGUMENT', message);
  }
}

/**
 * The local side's connection to a remote `deeppowers serve`: an MCP client over Streamable
 * HTTP for the tools, plain HTTP for /keys. `predict_<model>` is called as an MCP task where the
 * server offers tasks (tool-task.ts), plainly otherwise; both give the same results and errors.
 * Transport failures become one-line DeepPowersErrors that say what to fix (address, token), and
 * a session the server forgot (it restarted) is re-opened once, transparently.
 */
export class RemoteServer {
  private client: Client | undefined;
  /** The server's tools as the last tools/list gave them: which run as tasks, and their output schemas. */
  private tools = new Map<string, ToolInfo>();

  private constructor(readonly options: RemoteOptions) {}

  static async connect(options: RemoteOptions): Promise<RemoteServer> {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      return fail('BAD_ARGUMENT', `--server must be a URL like http://127.0.0.1:8750/mcp, got "${options.url}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('BAD_ARGUMENT', `--server must be an http(s) URL, got "${options.url}"`);
    const remote = new RemoteServer({ ...options, url: url.href });
    await remote.session();
    return remote;
  }

  async listModels(): Promise<RemoteModelSummary[]> {
    const r = await this.callTool('list_models', {});
    return (r.structuredContent as { models: RemoteModelSummary[] }).models;
  }

  async describe(model: string): Promise<ModelDescription> {
    return (await this.callTool('describe_model', { model })).structuredContent as unknown as ModelDescription;
  }

  /** Whether this token's tenant has uploaded `keysId` (HEAD /keys/<id>). */
  async hasKeys(keysId: string): Promise<boolean> {
    const res = await this.keysRequest(keysId, { method: 'HEAD' });
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    return this.httpFailure(res, `checking keys ${keysId.slice(0, 12)}…`);
  }

  /** PUT /keys/<id>: created or already there are both fine. */
  async uploadKeys(keysId: string, bytes: Uint8Array): Promise<void> {
    const res = await this.keysRequest(keysId, {
      method: 'PUT',
      // A Blob: a body both Node's fetch and a page's take, and one a browser's devtools protocol
      // does not copy inline into its request events (a 100 MB bundle would not fit one message).
      body: new Blob([bytes as Uint8Array<ArrayBuffer>]),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    if (res.status === 200 || res.status === 201) return;
    return this.httpFailure(res, `uploading evaluation keys (${bytes.length} bytes)`);
  }

  /** Call `predict_<model>`; returns the result envelope. */
  async predict(model: string, keysId: string, ciphertexts: Uint8Array, call: PredictCall = {}): Promise<Uint8Array> {
    return (await this.predictWithReceipt(model, keysId, ciphertexts, call)).result;
  }

  /** Call `predict_<model>`; returns the result envelope and the transparency-log receipt the server gave for it. */
  async predictWithReceipt(model: string, keysId: string, ciphertexts: Uint8Array, call: PredictCall = {}): Promise<{ result: Uint8Array; receipt: ReleaseReceipt }> {
    const r = await this.callTool(toolNameOf(model), { keys_id: keysId, ciphertexts: encodeBase64(ciphertexts), ...chainArg(call) }, call);
    const out = r.structuredContent as { result?: unknown; log?: ReleaseReceipt } | undefined;
    if (typeof out?.result !== 'string') fail('BAD_CIPHERTEXT', `the server's answer from ${toolNameOf(model)} has no result`);
    if (!out.log || typeof out.log.checkpoint !== 'string') fail('BAD_CIPHERTEXT', `the server's answer from ${toolNameOf(model)} has no log receipt`);
    return { result: decodeBase64(out.result, 'the result'), receipt: out.log };
  }

  /**
   * One call of `predict_<model>` for a body with client steps: the first (no `stepId`) or one
   * after a client step. The answer is the final result or the next client step, with the
   * receipt of the segment just evaluated.
   */
  async predictSegment(model: string, keysId: string, ciphertexts: Uint8Array, stepId: string | undefined, call: PredictCall = {}): Promise<SegmentAnswer> {
    const args = { keys_id: keysId, ciphertexts: encodeBase64(ciphertexts), ...(stepId !== undefined ? { step_id: stepId } : {}), ...chainArg(call) };
    const r = await this.callTool(toolNameOf(model), args, call);
    const out = r.structuredContent as { result?: unknown; client_step?: { step_id?: unknown; masked?: unknown }; segment?: unknown; segments?: unknown; log?: ReleaseReceipt } | undefined;
    const tool = toolNameOf(model);
    if (!out?.log || typeof out.log.checkpoint !== 'string') fail('BAD_CIPHERTEXT', `the server's answer from ${tool} has no log receipt`);
    if (typeof out.segment !== 'number' || typeof out.segments !== 'number') fail('BAD_CIPHERTEXT', `the server's answer from ${tool} does not say which segment it evaluated`);
    const where = { segment: out.segment - 1, segments: out.segments, receipt: out.log };
    if (typeof out.result === 'string') return { ...where, result: decodeBase64(out.result, 'the result') };
    const step = out.client_step;
    if (typeof step?.step_id !== 'string' || typeof step.masked !== 'string') fail('BAD_CIPHERTEXT', `the server's answer from ${tool} has neither a result nor a client step`);
    return { ...where, step: { stepId: step.step_id, masked: decodeBase64(step.masked, 'the masked result') } };
  }

  /**
   * The log's RFC 9162 consistency proof between tree sizes `first` and `second`
   * (GET /log/consistency), for checking a newer checkpoint against one kept earlier.
   */
  async consistencyProof(first: number, second: number): Promise<Buffer[]> {
    const url = new URL(`/log/consistency?first=${first}&second=${second}`, this.options.url);
    let res: Response;
    try {
      res = await fetch(url, { headers: this.authHeaders() });
    } catch (e) {
      throw this.explain(e);
    }
    if (!res.ok) return this.httpFailure(res, `proving the log consistent from size ${first} to ${second}`);
    const body = (await res.json().catch(() => ({}))) as { proof?: unknown };
    if (!Array.isArray(body.proof) || !body.proof.every((p) => typeof p === 'string')) fail('BAD_CIPHERTEXT', `the server's consistency proof from size ${first} to ${second} is malformed`);
    return (body.proof as string[]).map((p) => Buffer.from(p, 'base64'));
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.close().catch(() => {});
  }

  private async callTool(name: string, args: Record<string, unknown>, call: PredictCall = {}): Promise<CallToolResult> {
    const client = await this.session();
    const tool = this.tools.get(name);
    const idleTimeoutMs = this.options.idleTimeoutMs ?? 10 * 60_000;
    // A tool the server runs as a task (predict_<model>) is called as one where the server says it takes task-augmented
    // calls; anything else, or a server without tasks, gets the plain call.
    const asTask = tool?.taskSupport !== undefined && client.getServerCapabilities()?.tasks?.requests?.tools?.call !== undefined;
    let r: CallToolResult;
    if (asTask) {
      const send = <T>(request: (c: Client) => Promise<T>): Promise<T> => this.send(request);
      r = await callToolAsTask(name, args, { send, idleTimeoutMs, ...(call.onProgress ? { onProgress: call.onProgress } : {}), ...(call.signal ? { signal: call.signal } : {}) });
      if (!r.isError) this.checkOutput(name, r);
    } else {
      try {
        r = await this.send(
          (c) =>
            c.callTool({ name, arguments: args }, CallToolResultSchema, {
              // Without onprogress the SDK sends no progress token, and without one the server sends no progress.
              onprogress: (p) => call.onProgress?.(p.progress, p.total),
              resetTimeoutOnProgress: true,
              timeout: idleTimeoutMs,
              signal: call.signal,
            }) as Promise<CallToolResult>,
        );
      } catch (e) {
        if (call.signal?.aborted) fail('BAD_ARGUMENT', `${name} was cancelled`);
        throw e;
      }
    }
    if (r.isError) {
      const reason = textOf(r);
      if (/^unknown keys_id/.test(reason)) throw new UnknownKeysError(reason);
      fail('BAD_ARGUMENT', `the server refused ${name}: ${reason}`);
    }
    return r;
  }

  /**
   * One request on the session, re-opened once if the server forgot it (it restarted), and sent
   * once more if it went out on a kept-alive connection the server had just closed (as for /keys:
   * the requests sent here are reads, task polls and idempotent tool calls); failures explained
   * in one line.
   */
  private async send<T>(request: (client: Client) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.session();
      try {
        return await request(client);
      } catch (e) {
        if (attempt === 0 && isSessionGone(e)) {
          await this.close();
          continue;
        }
        if (attempt === 0 && STALE_SOCKET.has(causeCode(e) ?? '')) continue;
        throw this.explain(e);
      }
    }
  }

  /** A result read with tasks/result, checked against the tool's output schema as the SDK checks a plain call's. */
  private checkOutput(name: string, r: CallToolResult): void {
    const validate = this.tools.get(name)?.validate;
    if (!validate) return;
    if (r.structuredContent === undefined) fail('BAD_CIPHERTEXT', `the server's answer from ${name} has no structured content`);
    const checked = validate(r.structuredContent);
    if (!checked.valid) fail('BAD_CIPHERTEXT', `the server's answer from ${name} does not match the tool's output schema: ${checked.errorMessage}`);
  }

  private async session(): Promise<Client> {
    if (this.client) return this.client;
    const transport = new StreamableHTTPClientTransport(new URL(this.options.url), { requestInit: { headers: this.authHeaders() } });
    const client = new Client(
      { name: 'deeppowers-client', version: '0.1.0' },
      this.options.jsonSchemaValidator ? { jsonSchemaValidator: this.options.jsonSchemaValidator } : {},
    );
    try {
      await client.connect(transport);
      // Primes the SDK's output-schema validation of every plain tool result; this client's copy checks task results.
      const { tools } = await client.listTools();
      const validator = this.options.jsonSchemaValidator ?? new AjvJsonSchemaValidator();
      this.tools = new Map(
        tools.map((t) => {
          const support = t.execution?.taskSupport;
          return [
            t.name,
            {
              ...(support === 'optional' || support === 'required' ? { taskSupport: support } : {}),
              ...(t.outputSchema ? { validate: validator.getValidator(t.outputSchema as JsonSchemaType) } : {}),
            },
          ];
        }),
      );
    } catch (e) {
      await client.close().catch(() => {});
      throw this.explain(e);
    }
    this.client = client;
    return client;
  }

  private authHeaders(): Record<string, string> {
    return this.options.token ? { Authorization: `Bearer ${this.options.token}` } : {};
  }

  private async keysRequest(keysId: string, init: RequestInit): Promise<Response> {
    const url = new URL(`keys/${keysId}`, this.options.url);
    for (let attempt = 0; ; attempt++) {
      try {
        return await fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), ...this.authHeaders() } });
      } catch (e) {
        // A kept-alive connection the server closed while idle (after its keep-alive timeout,
        // e.g. while the client generated keys) fails the write; both requests here are
        // idempotent (HEAD, or PUT of bytes named by their hash), so one retry on a fresh one.
        if (attempt === 0 && STALE_SOCKET.has(causeCode(e) ?? '')) continue;
        throw this.explain(e);
      }
    }
  }

  private async httpFailure(res: Response, doing: string): Promise<never> {
    if (res.status === 401) throw this.explain(new StreamableHTTPError(401, 'Unauthorized'));
    let reason = res.statusText;
    try {
      const body = (await res.json()) as { error?: string };
      if (body.error) reason = body.error;
    } catch {
      // keep the status text
    }
    return fail('IO', `the server failed ${doing}: HTTP ${res.status} ${reason}`);
  }

  /** One line saying what went wrong with the remote server and what to do about it. */
  private explain(e: unknown): Error {
    if (e instanceof DeepPowersError) return e;
    const url = this.options.url;
    if (e instanceof StreamableHTTPError && (e.code === 401 || e.code === 403)) {
      return new DeepPowersError(
        'IO',
        this.options.token
          ? `the server at ${url} refused the token (HTTP ${e.code}); check --token / --token-file`
          : `the server at ${url} requires a token (HTTP ${e.code}); pass --token or --token-file`,
      );
    }
    if (e instanceof StreamableHTTPError) return new DeepPowersError('IO', `the server at ${url} answered HTTP ${e.code}: ${e.message.replace(/^Streamable HTTP error: /, '')}`);
    const code = causeCode(e);
    if (code === 'ECONNREFUSED') return new DeepPowersError('IO', `cannot reach the DeepPowers server at ${url}: connection refused (is \`deeppowers serve\` running there?)`);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new DeepPowersError('IO', `cannot reach the DeepPowers server at ${url}: unknown host`);
    if (code) return new DeepPowersError('IO', `cannot reach the DeepPowers server at ${url}: ${code}`);
    const err = e instanceof Error ? e : new Error(String(e));
    if (err.message === 'fetch failed') {
      return new DeepPowersError('IO', `cannot reach the DeepPowers server at ${url}: ${(err.cause as Error | undefined)?.message ?? 'fetch failed'}`);
    }
    if (/Request timed out/.test(err.message)) return new DeepPowersError('IO', `the server at ${url} sent nothing for too long; the request timed out`);
    return err;
  }
}

function chainArg(call: PredictCall): { chain_id?: string } {
  return call.chainId !== undefined ? { chain_id: call.chainId } : {};
}

function textOf(r: CallToolResult): string {
  return r.content
    .map((c) => (c.type === 'text' ? c.text : ''))
    .join(' ')
    .trim();
}

function isSessionGone(e: unknown): boolean {
  return e instanceof StreamableHTTPError && e.code === 404;
}

function causeCode(e: unknown): string | undefined {
  for (let x: unknown = e, depth = 0; x && depth < 5; x = (x as { cause?: unknown }).cause, depth++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
