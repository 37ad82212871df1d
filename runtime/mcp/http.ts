import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { fail } from '../../compiler/errors';
import { handleLogRoute } from '../network/log-http';
import { BytesInFlight } from './bytes-in-flight';
import { SYSTEM_CLOCK, type Clock } from '../service/clock';
import { KEYS_ID } from '../service/key-storage';
import { readJsonBody } from './read-json-body';
import { createMcpServer } from './server';
import { LOCAL_TENANT, type DeepPowersService } from './service';
import type { UiFiles } from './static-ui';
import { bearerToken, type TokenTable } from './tokens';

export interface HttpOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Bearer tokens, or 'insecure-no-auth' (loopback hosts only) for a single local user. */
  readonly auth: TokenTable | 'insecure-no-auth';
  readonly log?: (line: string) => void;
  /** Sessions idle this long are closed (default 5 minutes). */
  readonly sessionIdleMs?: number;
  /** Open MCP sessions at most (default 256). */
  readonly maxSessions?: number;
  /** Tenants that read every log entry and every dispute in /status (auditors); others see their own only. */
  readonly logAuditors?: ReadonlySet<string>;
  /** Open MCP sessions per tenant (default 16); a tenant's least recently used session is closed to open one more. */
  readonly maxSessionsPerTenant?: number;
  /** Open TCP connections at most (default 1024); more are refused by the socket layer. */
  readonly maxConnections?: number;
  /** A request body that sends nothing for this long is cut off (default BODY_IDLE_MS). */
  readonly bodyIdleMs?: number;
  /** Serve the browser page (serve --ui) at / from these files; no token is needed for them. */
  readonly ui?: UiFiles;
  /** The time the idle limits read (sessions, request bodies); default the wall clock. */
  readonly clock?: Clock;
}

/**
 * A request body must keep arriving: at most BODY_IDLE_MS without a byte, and all of it within
 * BODY_BASE_MS plus one millisecond per BODY_BYTES_PER_MS bytes declared (or received, without
 * Content-Length). A slow or stalled upload costs the server a socket and a temporary file, so it
 * is cut off instead of being held for as long as the client likes.
 */
const BODY_IDLE_MS = 15_000;
const BODY_BASE_MS = 15_000;
const BODY_BYTES_PER_MS = 1024;

export interface RunningHttpServer {
  readonly url: string;
  readonly port: number;
  readonly http: Server;
  close(): Promise<void>;
}

interface Session {
  readonly transport: StreamableHTTPServerTransport;
  readonly server: McpServer;
  readonly tenant: string;
  lastSeen: number;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * `deeppowers serve --http`: the MCP endpoint at /mcp (Streamable HTTP, one session per
 * client, bound to the tenant whose token opened it) and the evaluation-key store at
 * /keys/<sha256> (PUT to upload, HEAD or GET to check). Every route needs a bearer token unless
 * the server runs with --insecure-no-auth on a loopback address.
 */
export async function startHttpServer(service: DeepPowersService, options: HttpOptions): Promise<RunningHttpServer> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (options.auth === 'insecure-no-auth' && !isLoopbackHost(options.host)) {
    fail('BAD_ARGUMENT', `--insecure-no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost), not ${options.host}`);
  }
  const loopbackOnly = isLoopbackHost(options.host);
  const seesAll = (tenant: string) => options.auth === 'insecure-no-auth' || (options.logAuditors?.has(tenant) ?? false);
  const clock = options.clock ?? SYSTEM_CLOCK;
  const idleMs = options.sessionIdleMs ?? 5 * 60_000;
  const maxSessions = options.maxSessions ?? 256;
  const maxSessionsPerTenant = Math.min(options.maxSessionsPerTenant ?? 16, maxSessions);
  const sessions = new Map<string, Session>();

  const closeSession = (id: string): void => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    void s.transport.close().catch(() => {});
    void s.server.close().catch(() => {});
  };

  const tenantOf = (req: IncomingMessage): string | undefined => {
    if (options.auth === 'insecure-no-auth') return LOCAL_TENANT;
    const token = bearerToken(req.headers.authorization);
    return token === undefined ? undefined : options.auth.verify(token)?.name;
  };

  const inFlight = new BytesInFlight(service.limits);

  /**
   * The JSON body of an MCP POST, read here rather than by the transport so that it is refused at
   * the first bad byte, the declared size or the tenant's byte budget; a refusal is answered here.
   * The bytes stay charged to the tenant until the answer is out.
   */
  const readBody = async (req: IncomingMessage, res: ServerResponse, tenant: string): Promise<{ ok: true; value: unknown } | { ok: false }> => {
    let charged = 0;
    res.once('close', () => inFlight.remove(tenant, charged));
    const body = await readJsonBody(req, service.limits.maxMessageBytes, (bytes) => {
      const busy = inFlight.tryAdd(tenant, bytes);
      if (busy === undefined) charged += bytes;
      return busy;
    });
    if (body.ok) return body;
    jsonRpcError(res, body.status, body.code, body.message);
    return { ok: false };
  };

  const handleMcp = async (req: IncomingMessage, res: ServerResponse, tenant: string): Promise<void> => {
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const session = sessions.get(sid);
      // Another tenant's session id is answered exactly like an unknown one.
      if (!session || session.tenant !== tenant) return jsonRpcError(res, 404, -32001, 'Session not found; initialize a new session');
      session.lastSeen = clock.now();
      if (req.method !== 'POST') return session.transport.handleRequest(req, res);
      const body = await readBody(req, res, tenant);
      if (body.ok) return session.transport.handleRequest(req, res, body.value);
      return;
    }
    if (req.method !== 'POST') return jsonRpcError(res, 400, -32000, 'Bad Request: no session id; start with an initialize POST');
    sweep();
    // A tenant at its own cap gives up its least recently used session: it can only crowd itself out.
    const mine = [...sessions].filter(([, s]) => s.tenant === tenant).sort((a, b) => a[1].lastSeen - b[1].lastSeen);
    while (mine.length >= maxSessionsPerTenant) closeSession(mine.shift()![0]);
    if (sessions.size >= maxSessions) return jsonRpcError(res, 503, -32000, `server busy: ${maxSessions} sessions are open`);
    const body = await readBody(req, res, tenant);
    if (!body.ok) return;
    const server = createMcpServer(service, tenant, { log, auditor: seesAll(tenant) });
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      maxRequestBodySize: service.limits.maxMessageBytes,
      onsessioninitialized: (id) => void sessions.set(id, { transport, server, tenant, lastSeen: clock.now() }),
      onsessionclosed: (id) => closeSession(id),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body.value);
    // Anything but a successful initialize leaves no session: drop the pair now.
    if (transport.sessionId === undefined) {
      await transport.close();
      await server.close();
    }
  };

  const handleKeys = async (req: IncomingMessage, res: ServerResponse, tenant: string, keysId: string): Promise<void> => {
    if (!KEYS_ID.test(keysId)) return json(res, 400, { error: 'a keys id is 64 lowercase hex digits (the SHA-256 of the bundle)' });
    if (req.method === 'HEAD' || req.method === 'GET') {
      const bytes = service.keys.sizeOf(tenant, keysId);
      if (bytes === undefined) return json(res, 404, { error: `unknown keys_id ${keysId}` }, req.method === 'HEAD');
      return json(res, 200, { keys_id: keysId, bytes }, req.method === 'HEAD');
    }
    if (req.method !== 'PUT') {
      res.setHeader('Allow', 'PUT, GET, HEAD');
      return json(res, 405, { error: `${req.method} is not allowed on /keys/<keys_id>` });
    }
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    const outcome = await service.keys.put(tenant, keysId, req, Number.isFinite(declared) ? declared : undefined);
    if (!outcome.ok) {
      // The rest of an oversized body is not worth reading: answer and drop the connection.
      if (!req.complete) res.setHeader('Connection', 'close');
      json(res, outcome.status, { error: outcome.reason });
      if (!req.complete) res.once('finish', () => req.destroy());
      return;
    }
    log(`keys ${keysId.slice(0, 12)}… ${outcome.created ? 'stored' : 'already present'} for tenant ${tenant} (${outcome.bytes} bytes)`);
    json(res, outcome.created ? 201 : 200, { keys_id: keysId, bytes: outcome.bytes, created: outcome.created });
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    // A browser page on another site can reach a loopback server by DNS rebinding; its Host header gives it away.
    if (loopbackOnly && !isLoopbackHost(hostName(req.headers.host))) return json(res, 403, { error: 'Host header is not a loopback name' });
    if (options.ui?.serve(url.pathname, req.method, res)) return;
    const isMcp = url.pathname === '/mcp';
    const keys = /^\/keys\/([^/]+)$/.exec(url.pathname);
    const isLog = url.pathname === '/log' || url.pathname.startsWith('/log/');
    const isStatus = url.pathname === '/status';
    if (!isMcp && !keys && !isLog && !isStatus) {
      return json(res, 404, { error: 'not found; the MCP endpoint is /mcp, evaluation keys go to /keys/<sha256>, the log is at /log, status at /status' });
    }
    const tenant = tenantOf(req);
    if (tenant === undefined) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="deeppowers"');
      return json(res, 401, { error: req.headers.authorization ? 'invalid bearer token' : 'a bearer token is required (Authorization: Bearer <token>)' });
    }
    if (isMcp) return handleMcp(req, res, tenant);
    if (isLog || isStatus) {
      if (req.method !== 'GET') return json(res, 405, { error: `${req.method} is not allowed on ${url.pathname}` });
      const viewer = { tenant, all: seesAll(tenant) };
      if (isLog) return handleLogRoute(service.network.log, url.pathname, url.searchParams, res, viewer);
      return json(res, 200, { ...(await service.network.status(viewer)) });
    }
    return handleKeys(req, res, tenant, keys![1]!);
  };

  const sweep = (): void => {
    const now = clock.now();
    for (const [id, s] of sessions) if (now - s.lastSeen > idleMs) closeSession(id);
  };

  // Node's requestTimeout would bound every body by one fixed time; guardBody scales it with the size.
  const http = createServer({ requestTimeout: 0, headersTimeout: 10_000 }, (req, res) => {
    guardBody(req, res, options.bodyIdleMs ?? BODY_IDLE_MS, clock);
    route(req, res).catch((e: unknown) => {
      log(`internal error serving ${req.method} ${req.url}: ${(e as Error).stack ?? String(e)}`);
      if (!res.headersSent) json(res, 500, { error: `internal error: ${(e as Error).message.split('\n')[0]}` });
      else res.end();
    });
  });
  http.maxConnections = options.maxConnections ?? 1024;
  const stopSweeper = clock.every(Math.min(idleMs, 60_000), sweep);

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => {
      http.off('error', reject);
      resolve();
    });
  }).catch((e: unknown) => {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') fail('IO', `port ${options.port} on ${options.host} is taken: another program is listening there; choose another port (--http ${options.host}:0 picks a free one)`);
    if (code === 'EACCES') fail('IO', `port ${options.port} on ${options.host} needs privileges this process lacks; choose a port above 1023`);
    if (code === 'EADDRNOTAVAIL') fail('IO', `${options.host} is not an address of this machine`);
    throw e;
  });
  const port = (http.address() as AddressInfo).port;
  const hostInUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${hostInUrl}:${port}/mcp`,
    port,
    http,
    close: async () => {
      stopSweeper();
      for (const id of [...sessions.keys()]) closeSession(id);
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

function hostName(host: string | undefined): string {
  if (!host) return '';
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (bracketed) return bracketed[1]!;
  return host.replace(/:\d+$/, '');
}

/**
 * Answers with a JSON body. A request whose body was not read (refused before it: no token, bad
 * route, too large) gets `Connection: close` and its socket is dropped once the answer is out,
 * so the rest of the body is never read or buffered.
 */
function json(res: ServerResponse, status: number, body: Record<string, unknown>, headOnly = false): void {
  const text = `${JSON.stringify(body)}\n`;
  const unread = !res.req.complete && hasBody(res.req);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...(unread ? { Connection: 'close' } : {}) });
  if (unread) res.once('finish', () => res.req.destroy());
  res.end(headOnly ? undefined : text);
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
}

/** Cuts off a request body that stalls or arrives slower than its size allows (see BODY_IDLE_MS). */
function guardBody(req: IncomingMessage, res: ServerResponse, idleMs: number, clock: Clock): void {
  if (!hasBody(req)) return;
  const declared = Number(req.headers['content-length']);
  const started = clock.now();
  const socket = req.socket;
  const base = socket.bytesRead;
  let seen = base;
  let lastProgress = started;
  const stop = clock.every(Math.min(1000, idleMs), () => {
    if (req.complete || socket.destroyed) return stop();
    const now = clock.now();
    const got = socket.bytesRead;
    if (got !== seen) {
      seen = got;
      lastProgress = now;
    }
    const budget = BODY_BASE_MS + (Number.isFinite(declared) ? declared : got - base) / BODY_BYTES_PER_MS;
    if (now - lastProgress > idleMs || now - started > budget) {
      stop();
      if (!res.headersSent) res.writeHead(408, { Connection: 'close' }).end();
      req.destroy();
    }
  });
  res.once('close', stop);
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  json(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}
