import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { simulationBackend } from '../../runtime/backends/simulation-backend';
import { Keystore } from '../../runtime/client/keystore';
import { createPrivateClientServer } from '../../runtime/mcp/client';
import { startHttpServer, type RunningHttpServer } from '../../runtime/mcp/http';
import { DeepPowersService } from '../../runtime/mcp/service';
import { TokenTable } from '../../runtime/mcp/tokens';
import { servedModelOf } from '../../runtime/service/load-served-model';
import { compiledFixture } from '../helpers/compiled-fixture';
import { loadFixture } from '../helpers/fixtures';
import { toolErrorText } from '../helpers/mcp-session';

/**
 * An MCP host that gives up on a slow `private_predict` (its time limit; the MCP Inspector CLI's
 * is 60 s) ends the session, and `deeppowers client` closes its connection to the server under
 * the running call. That is not a fault of the client: the call ends with one line saying it was
 * abandoned, and nothing is logged with a stack. A proxy in front of the server holds the
 * prediction's request, so the call is still running when the session ends.
 */

const FIXTURE = loadFixture('sk_logreg_iris_multinomial');
const TOKEN = 'alice-0123456789abcdef0123456789';
const backend = simulationBackend();

let work: string;
let service: DeepPowersService;
let http: RunningHttpServer;
let proxy: Server;
let proxyUrl: string;
let held: () => void;
const predictionHeld = new Promise<void>((resolve) => (held = resolve));

/** Forwards every request to the server but the prediction's, which it never answers. */
function forward(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (body.includes('"predict_iris"')) {
      held();
      return;
    }
    const upstream = new URL(http.url);
    const out = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    out.end(body);
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-host-gone-'));
  const model = compiledFixture(FIXTURE, { layout: 'vector' });
  service = await DeepPowersService.create(backend, [servedModelOf(model, 'iris')], join(work, 'data'));
  http = await startHttpServer(service, { host: '127.0.0.1', port: 0, auth: TokenTable.parse(`alice:${TOKEN}`), log: () => {} });
  proxy = createServer(forward);
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/mcp`;
}, 120_000);

afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((resolve) => proxy?.close(resolve));
  await http?.close();
  service?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe('the host ends the session during a private_predict call', () => {
  test('the call ends in one line saying it was abandoned; no stack is logged', async () => {
    const lines: string[] = [];
    const keystore = Keystore.open(join(work, 'keystore'), 'test passphrase, not a real one');
    const { server, close } = createPrivateClientServer({ backend, remote: { url: proxyUrl, token: TOKEN }, keystore, log: (l) => lines.push(l) });
    const host = new Client({ name: 'host', version: '0' });
    const [ct, st] = InMemoryTransport.createLinkedPair();
    await Promise.all([server.connect(st), host.connect(ct)]);
    try {
      const call = host.callTool({ name: 'private_predict', arguments: { model: 'iris', rows: FIXTURE.data.test_inputs.slice(0, 1) } });
      await predictionHeld;
      await close();
      const text = toolErrorText((await call) as CallToolResult);
      expect(text).toBe('private_predict iris was abandoned: the host ended the session before it finished');
      expect(lines).toContain('private_predict iris: abandoned, the host ended the session before it finished');
      expect(lines.filter((l) => /\n\s+at /.test(l) || l.startsWith('internal error'))).toEqual([]);
    } finally {
      await host.close();
    }
  }, 60_000);
});
